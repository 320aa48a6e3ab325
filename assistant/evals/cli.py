"""``assistant eval``: run eval sets, gate on metrics, compare reports, draft cases from feedback.

Exit codes: 0 success, 1 the gate failed, 2 bad input (eval set, report, option, index).
Heavy imports (the assistant itself) happen inside ``run`` so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from assistant.evals.metrics import METRIC_NAMES


def _bad_input(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)


def _read_report(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _bad_input(f"{path}: cannot read the report ({exc})")
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        _bad_input(
            f"{path}: not an eval report (no 'metrics' object); pass a report.json written by 'eval run'"
        )
    return data


def _parse_thresholds(values: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in METRIC_NAMES:
            raise click.BadParameter(
                f"{item!r}: write METRIC=VALUE with METRIC one of {', '.join(METRIC_NAMES)}",
                param_hint="--fail-under",
            )
        try:
            out[name] = float(raw)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}: {raw!r} is not a number", param_hint="--fail-under"
            ) from None
    return out


def _open_assistant(index: str | None, backend: str | None, k: int | None) -> Any:
    """Open the real assistant (imported here: it loads the embedding model and the index)."""
    from assistant import Assistant, Settings

    overrides: dict[str, Any] = {}
    if index is not None:
        overrides["index_dir"] = index
    if backend is not None:
        overrides["backend"] = backend
    if k is not None:
        overrides["top_k"] = k
    settings = Settings(**overrides)
    return Assistant.open(index_dir=settings.index_dir, settings=settings)


@click.group(name="eval")
def eval_group() -> None:
    """Measure retrieval and answers against eval sets."""


@eval_group.command("run")
@click.argument("evalsets", nargs=-1, required=True, metavar="EVALSET...")
@click.option("--index", "index", envvar="ASSISTANT_INDEX_DIR", help="Index folder.")
@click.option("--backend", envvar="ASSISTANT_BACKEND", help="Answer backend (extractive, openai, ollama).")
@click.option(
    "-k", "k", type=click.IntRange(min=1), envvar="ASSISTANT_TOP_K", help="Passages retrieved per question."
)
@click.option(
    "--out", "out_dir", default="evals/out", show_default=True, help="Folder for report.json/.md/.html."
)
@click.option("--baseline", type=click.Path(dir_okay=False), help="Earlier report.json to compare against.")
@click.option(
    "--max-drop",
    type=click.FloatRange(min=0),
    default=0.02,
    show_default=True,
    help="Largest allowed fall of a metric against the baseline (absolute).",
)
@click.option(
    "--fail-under",
    "fail_under",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Worst acceptable value of a metric (an upper limit for false_refusal_rate and latency).",
)
@click.option("--gate-latency", is_flag=True, help="Also fail when latency grew against the baseline.")
@click.option("--limit", type=click.IntRange(min=1), help="Run only the first N (selected) cases.")
@click.option("--tag", "tags", multiple=True, help="Run only cases with this tag (repeatable).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def run_command(
    evalsets: tuple[str, ...],
    index: str | None,
    backend: str | None,
    k: int | None,
    out_dir: str,
    baseline: str | None,
    max_drop: float,
    fail_under: tuple[str, ...],
    gate_latency: bool,
    limit: int | None,
    tags: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Ask every case of EVALSET... and write a report; exit 1 when the gate fails."""
    from assistant.evals.dataset import EvalSetError, load_eval_sets, select_cases
    from assistant.evals.gate import check_gate
    from assistant.evals.report import write_report
    from assistant.evals.runner import run_eval
    from assistant.types import AssistantError

    thresholds = _parse_thresholds(fail_under)
    try:
        with _warnings_to_stderr():
            cases = load_eval_sets(evalsets)
    except EvalSetError as exc:
        _bad_input(str(exc))
    cases = select_cases(cases, tags=tags, limit=limit)
    if not cases:
        _bad_input("no case selected; check the eval set and the --tag options")
    base = _read_report(baseline) if baseline else None

    try:
        assistant = _open_assistant(index, backend, k)
    except (AssistantError, ValueError, OSError) as exc:
        _bad_input(f"cannot open the assistant: {exc}")
    with _warnings_to_stderr():
        report = run_eval(
            assistant, cases, k=k, backend=backend, progress=not no_progress, eval_sets=evalsets
        )
    paths = write_report(report, out_dir)

    click.echo(f"{report['n_cases']} cases, {report['n_failed']} failed, {report['n_errors']} errors")
    for name, value in report["metrics"].items():
        click.echo(f"  {name:<20} {'null' if value is None else value}")
    click.echo(f"report: {paths['html']}")

    result = check_gate(report, base, max_drop=max_drop, fail_under=thresholds, gate_latency=gate_latency)
    if not result.ok:
        click.echo("gate FAILED:", err=True)
        for message in result.messages:
            click.echo(f"  {message}", err=True)
        sys.exit(1)
    if thresholds or base is not None:
        click.echo("gate passed")


@eval_group.command("compare")
@click.argument("a", metavar="A.json")
@click.argument("b", metavar="B.json")
def compare_command(a: str, b: str) -> None:
    """Show metric and case differences from report A to report B."""
    from assistant.evals.gate import compare_reports

    click.echo(compare_reports(_read_report(a), _read_report(b)))


@eval_group.command("from-feedback")
@click.argument("files", nargs=-1, required=True, metavar="FILES...")
@click.option("-o", "--output", default="-", show_default=True, help="Draft YAML file ('-' for stdout).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def from_feedback_command(files: tuple[str, ...], output: str, force: bool) -> None:
    """Draft eval cases from thumbs-down feedback JSONL files, for an evaluator to complete."""
    import yaml

    from assistant.evals.feedback import drafts_from_feedback

    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        _bad_input(f"feedback file not found: {', '.join(missing)}")
    if output != "-" and Path(output).exists() and not force:
        _bad_input(f"{output} exists; choose another file or pass --force to overwrite it")
    with _warnings_to_stderr():
        drafts = drafts_from_feedback(files)
    text = yaml.safe_dump(drafts, sort_keys=False, allow_unicode=True, width=100) if drafts else "[]\n"
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"{len(drafts)} draft case(s) written to {output}; complete the TODO notes", err=True)
