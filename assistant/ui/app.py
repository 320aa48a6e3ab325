"""The Gradio app: a chat with cited, streamed answers, and a Corpus tab (documents, status, upload).

Import through :mod:`assistant.ui`, which turns Gradio's analytics off before Gradio is imported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.answer import registry
from assistant.config import Settings
from assistant.types import Answer, AssistantError
from assistant.ui import render
from assistant.ui.assets import LOAD_JS
from assistant.ui.storage import UPLOAD_SUFFIXES, UploadRefused, record_feedback, store_upload

if TYPE_CHECKING:
    from assistant.api import Assistant

log = logging.getLogger(__name__)

STREAM_EVERY_S = 0.05
COLUMN_WIDTHS = {5: ["38%", "24%", "10%", "7%", "21%"], 6: ["34%", "20%", "9%", "6%", "18%", "13%"]}
INTERNAL_ERROR = "an internal error stopped this answer ({kind}); the details are in the server log"


# ---------------------------------------------------------------------------------------- helpers


def _none_if_blank(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _doc_choices(documents: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Dropdown choices ``(label, doc_id)``; the label is the title and date."""
    out = []
    for d in documents:
        label = d.get("title") or d["doc_id"]
        if d.get("date"):
            label += f" ({d['date']})"
        out.append((label, d["doc_id"]))
    return out


def example_questions(documents: list[dict[str, Any]], limit: int = 4) -> list[str]:
    """Generic questions built from the titles of the most recent documents with short titles."""
    dated = sorted(documents, key=lambda d: str(d.get("date") or ""), reverse=True)
    titles = [d["title"] for d in dated if d.get("title") and len(d["title"]) <= 90]
    return [f"What is “{t}” about?" for t in titles[:limit]]


def plain_history(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The conversation so far as ``[{"role", "content"}]`` with plain-text answers (errors left out)."""
    history: list[dict[str, str]] = []
    for t in turns:
        answer: Answer | None = t.get("answer")
        if answer is None:
            continue
        history.append({"role": "user", "content": answer.question or t["question"]})
        history.append({"role": "assistant", "content": answer.text})
    return history


def _filters(
    doc_ids: list[str] | None, date_from: str, date_to: str, backend: str, top_k: float
) -> dict[str, Any]:
    """The filter panel's values as one dict (kept with each turn, passed to ``_stream_answer``)."""
    return {
        "doc_ids": doc_ids or [],
        "date_from": date_from,
        "date_to": date_to,
        "backend": backend,
        "top_k": top_k,
    }


def _stream_answer(
    assistant: Assistant, question: Any, history: list[dict[str, str]], filters: dict[str, Any]
) -> Iterator[str | Answer]:
    """``assistant.stream`` with the UI's filters; blank filter values mean "no filter"."""
    yield from assistant.stream(
        question,
        history=history or None,
        k=int(filters["top_k"]) if filters.get("top_k") else None,
        doc_ids=list(filters["doc_ids"]) if filters.get("doc_ids") else None,
        backend=filters.get("backend") or None,
        date_from=_none_if_blank(filters.get("date_from")),
        date_to=_none_if_blank(filters.get("date_to")),
    )


# ---------------------------------------------------------------------------------------- the app


def build_app(assistant: Assistant, settings: Settings | None = None) -> gr.Blocks:
    """The analysts' UI for ``assistant``; launch it with :func:`assistant.ui.serve` or ``.launch()``."""
    settings = settings or assistant.settings
    documents = assistant.documents()
    examples = example_questions(documents)
    top_k_max = max(20, settings.top_k)

    # ------------------------------------------------------------------ chat

    def respond(
        question: str,
        conv: dict[str, Any] | None,
        doc_ids: list[str] | None,
        date_from: str,
        date_to: str,
        backend: str,
        top_k: float,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer into the chat; the sources panel is filled when it is final."""
        conv = conv or {"turns": []}
        turns: list[dict[str, Any]] = conv["turns"]
        filters = _filters(doc_ids, date_from, date_to, backend, top_k)
        turn: dict[str, Any] = {
            "question": question if isinstance(question, str) else "",
            "partial": "",
            "answer": None,
            "error": None,
            "history": plain_history(turns),
            "filters": filters,
        }
        turns.append(turn)
        yield render.chat_messages(turns), gr.skip(), "", conv
        last = 0.0  # the first delta shows at once, later ones at most every STREAM_EVERY_S
        try:
            for item in _stream_answer(assistant, question, turn["history"], filters):
                if isinstance(item, Answer):
                    turn["answer"] = item
                    continue
                turn["partial"] += item
                if time.monotonic() - last >= STREAM_EVERY_S:
                    last = time.monotonic()
                    yield render.chat_messages(turns), gr.skip(), gr.skip(), conv
        except AssistantError as exc:
            turn["error"] = str(exc)
        except Exception as exc:  # never a traceback in the page: log it, show the kind
            log.exception("answering %r failed", turn["question"][:200])
            turn["error"] = INTERNAL_ERROR.format(kind=type(exc).__name__)
        if turn["answer"] is None and turn["error"] is None:
            turn["error"] = "the answer stopped before it was complete; ask again"
        yield render.chat_messages(turns), render.sources_html(turns), gr.skip(), conv

    def new_conversation() -> tuple[Any, ...]:
        return [], render.sources_html([]), "", {"turns": []}, ""

    def on_like(conv: dict[str, Any] | None, comment: str, data: gr.LikeData) -> Any:
        """Append a thumbs up/down on an answer to the feedback file; clears the comment box."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turns = (conv or {}).get("turns", [])
        turn = turns[index // 2] if isinstance(index, int) and 0 <= index // 2 < len(turns) else None
        answer: Answer | None = turn.get("answer") if turn else None
        if answer is None:
            gr.Warning("Only answers can be rated.")
            return gr.skip()
        if data.liked is True:
            verdict = "up"
        elif data.liked is False:
            verdict = "down"
        else:  # an un-like, or a custom feedback option
            verdict = str(data.liked or "cleared")
        record = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "verdict": verdict,
            "question": answer.question or turn["question"],
            "answer": answer.text,
            "refused": answer.refused,
            "citations": [c.to_dict() for c in answer.citations],
            "comment": (comment or "").strip() or None,
            "history": turn["history"],
            "filters": turn["filters"],
            "backend": answer.backend,
            "standalone_question": answer.standalone_question,
        }
        try:
            record_feedback(settings.feedback_dir, record)
        except OSError as exc:
            log.exception("writing feedback failed")
            gr.Warning(f"Feedback could not be saved: {exc.strerror or exc}")
            return gr.skip()
        gr.Info("Thank you: feedback recorded.")
        return ""

    def on_example(evt: gr.SelectData) -> str:
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value)

    # ------------------------------------------------------------------ API

    def ask(
        question: str,
        history: list[dict[str, str]] | None = None,
        doc_ids: list[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        backend: str = "",
        top_k: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Answer a question from the documents, streaming.

        Yields ``{"answer": text so far, "done": False, ...}`` while the answer streams, then
        ``{"answer": str with [n] markers, "done": True, "status": "answered"|"partial"|"refused",
        "refused": bool, "not_stated": [str], "citations": [{"n", "title", "publisher", "date", "page",
        "url", "doc_id", "quote", "passage", ...}], "closest_documents": [titles],
        "standalone_question": str, "backend": str, "warnings": [str], "grounding": dict | None}``;
        the streamed text of a generative answer is a draft, replaced by the checked final answer.
        ``history`` is the earlier turns as ``[{"role": "user"|"assistant", "content": str}]``;
        ``doc_ids`` restricts to those documents; ``date_from``/``date_to`` are YYYY[-MM[-DD]]; empty
        values mean no filter or the default.
        Bad input raises an error with a clear message.
        """
        filters = _filters(doc_ids, date_from, date_to, backend, top_k)
        partial = ""
        try:
            for item in _stream_answer(assistant, question, list(history or []), filters):
                if isinstance(item, Answer):
                    yield _api_result(item)
                    return
                partial += item
                yield {"answer": partial, "done": False, "refused": False, "citations": []}
        except AssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:
            log.exception("API answer failed")
            raise gr.Error(INTERNAL_ERROR.format(kind=type(exc).__name__), print_exception=False) from None

    # ------------------------------------------------------------------ corpus

    def corpus_view() -> tuple[Any, ...]:
        """The documents table, the index status and the document filter's choices, fresh."""
        docs = assistant.documents()
        headers, rows = render.documents_rows(docs)
        return (
            gr.update(value=rows, headers=headers),
            render.status_html(docs, assistant.index_dir, settings.corpus_dir),
            gr.update(choices=_doc_choices(docs)),
        )

    def upload(
        files: list[str] | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[Any, ...]:
        """Store the uploaded files in the corpus folder, ingest, and report what happened."""
        files = files or []
        if not isinstance(files, list):
            files = [files]
        if not files:
            return (render.upload_report_html([], [], None), *corpus_view(), None)
        progress(0, desc="Checking files")
        stored, refused = [], []
        for f in files:
            path = Path(getattr(f, "name", f))
            try:
                stored.append(store_upload(path, settings.corpus_dir, settings.upload_max_mb))
            except UploadRefused as exc:
                refused.append(str(exc))
            except OSError as exc:
                refused.append(f"{path.name}: could not be stored ({exc.strerror or exc})")
        report = None
        if stored:
            progress(0.1, desc="Ingesting")
            with _ingest_lock:
                try:
                    report = assistant.ingest(settings.corpus_dir, progress=True)
                except AssistantError as exc:
                    refused.append(f"ingestion failed: {exc}")
            if report is not None:
                refused.extend(_drop_unreadable(stored, report))
        progress(1.0, desc="Done")
        return (render.upload_report_html(stored, refused, report), *corpus_view(), None)

    # ------------------------------------------------------------------ layout

    placeholder = (
        f"### Ask the {len(documents)} documents\n"
        "Every sentence of an answer cites its source: click a **[n]** marker to see the passage."
        if documents
        else "### The index is empty\nAdd documents in the **Corpus** tab first."
    )
    with gr.Blocks(title="Corpus assistant", fill_width=True) as app:
        conv = gr.State({"turns": []})
        gr.HTML(
            '<div class="app-title">Corpus assistant <span>answers from the curated documents, '
            "with a citation behind every claim</span></div>",
            padding=False,
        )
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=420):
                    chatbot = gr.Chatbot(
                        elem_id="chat",
                        label="Conversation",
                        height="62vh",
                        latex_delimiters=[],
                        placeholder=placeholder,
                        examples=[{"text": q} for q in examples] or None,
                        buttons=["copy", "copy_all"],
                        layout="bubble",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            elem_id="question",
                            show_label=False,
                            scale=8,
                            lines=1,
                            max_lines=6,
                            placeholder="Ask a question about the documents (Enter to send)",
                        )
                        ask_btn = gr.Button(
                            "Ask", variant="primary", scale=1, elem_id="ask-btn", min_width=80
                        )
                    with gr.Row():
                        new_btn = gr.Button(
                            "New conversation", elem_id="new-conversation", scale=1, min_width=160, size="sm"
                        )
                        comment = gr.Textbox(
                            elem_id="feedback-comment",
                            show_label=False,
                            scale=4,
                            lines=1,
                            placeholder="Optional comment, sent with your thumbs up or down on an answer",
                        )
                    with gr.Accordion("Filters", open=False, elem_id="filters"):
                        doc_filter = gr.Dropdown(
                            choices=_doc_choices(documents),
                            multiselect=True,
                            value=[],
                            label="Only these documents",
                            elem_id="doc-filter",
                        )
                        with gr.Row():
                            date_from = gr.Textbox(
                                label="Dated from", placeholder="YYYY[-MM[-DD]]", elem_id="date-from"
                            )
                            date_to = gr.Textbox(
                                label="Dated to", placeholder="YYYY[-MM[-DD]]", elem_id="date-to"
                            )
                    with gr.Accordion("Settings", open=False, elem_id="settings"):
                        backend = gr.Dropdown(
                            registry.names(),
                            value=settings.backend,
                            label="Answer backend",
                            elem_id="backend",
                        )
                        top_k = gr.Slider(
                            1,
                            top_k_max,
                            value=settings.top_k,
                            step=1,
                            label="Passages retrieved (top-k)",
                            elem_id="top-k",
                        )
                with gr.Column(scale=2, min_width=320):
                    sources = gr.HTML(render.sources_html([]), elem_id="sources", padding=False)
            with gr.Tab("Corpus", id="corpus"):
                docs0 = render.documents_rows(documents)
                status = gr.HTML(
                    render.status_html(documents, assistant.index_dir, settings.corpus_dir),
                    elem_id="index-status",
                )
                table = gr.Dataframe(
                    value=docs0[1],
                    headers=docs0[0],
                    interactive=False,
                    wrap=True,
                    elem_id="documents",
                    label="Documents",
                    datatype="str",
                    column_widths=COLUMN_WIDTHS.get(len(docs0[0])),
                    max_height=640,
                    show_search="search",
                )
                refresh_btn = gr.Button("Refresh", size="sm", elem_id="refresh-corpus")
                gr.Markdown(
                    f"**Add documents** ({', '.join(UPLOAD_SUFFIXES)}, up to {settings.upload_max_mb:g} MB "
                    "each). "
                    "They are stored in the corpus folder and ingested; existing documents are not replaced."
                )
                files = gr.File(
                    file_count="multiple", file_types=list(UPLOAD_SUFFIXES), label="Upload", elem_id="upload"
                )
                upload_btn = gr.Button("Add to corpus and ingest", variant="primary", elem_id="upload-btn")
                upload_report = gr.HTML(elem_id="upload-report")

        chat_inputs = [question, conv, doc_filter, date_from, date_to, backend, top_k]
        chat_outputs = [chatbot, sources, question, conv]
        gr.on(
            [question.submit, ask_btn.click],
            respond,
            chat_inputs,
            chat_outputs,
            api_visibility="private",
            show_progress="hidden",
        )
        chatbot.example_select(on_example, None, question, api_visibility="private").then(
            respond, chat_inputs, chat_outputs, api_visibility="private", show_progress="hidden"
        )
        new_btn.click(
            new_conversation, None, [chatbot, sources, question, conv, comment], api_visibility="private"
        )
        chatbot.clear(
            new_conversation, None, [chatbot, sources, question, conv, comment], api_visibility="private"
        )
        chatbot.like(on_like, [conv, comment], comment, api_visibility="private")
        refresh_btn.click(corpus_view, None, [table, status, doc_filter], api_visibility="private")
        upload_btn.click(
            upload,
            files,
            [upload_report, table, status, doc_filter, files],
            api_visibility="private",
            concurrency_limit=1,
        )
        gr.api(ask, api_name="ask")
        app.load(None, js=LOAD_JS)
    return app


_ingest_lock = threading.Lock()


def _api_result(answer: Answer) -> dict[str, Any]:
    """The final value of the ``/ask`` endpoint."""
    return {
        "answer": answer.text,
        "done": True,
        "status": answer.status,
        "refused": answer.refused,
        "not_stated": list(answer.not_stated),
        "citations": [c.to_dict() for c in answer.citations],
        "closest_documents": list(dict.fromkeys(h.title for h in answer.hits)) if answer.refused else [],
        "standalone_question": answer.standalone_question,
        "backend": answer.backend,
        "warnings": list(answer.warnings),
        "grounding": answer.grounding,
    }


def _drop_unreadable(stored: list[Any], report: Any) -> list[str]:
    """Remove newly stored files that failed to ingest (so they do not fail every later ingest)."""
    failed = {Path(f.path).name: f.reason for f in report.failed}
    messages = []
    for s in list(stored):
        if s.new and s.path.name in failed:
            s.path.unlink(missing_ok=True)
            stored.remove(s)
            messages.append(f"{s.original}: could not be read ({failed[s.path.name]}); it was not added")
    return messages


# ---------------------------------------------------------------------------------------- serve


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``Blocks.launch`` for ``settings``: host, port, auth, upload limit."""
    options: dict[str, Any] = {
        "server_name": settings.ui_host,
        "server_port": settings.ui_port,
        "max_file_size": f"{settings.upload_max_mb:g}mb",
        "show_error": False,
        "footer_links": ["api"],
    }
    if settings.ui_auth is not None:
        user, _, password = settings.ui_auth.get_secret_value().partition(":")
        options["auth"] = (user, password)
    return options


def serve(settings: Settings | None = None) -> None:
    """Open the index in ``settings`` and serve the UI until interrupted."""
    from assistant.api import Assistant

    settings = settings or Settings()
    assistant = Assistant.open(index_dir=settings.index_dir, settings=settings)
    threading.Thread(target=_warm_up, args=(assistant,), daemon=True, name="ui-warm-up").start()
    app = build_app(assistant, settings)
    app.queue(default_concurrency_limit=settings.ui_concurrency)
    app.launch(**launch_options(settings))


def _warm_up(assistant: Assistant) -> None:
    """Load the embedding model and index before the first question arrives."""
    try:
        assistant.retrieve("critical minerals supply", k=1)
    except Exception:  # an empty index or a missing model shows up on the first question instead
        log.debug("warm-up failed", exc_info=True)
