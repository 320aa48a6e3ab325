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
    from assistant.evals.catalogue import METRIC_NAMES

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


def _comparison_options(func: Any) -> Any:
    """Options shared by ``run`` (with ``--baseline``) and ``compare``."""
    for option in reversed(
        [
            click.option(
                "--margin",
                type=click.FloatRange(min=0),
                default=0.0,
                show_default=True,
                help="Drop that matters (absolute, metric units): FAIL needs the paired interval wholly "
                "below -MARGIN; PASS needs its worse end above it.",
            ),
            click.option(
                "--strict",
                is_flag=True,
                help="Fail when fingerprints differ or the reports hold other cases.",
            ),
            click.option(
                "--gate-latency",
                is_flag=True,
                help="Also compare latency with the baseline (machines differ).",
            ),
            click.option(
                "--resamples",
                type=click.IntRange(min=100),
                default=10_000,
                show_default=True,
                help="Paired bootstrap resamples.",
            ),
            click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed."),
            click.option(
                "--min-slice",
                type=click.IntRange(min=1),
                default=10,
                show_default=True,
                help="Smallest slice (shared cases of a tag, document or answerability) tested.",
            ),
        ]
    ):
        func = option(func)
    return func


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
@_comparison_options
@click.option(
    "--max-drop",
    type=click.FloatRange(min=0),
    default=None,
    help="Naive rule (off unless given): also fail when a metric falls by more than this, whatever the "
    "set size. It cannot tell a regression from noise; the paired verdicts can.",
)
@click.option(
    "--fail-under",
    "fail_under",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Worst acceptable value of a metric (an upper limit for lower-is-better metrics).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Run only the first N (selected) cases.")
@click.option("--tag", "tags", multiple=True, help="Run only cases with this tag (repeatable).")
@click.option(
    "--judge/--no-judge",
    "use_judge",
    default=True,
    show_default=True,
    help="Judge metrics when ASSISTANT_JUDGE_BASE_URL and ASSISTANT_JUDGE_MODEL are set.",
)
@click.option(
    "--judge-repeats",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Ask the judge N times per item and report how often its verdict flips.",
)
@click.option("--force-judge", is_flag=True, help="Allow the answering model to judge its own answers.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def run_command(
    evalsets: tuple[str, ...],
    index: str | None,
    backend: str | None,
    k: int | None,
    out_dir: str,
    baseline: str | None,
    margin: float,
    strict: bool,
    gate_latency: bool,
    resamples: int,
    seed: int,
    min_slice: int,
    max_drop: float | None,
    fail_under: tuple[str, ...],
    limit: int | None,
    tags: tuple[str, ...],
    use_judge: bool,
    judge_repeats: int,
    force_judge: bool,
    no_progress: bool,
) -> None:
    """Ask every case of EVALSET... and write a report; exit 1 when the gate fails.

    With --baseline every metric is compared case by case: PASS (no drop beyond --margin),
    FAIL (a significant drop beyond it: exit 1) or INCONCLUSIVE (the set cannot tell).
    """
    from assistant.evals.dataset import EvalSetError, load_eval_sets, select_cases
    from assistant.evals.gate import check_gate
    from assistant.evals.judge import JudgeError
    from assistant.evals.paired import format_table
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
    judge = None
    if use_judge:
        try:
            judge = _make_judge(assistant, backend, judge_repeats, force_judge)
        except (JudgeError, ValueError) as exc:
            _bad_input(f"judge: {exc}")
    judge_error: JudgeError | None = None
    with _warnings_to_stderr():
        try:
            report = run_eval(
                assistant,
                cases,
                k=k,
                backend=backend,
                progress=not no_progress,
                eval_sets=evalsets,
                judge=judge,
            )
        except JudgeError as exc:
            if exc.report is None:
                raise
            report, judge_error = exc.report, exc

    result = check_gate(
        report,
        base,
        max_drop=max_drop,
        fail_under=thresholds,
        margin=margin,
        gate_latency=gate_latency,
        strict=strict,
        resamples=resamples,
        seed=seed,
        min_slice=min_slice,
    )
    if result.comparison is not None:
        report["comparison"] = {"baseline": baseline, **result.comparison.to_dict()}
    if thresholds or base is not None:
        report["gate"] = {"ok": result.ok, "messages": result.messages, "warnings": result.warnings}
    paths = write_report(report, out_dir)

    click.echo(f"{report['n_cases']} cases, {report['n_failed']} failed, {report['n_errors']} errors")
    for name, value in report["metrics"].items():
        click.echo(f"  {name:<20} {'null' if value is None else value}")
    click.echo(f"report: {paths['html']}")
    if judge_error is not None:
        _bad_input(f"judge: {judge_error} (the report above has no judge metrics)")
    if result.comparison is not None:
        click.echo("")
        click.echo(format_table(result.comparison))
    if not result.ok:
        click.echo("gate FAILED:", err=True)
        for message in result.messages:
            click.echo(f"  {message}", err=True)
        sys.exit(1)
    if thresholds or base is not None:
        verdict = result.comparison.verdict if result.comparison is not None else "PASS"
        click.echo(f"gate passed ({verdict})")


def _make_judge(assistant: Any, backend: str | None, repeats: int, force: bool) -> Any:
    from assistant import Settings
    from assistant.evals.judge import Judge

    settings = getattr(assistant, "settings", None) or Settings()
    answer_backend = backend or getattr(settings, "backend", None)
    return Judge.from_settings(settings, answer_backend=answer_backend, repeats=repeats, force=force)


@eval_group.command("compare")
@click.argument("a", metavar="A.json")
@click.argument("b", metavar="B.json")
@_comparison_options
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(
    a: str,
    b: str,
    margin: float,
    strict: bool,
    gate_latency: bool,
    resamples: int,
    seed: int,
    min_slice: int,
    as_json: bool,
) -> None:
    """Compare report B (a run) with report A (its baseline), case by case; exit 1 on a FAIL.

    Prints the paired table of `eval run --baseline`, then what changed per case.
    """
    from assistant.evals.gate import check_gate, compare_reports

    base, run = _read_report(a), _read_report(b)
    options = dict(
        margin=margin, gate_latency=gate_latency, resamples=resamples, seed=seed, min_slice=min_slice
    )
    result = check_gate(run, base, strict=strict, **options)
    assert result.comparison is not None
    if as_json:
        click.echo(json.dumps(result.comparison.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(compare_reports(base, run, **options))
    if not result.ok:
        click.echo("gate FAILED:", err=True)
        for message in result.messages:
            click.echo(f"  {message}", err=True)
        sys.exit(1)


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
