"""The ``assistant`` command line. Heavy imports happen inside commands so ``--help`` is instant."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.evals.cli import eval_group
from assistant.progress import quiet_libraries
from assistant.types import AssistantError

if TYPE_CHECKING:  # pydantic is imported by the commands that build settings, not by --help
    from pydantic import ValidationError

    from assistant.config import Settings


def _invalid(exc: ValidationError) -> str:
    """What is wrong with the settings, field by field, without the values given: pydantic's own
    message quotes the input, which holds ASSISTANT_LLM_API_KEY and ASSISTANT_UI_AUTH."""
    problems = [
        f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return "invalid setting: " + "; ".join(problems)


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from assistant.config import Settings

    clean = {k: v for k, v in overrides.items() if v not in (None, (), [])}
    try:
        return Settings(**clean)
    except ValidationError as exc:  # name the field, no traceback, no secrets
        raise click.UsageError(_invalid(exc)) from None


class _Main(click.Group):
    """The command group; settings built by any subcommand (``eval`` too) fail as a usage error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            pydantic = sys.modules.get("pydantic")  # loaded by whatever built the settings
            if pydantic is not None and isinstance(exc, pydantic.ValidationError):
                raise click.UsageError(_invalid(exc), ctx) from None
            raise


def _open(settings: Settings) -> Any:
    from assistant import Assistant

    return Assistant.open(index_dir=settings.index_dir, settings=settings)


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    envvar="ASSISTANT_INDEX_DIR",
    help="Index folder [ASSISTANT_INDEX_DIR, default indexes/default].",
)


class _BackendChoice(click.Choice):
    """``--backend``'s choices: the names registered in :mod:`assistant.answer.registry`, read when
    the command runs (so a backend registered by code is accepted too)."""

    def __init__(self) -> None:
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        from assistant.answer import registry

        return tuple(registry.names())

    @choices.setter
    def choices(self, _value: object) -> None:  # click.Choice assigns it; the registry decides
        pass


backend_option = click.option(
    "--backend",
    type=_BackendChoice(),
    envvar="ASSISTANT_BACKEND",
    help="Answer backend [ASSISTANT_BACKEND].",
)
k_option = click.option(
    "-k",
    "top_k",
    type=click.IntRange(1, 100),
    envvar="ASSISTANT_TOP_K",
    help="Passages retrieved [ASSISTANT_TOP_K, default 5].",
)
doc_option = click.option("--doc", "doc_ids", multiple=True, help="Restrict to this doc_id (repeatable).")


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="corpus-assistant")
def main() -> None:
    """Answer questions from a curated document corpus, with a citation behind every claim."""
    quiet_libraries()  # one progress display per phase, ours: no library bars in between


@main.command()
@click.argument("corpus_dir", required=False, type=click.Path(path_type=Path))
@index_option
@click.option("--rebuild", is_flag=True, help="Drop the index and ingest everything again.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (and no progress).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no per-file lines: the summary only.")
def ingest(
    corpus_dir: Path | None, index_dir: Path | None, rebuild: bool, as_json: bool, quiet: bool
) -> None:
    """Ingest CORPUS_DIR (default corpus/) into the index; only changed documents are embedded.

    Shows one progress display per phase (files, chunking, embedding) on stderr, then a line per
    file (pages, chunks, tables, OCRed pages, warnings) and the summary.
    """
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir)
    try:
        assistant = _open(settings)
        report = assistant.ingest(settings.corpus_dir, rebuild=rebuild, progress=not (as_json or quiet))
    except AssistantError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        if not quiet:
            for line in _file_lines(report):
                click.echo(line)
        click.echo(
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
            f"removed {report.removed}, failed {len(report.failed)}; "
            f"{report.chunks_written} chunks written in {report.seconds:.1f}s"
        )
        for f in report.failed:
            click.echo(f"  failed: {f.path}: {f.reason}", err=True)
    sys.exit(1 if report.failed else 0)


def _pages_text(pages: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    runs: list[list[int]] = []
    for p in sorted(pages):
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _file_lines(report: Any) -> list[str]:
    """The per-file part of the plain report: ``  PATH: 2 pages, 9 chunks, 1 table`` and the
    file's warnings under it."""
    lines = []
    for f in report.files:
        parts = [f"{f.pages} page{'s' * (f.pages != 1)}"] if f.pages is not None else []
        parts.append(f"{f.chunks} chunk{'s' * (f.chunks != 1)}")
        if f.tables:
            parts.append(f"{f.tables} table{'s' * (f.tables != 1)}")
        if f.ocr_pages:
            parts.append(f"OCR on page{'s' * (len(f.ocr_pages) != 1)} {_pages_text(f.ocr_pages)}")
        lines.append(f"  {f.path}: {', '.join(parts)}")
        lines.extend(f"    warning: {w}" for w in f.warnings)
    return lines


def _highlight(snippet: str, query: str) -> str:
    words = sorted({w for w in re.findall(r"\w[\w,.-]*\w|\w", query) if len(w) > 2}, key=len, reverse=True)
    if not words:
        return snippet
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
    return pattern.sub(lambda m: click.style(m.group(0), bold=True, fg="yellow"), snippet)


@main.command()
@click.argument("query")
@index_option
@k_option
@doc_option
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default=None, help="Retrieval mode.")
@click.option("--from", "date_from", help="Documents dated on or after YYYY[-MM[-DD]].")
@click.option("--to", "date_to", help="Documents dated on or before YYYY[-MM[-DD]].")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
def search(
    query: str,
    index_dir: Path | None,
    top_k: int | None,
    doc_ids: tuple[str, ...],
    mode: str | None,
    date_from: str | None,
    date_to: str | None,
    as_json: bool,
) -> None:
    """Print the passages that best match QUERY."""
    settings = _settings(index_dir=index_dir, top_k=top_k)
    try:
        hits = _open(settings).retrieve(query, top_k, list(doc_ids) or None, date_from, date_to, mode)  # type: ignore[arg-type]
    except AssistantError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        return
    if not hits:
        click.echo("no passages found")
    for h in hits:
        where = f", p. {h.page}" if h.page else ""
        click.echo(
            click.style(f"{h.rank}. {h.title}", bold=True) + f" ({h.date or 'undated'}{where}) "
            f"[{h.doc_id}] score {h.score:.4f}"
        )
        snippet = re.sub(r"\s+", " ", h.text)
        click.echo("   " + _highlight(snippet[:400] + ("…" if len(snippet) > 400 else ""), query))


def _print_answer(answer: Any) -> None:
    """The answer, its sources, what it does not state and every warning (plain text)."""
    style = {"fg": "red"} if answer.refused else {}
    click.echo(click.style(answer.text, **style))
    if answer.citations:
        click.echo("\nSources:")
        for c in answer.citations:
            page = f", p. {c.page}" if c.page else ""
            click.echo(f"  [{c.n}] {c.title} ({c.date or 'undated'}{page}) {c.url or c.doc_id}")
            click.echo(f"      “{c.quote}”")
    if answer.status == "partial" and answer.not_stated:
        click.echo("\nNot stated in the documents: " + "; ".join(answer.not_stated))
    if answer.warnings:
        click.echo("")
        for w in answer.warnings:
            click.echo(click.style("warning: ", fg="yellow", bold=True) + w)


@main.command()
@click.argument("question")
@index_option
@backend_option
@k_option
@doc_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def ask(
    question: str,
    index_dir: Path | None,
    backend: str | None,
    top_k: int | None,
    doc_ids: tuple[str, ...],
    as_json: bool,
) -> None:
    """Answer QUESTION from the corpus, citing every sentence."""
    settings = _settings(index_dir=index_dir, backend=backend, top_k=top_k)
    try:
        answer = _open(settings).ask(question, k=top_k, doc_ids=list(doc_ids) or None)
    except AssistantError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        _print_answer(answer)


@main.command()
@index_option
@backend_option
def chat(index_dir: Path | None, backend: str | None) -> None:
    """A conversation in the terminal (follow-ups use the history; empty line or Ctrl-D ends)."""
    settings = _settings(index_dir=index_dir, backend=backend)
    try:
        assistant = _open(settings)
    except AssistantError as exc:
        _fail(exc)
        return
    history: list[dict[str, str]] = []
    while True:
        try:
            question = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not question:
            break
        try:
            answer = assistant.ask(question, history=history)
        except AssistantError as exc:
            click.echo(f"error: {exc}", err=True)
            continue
        _print_answer(answer)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


@main.command()
@index_option
@click.option("--host", default=None, envvar="ASSISTANT_UI_HOST", help="Address to bind [127.0.0.1].")
@click.option("--port", type=int, default=None, envvar="ASSISTANT_UI_PORT", help="Port [7860].")
def serve(index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the analysts' web UI."""
    settings = _settings(index_dir=index_dir, ui_host=host, ui_port=port)
    try:
        from assistant.ui import serve as serve_ui

        serve_ui(settings)
    except AssistantError as exc:
        _fail(exc)


main.add_command(eval_group)

if __name__ == "__main__":
    main()
