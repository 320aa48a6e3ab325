"""HTML for the chat and the sources panel.

Every piece of document or user text goes through :func:`esc` (``html.escape``) before it is
placed in the page, so a document containing markup or script is shown as literal text.
Chat messages are single ``<div>`` blocks without blank lines: the Chatbot's markdown renderer
then treats them as raw HTML (sanitised by Gradio) and does not reinterpret document text as
markdown or LaTeX.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from assistant.types import Answer, Citation, Hit

MARKER = re.compile(r"\[(\d{1,3})\]")
QUESTION_SHOWN_CHARS = 2000
REFUSAL_LEAD = " The closest documents are:"


def esc(value: Any) -> str:
    """``value`` as HTML text (``None`` is empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def _lines(text: str) -> str:
    """Escaped text with line breaks as ``<br>`` (no raw newlines: keeps the HTML block whole)."""
    return esc(text).replace("\r\n", "\n").replace("\n", "<br>")


def _safe_url(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return None
    return url.strip()


def source_id(n: int, turn: int | None = None) -> str:
    """Element id of source ``n``: ``src-n`` for the latest answer, ``src-t<turn>-n`` for earlier ones."""
    return f"src-{n}" if turn is None else f"src-t{turn}-{n}"


def linkify(text: str, citations: Iterable[Citation], turn: int | None = None) -> str:
    """Escaped ``text`` whose ``[n]`` markers are anchors ``<a href="#src-n" class="cite">[n]</a>``."""
    titles = {c.n: c.title for c in citations}
    out: list[str] = []
    pos = 0
    for m in MARKER.finditer(text):
        n = int(m.group(1))
        if n not in titles:
            continue
        out.append(_lines(text[pos : m.start()]))
        out.append(f'<a href="#{source_id(n, turn)}" class="cite" title="{esc(titles[n])}">[{n}]</a>')
        pos = m.end()
    out.append(_lines(text[pos:]))
    return "".join(out)


def question_html(question: str) -> str:
    """The user's message as shown in the chat (very long input is shortened for display)."""
    if not question or not question.strip():
        return '<div class="question empty"><em>(empty question)</em></div>'
    shown = question
    if len(question) > QUESTION_SHOWN_CHARS:
        shown = question[:QUESTION_SHOWN_CHARS] + f"… ({len(question):,} characters)"
    return f'<div class="question">{_lines(shown)}</div>'


def streaming_html(partial: str) -> str:
    """An answer being streamed: plain escaped text, a cursor, and a caption saying it is a draft
    (a generative answer is checked against the documents and replaced when it is complete)."""
    if not partial:
        return '<div class="answer streaming"><span class="pending">Searching the documents…</span></div>'
    return (
        f'<div class="answer streaming">{_lines(partial)}<span class="cursor">▍</span>'
        '<div class="pending draft-note">Draft: checked against the documents when complete.</div></div>'
    )


def _closest_titles(hits: list[Hit], limit: int = 5) -> list[Hit]:
    seen: dict[str, Hit] = {}
    for h in hits:
        seen.setdefault(h.doc_id, h)
    return list(seen.values())[:limit]


def refusal_html(answer: Answer) -> str:
    """A refusal: a warning box naming the closest documents."""
    text = answer.text.split(REFUSAL_LEAD, 1)[0]
    closest = _closest_titles(answer.hits)
    items = "".join(
        "<li>" + esc(h.title) + (f' <span class="date">({esc(h.date)})</span>' if h.date else "") + "</li>"
        for h in closest
    )
    listing = (
        f'<div class="closest-label">Closest documents:</div><ul>{items}</ul>'
        if items
        else ('<div class="closest-label">No document matched the filters.</div>')
    )
    return (
        '<div class="refusal" role="alert"><div class="refusal-title">⚠ Not answered by the documents</div>'
        f"<p>{_lines(text)}</p>{listing}</div>"
    )


def grounding_note(answer: Answer) -> str:
    """What the support check did to a generative answer, in one sentence ("" when nothing to say)."""
    g = answer.grounding or {}
    if not g.get("model_called"):
        return ""
    if g.get("fallback"):
        return (
            "The model's answer could not be checked against the documents, so it is not shown: "
            "these passages answer the question."
        )
    notes = []
    dropped = int(g.get("dropped") or 0)
    if dropped:
        total = int(g.get("sentences") or 0)
        notes.append(
            f"{dropped} of the model's {total} sentences {'was' if dropped == 1 else 'were'} removed: "
            "no cited passage supports them."
        )
    added = int(g.get("added") or 0)
    if added:
        notes.append(
            f"{added} quote{'s' if added > 1 else ''} from the passages follow{'' if added > 1 else 's'} "
            "the model's sentences: the model's answer left out what "
            + ("they say." if added > 1 else "it says.")
        )
    return " ".join(notes)


def answer_html(answer: Answer, turn: int | None = None) -> str:
    """A final answer: refusal box, or text with clickable ``[n]`` markers, what the documents do
    not state, and every warning (what the support check removed or replaced among them)."""
    if answer.refused:
        return refusal_html(answer)
    body = linkify(answer.text, answer.citations, turn)
    notes = []
    if answer.status == "partial" and answer.not_stated:
        missing = _lines("; ".join(answer.not_stated))
        notes.append(f'<div class="not-stated">Not stated in the documents: {missing}</div>')
    note = grounding_note(answer)
    if note:
        notes.append(f'<div class="grounding-note">{esc(note)}</div>')
    listed = answer.warnings
    if note and (answer.grounding or {}).get("fallback"):
        listed = listed[1:]  # warnings[0] is the fallback notice, which the note already says
    warnings = "".join(f"<li>{_lines(w)}</li>" for w in listed)
    if warnings:
        notes.append(f"<strong>Check:</strong><ul>{warnings}</ul>")
    if notes:
        body += f'<div class="answer-warnings" role="note">{"".join(notes)}</div>'
    return f'<div class="answer">{body}</div>'


def error_html(message: str) -> str:
    """A question that could not be answered (bad input, backend failure): the reason, no traceback."""
    return f'<div class="chat-error" role="alert"><strong>Cannot answer:</strong> {_lines(message)}</div>'


def highlighted_passage(citation: Citation) -> str:
    """The cited passage, escaped, with the quoted sentence in ``<mark>``."""
    passage, quote = citation.passage or "", citation.quote or ""
    if not passage:
        return f"<mark>{_lines(quote)}</mark>" if quote else ""
    start = -1
    if citation.quote_start is not None:
        offset = citation.quote_start - citation.start_char
        if quote and passage[offset : offset + len(quote)] == quote:
            start = offset
    if start < 0 and quote:
        start = passage.find(quote)
    if start < 0:
        return _lines(passage)
    end = start + len(quote)
    return f"{_lines(passage[:start])}<mark>{_lines(quote)}</mark>{_lines(passage[end:])}"


def _meta_line(publisher: str | None, date: str | None, page: int | None, url: str | None) -> str:
    parts = []
    if publisher:
        parts.append(f'<span class="publisher">{esc(publisher)}</span>')
    parts.append(f'<span class="date">{esc(date) if date else "undated"}</span>')
    if page:
        parts.append(f'<span class="page">p. {int(page)}</span>')
    link = _safe_url(url)
    if link:
        parts.append(
            f'<a class="doc-link" href="{esc(link)}" target="_blank" rel="noopener noreferrer">link</a>'
        )
    return '<div class="meta">' + " · ".join(parts) + "</div>"


def citation_html(c: Citation, turn: int | None = None) -> str:
    """One source card: number, title, publisher, date, page, link, passage with the quote marked."""
    unsupported = (
        '<div class="unsupported">The answer sentence was not found verbatim in this passage.</div>'
        if not c.supported
        else ""
    )
    return (
        f'<article class="source" id="{source_id(c.n, turn)}" data-doc-id="{esc(c.doc_id)}">'
        f'<header><span class="n">[{c.n}]</span> <span class="title">{esc(c.title)}</span></header>'
        f"{_meta_line(c.publisher, c.date, c.page, c.url)}"
        f'<blockquote class="passage">{highlighted_passage(c)}</blockquote>{unsupported}</article>'
    )


def _hit_html(h: Hit) -> str:
    snippet = h.text if len(h.text) <= 600 else h.text[:600] + "…"
    return (
        f'<article class="closest" data-doc-id="{esc(h.doc_id)}"><header><span class="title">{esc(h.title)}'
        f"</span></header>{_meta_line(h.publisher, h.date, h.page, h.url)}"
        f'<blockquote class="passage">{_lines(snippet)}</blockquote></article>'
    )


def turn_sources_html(question: str, answer: Answer, turn: int | None = None) -> str:
    """The sources of one answer (``turn`` None: the latest, with ids ``src-n``)."""
    head = f'<div class="turn-question">For: “{esc(question)}”</div>'
    if answer.standalone_question and answer.standalone_question != question:
        searched = esc(answer.standalone_question)
        head += f'<div class="turn-question standalone">Searched as: “{searched}”</div>'
    if answer.refused:
        hits = "".join(_hit_html(h) for h in answer.hits)
        body = (
            '<div class="no-sources">No source supports an answer. Closest passages (not cited):</div>' + hits
            if hits
            else '<div class="no-sources">No passage matched.</div>'
        )
    elif answer.citations:
        body = "".join(citation_html(c, turn) for c in answer.citations)
    else:
        body = '<div class="no-sources">This answer cites no source.</div>'
    cls = "turn latest" if turn is None else "turn earlier"
    return f'<section class="{cls}">{head}{body}</section>'


def sources_html(turns: list[dict[str, Any]]) -> str:
    """The sources panel: the latest answer's sources first, then earlier answers'."""
    answered = [(i, t) for i, t in enumerate(turns) if t.get("answer") is not None]
    if not answered:
        return (
            '<div class="sources-panel"><h3>Sources</h3><div class="no-sources">Ask a question: the passages '
            "behind each [n] marker appear here, with the quoted sentence highlighted.</div></div>"
        )
    latest_i = answered[-1][0]
    parts = []
    for i, t in reversed(answered):
        q = t["answer"].question or t.get("question", "")
        parts.append(turn_sources_html(q, t["answer"], None if i == latest_i else i))
    earlier = ""
    if len(parts) > 1:
        earlier = '<h4 class="earlier-label">Earlier answers</h4>' + "".join(parts[1:])
    return f'<div class="sources-panel"><h3>Sources</h3>{parts[0]}{earlier}</div>'


def chat_messages(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The Chatbot value (messages format): two messages per turn, rendered as HTML.

    The latest answer's markers point at ``src-n``; earlier answers' at ``src-t<turn>-n``.
    """
    answered = [i for i, t in enumerate(turns) if t.get("answer") is not None]
    latest = answered[-1] if answered else None
    messages: list[dict[str, str]] = []
    for i, t in enumerate(turns):
        messages.append({"role": "user", "content": question_html(t.get("question", ""))})
        if t.get("error"):
            content = error_html(t["error"])
        elif t.get("answer") is not None:
            content = answer_html(t["answer"], None if i == latest else i)
        else:
            content = streaming_html(t.get("partial", ""))
        messages.append({"role": "assistant", "content": content})
    return messages


def documents_rows(documents: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the corpus table (an "Ingested" column when the index records it)."""
    headers = ["Title", "Publisher", "Date", "Chunks", "Document id"]
    with_time = any(d.get("ingested_at") for d in documents)
    if with_time:
        headers.append("Ingested")
    rows = []
    for d in documents:
        row = [
            d.get("title") or "",
            d.get("publisher") or "",
            d.get("date") or "",
            int(d.get("chunks") or 0),
            d.get("doc_id") or "",
        ]
        if with_time:
            row.append(str(d.get("ingested_at") or ""))
        rows.append(row)
    return headers, rows


def status_html(documents: list[dict[str, Any]], index_dir: Any, corpus_dir: Any) -> str:
    """Index status: documents, chunks, where the index and the corpus live."""
    chunks = sum(int(d.get("chunks") or 0) for d in documents)
    empty = "" if documents else ' <span class="warn">The index is empty: upload documents below.</span>'
    return (
        f'<div class="index-status"><strong>{len(documents)}</strong> documents · <strong>{chunks}</strong> '
        f"chunks · index <code>{esc(index_dir)}</code> · corpus folder <code>{esc(corpus_dir)}</code>"
        f"{empty}</div>"
    )


def upload_report_html(stored: list[Any], refused: list[str], report: Any) -> str:
    """What an upload did: files stored, the ingest summary, and every refusal with its reason."""
    if not stored and not refused:
        return '<div class="upload-report">Choose one or more files first.</div>'
    parts = ['<div class="upload-report">']
    if stored:
        items = "".join(
            f"<li><code>{esc(s.path.name)}</code>"
            f"{' (already in the corpus, unchanged)' if not s.new else ''}</li>"
            for s in stored
        )
        parts.append(f'<div class="upload-ok"><strong>Stored:</strong><ul>{items}</ul></div>')
    if report is not None:
        parts.append(
            f'<div class="ingest-summary">Ingested: {report.added} added, {report.updated} updated, '
            f"{report.unchanged} unchanged, {report.removed} removed, {len(report.failed)} failed; "
            f"{report.chunks_written} chunks written in {report.seconds:.1f} s.</div>"
        )
        others = [f for f in report.failed if not any(str(f.path).endswith(s.path.name) for s in stored)]
        if others:
            items = "".join(
                f"<li><code>{esc(Path(f.path).name)}</code>: {esc(f.reason)}</li>" for f in others
            )
            parts.append(f'<div class="ingest-failed">Other corpus files that failed:<ul>{items}</ul></div>')
    if refused:
        items = "".join(f"<li>{esc(r)}</li>" for r in refused)
        parts.append(
            f'<div class="upload-refused" role="alert"><strong>Not added:</strong><ul>{items}</ul></div>'
        )
    parts.append("</div>")
    return "".join(parts)
