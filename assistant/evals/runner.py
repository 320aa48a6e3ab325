"""Run an eval set through an assistant and build the report dict of ``INTERFACE.md``."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from assistant.evals import metrics
from assistant.evals.dataset import EvalCase
from assistant.evals.fingerprint import case_hash, run_fingerprint

if TYPE_CHECKING:
    from assistant.evals.judge import Judge
    from assistant.types import Answer

T = TypeVar("T")


class AskingAssistant(Protocol):
    """What the runner needs: ``ask()``; ``embed_texts()`` and ``settings`` are optional."""

    def ask(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        backend: str | None = None,
    ) -> Answer: ...


def run_eval(
    assistant: AskingAssistant,
    cases: Sequence[EvalCase],
    *,
    k: int | None = None,
    backend: str | None = None,
    progress: bool = True,
    eval_sets: Sequence[str] = (),
    index: str | None = None,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """Ask every case and return the report dict.

    Shape: ``{"eval_sets", "index", "backend", "k", "created_at", "n_cases", "n_errors",
    "n_failed", "metrics": {name: float | None}, "by_tag": {tag: metrics}, "abstention":
    {"answerable"|"unanswerable": {"answered", "partial", "refused", "error"}}, "fingerprint",
    "judge": {...} | None, "cases": [record]}``. A record holds ``id, question, answer, refused,
    retrieved_doc_ids, cited_doc_ids, hit, rank, key_facts_found, key_facts_missing, latency_ms``
    plus ``status, not_stated, answerable, tags, source_doc_ids, answer_span, citations [{n,
    doc_id, title, quote}], grounding, warnings, case_hash, error, passed, judge`` and the per-case
    metric values (see :func:`assistant.evals.metrics.score_case`). ``k`` and ``backend`` default
    to the assistant's settings; a case whose ``ask()`` raises is recorded with ``error`` and
    fails. ``judge``: judge the answers (:mod:`assistant.evals.judge`); a judge that fails
    raises :class:`~assistant.evals.judge.JudgeError` after the cases are asked, with the
    report without judge metrics attached as ``exc.report``.
    """
    settings = getattr(assistant, "settings", None)
    k_used = k if k is not None else getattr(settings, "top_k", None)
    records: list[dict[str, Any]] = []
    answers: list[Answer | None] = []
    for case in _progress(cases, enabled=progress):
        record, answer = _ask_one(assistant, case, k=k, k_used=k_used, backend=backend)
        records.append(record)
        answers.append(answer)
    _add_similarity(assistant, cases, records)

    if index is None and settings is not None:
        index = str(getattr(settings, "index_dir", "")) or None
    backend_used = backend or getattr(settings, "backend", None)
    report: dict[str, Any] = {
        "eval_sets": [str(s) for s in eval_sets],
        "index": index,
        "backend": backend_used,
        "k": k_used,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "n_cases": len(records),
        "fingerprint": run_fingerprint(assistant, cases, eval_sets=eval_sets, k=k_used, backend=backend_used),
        "judge": None,
        "cases": records,
    }
    if judge is not None:
        from assistant.evals.judge import JudgeError

        report["fingerprint"]["judge"] = {
            "model": judge.model,
            "backend": judge.backend,
            "prompt_hash": judge.prompt_hash,
        }
        try:
            report["judge"] = judge.judge_run(cases, records, answers, progress=progress)
        except JudgeError as exc:
            finish_report(report)
            exc.report = report
            raise
    finish_report(report)
    return report


def finish_report(report: dict[str, Any]) -> dict[str, Any]:
    """(Re)compute the summary of ``report`` from its case records: counts, ``metrics``,
    ``by_tag`` and ``abstention``. Returns the report."""
    records = report["cases"]
    for record in records:
        record.setdefault("judge", None)
        metrics.add_case_values(record)
    report["n_cases"] = len(records)
    report["n_errors"] = sum(1 for r in records if r.get("error"))
    report["n_failed"] = sum(1 for r in records if not r.get("passed", True))
    report["metrics"] = metrics.rounded(metrics.aggregate(records))
    report["by_tag"] = {tag: metrics.rounded(m) for tag, m in metrics.by_tag(records).items()}
    report["abstention"] = metrics.abstention(records)
    return report


def _ask_one(
    assistant: AskingAssistant, case: EvalCase, *, k: int | None, k_used: int | None, backend: str | None
) -> tuple[dict[str, Any], Answer | None]:
    error: str | None = None
    answer: Answer | None = None
    started = time.perf_counter()
    try:
        answer = assistant.ask(case.question, history=case.history or None, k=k, backend=backend)
    except Exception as exc:  # one broken case must not stop the run
        error = f"{type(exc).__name__}: {exc}"
    latency_ms = (time.perf_counter() - started) * 1000.0

    hits = list(answer.hits) if answer else []
    citations = sorted(answer.citations, key=lambda c: c.n) if answer else []
    record = metrics.score_case(
        case,
        answer_text=answer.text if answer else "",
        refused=bool(answer and answer.refused),
        retrieved_doc_ids=[h.doc_id for h in hits],
        retrieved_texts=[h.text for h in hits],
        cited_doc_ids=[c.doc_id for c in citations],
        k=k_used,
        error=error,
        status=getattr(answer, "status", None) if answer else None,
        not_stated=list(getattr(answer, "not_stated", None) or ()) if answer else (),
        grounding=getattr(answer, "grounding", None) if answer else None,
        warnings=list(getattr(answer, "warnings", None) or ()) if answer else (),
    )
    record["latency_ms"] = round(latency_ms, 1)
    record["citations"] = [
        {"n": c.n, "doc_id": c.doc_id, "title": c.title, "quote": c.quote} for c in citations
    ]
    record["answer_similarity"] = None
    record["case_hash"] = case_hash(case)
    return record, answer


def _add_similarity(
    assistant: AskingAssistant, cases: Sequence[EvalCase], records: list[dict[str, Any]]
) -> None:
    """Set ``answer_similarity`` on answerable cases with a reference answer (one embed call).

    An errored case or an empty answer scores 0.0. Without ``embed_texts``, or when it fails
    (a warning says why), the metric stays None.
    """
    embed = getattr(assistant, "embed_texts", None)
    eligible = [(c, r) for c, r in zip(cases, records, strict=True) if c.answerable and c.reference_answer]
    if not eligible or embed is None:
        return
    pairs = [(c.reference_answer or "", r) for c, r in eligible if not r["error"]]
    pairs = [(ref, r) for ref, r in pairs if metrics.strip_markers(r["answer"]).strip()]
    vectors: list[list[float]] = []
    if pairs:
        texts = [metrics.strip_markers(r["answer"]) for _, r in pairs] + [ref for ref, _ in pairs]
        try:
            vectors = embed(texts)
        except Exception as exc:  # the other metrics are still worth reporting
            warnings.warn(f"answer_similarity not computed: embed_texts failed ({exc})", stacklevel=2)
            return
    for _, rec in eligible:
        rec["answer_similarity"] = 0.0
    n = len(pairs)
    for i, (_, rec) in enumerate(pairs):
        rec["answer_similarity"] = round(metrics.cosine(vectors[i], vectors[n + i]), 4)


def _progress(items: Sequence[T], *, enabled: bool) -> Iterable[T]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return _counter(items)
    return tqdm(items, desc="eval", unit="case", file=sys.stderr)


def _counter(items: Sequence[T]) -> Iterator[T]:
    total = len(items)
    for i, item in enumerate(items, start=1):
        yield item
        print(f"\reval {i}/{total}", end="" if i < total else "\n", file=sys.stderr, flush=True)
