"""The metrics of an eval report, each declared once (definitions as in ``docs/INTERFACE.md``).

Every metric reads one case record of the report (see :func:`assistant.evals.metrics.score_case`).
Eligibility is part of the per-case value: None means "does not apply to this case", and a
metric with no eligible case is None in the report (``null``), never 0 and never NaN.

To add a metric: declare a :class:`~assistant.evals.registry.Metric` below (or in its own module)
and add one ``METRICS.register(...)`` line at the end of this file. The report, its plots, the
``--fail-under`` choices, the paired gate and ``eval compare`` take the list from ``METRICS``.
"""

from __future__ import annotations

from typing import Any

from assistant.evals import matching
from assistant.evals.registry import Metric, MetricRegistry, Percentile, Ratio, Record


def status_of(record: Record) -> str | None:
    """``answered``/``partial``/``refused`` of a case; None when it raised. Older reports, which
    have no ``status``, read ``refused``."""
    if record.get("error"):
        return None
    status = record.get("status")
    if status in ("answered", "partial", "refused"):
        return str(status)
    return "refused" if record.get("refused") else "answered"


def _field(name: str) -> Any:
    return lambda r: r.get(name)


def _answered(r: Record) -> bool:
    """Not refused and not errored (a partial answer counts as answered)."""
    return status_of(r) in ("answered", "partial")


def _key_facts(r: Record) -> list[str]:
    return [*(r.get("key_facts_found") or ()), *(r.get("key_facts_missing") or ())]


def _lead_fact(r: Record) -> bool | None:
    facts = _key_facts(r)
    if not r.get("answerable", True) or not facts or not _answered(r):
        return None
    lead = matching.lead_text(r.get("answer") or "")
    return any(matching.fact_found(f, lead) for f in facts)


def _span_recall(r: Record) -> float | None:
    span = r.get("answer_span")
    if not span or not r.get("answerable", True):
        return None
    if not _answered(r):
        return 0.0
    return matching.span_token_recall(span, r.get("answer") or "")


def _span_contained(r: Record) -> bool | None:
    span = r.get("answer_span")
    if not span or not r.get("answerable", True):
        return None
    return _answered(r) and matching.span_found(span, r.get("answer") or "")


def _words(r: Record) -> int | None:
    return matching.answer_words(r.get("answer") or "") if _answered(r) else None


def _grounding(r: Record) -> dict[str, Any] | None:
    g = r.get("grounding")
    return g if isinstance(g, dict) else None


def _cited_sources(r: Record) -> int | None:
    if r.get("cites_source") is None:
        return None
    return len(set(r.get("cited_doc_ids") or ()) & set(r.get("source_doc_ids") or ()))


def _cited(r: Record) -> int | None:
    return None if r.get("cites_source") is None else len(set(r.get("cited_doc_ids") or ()))


def _judge(key: str) -> Any:
    def value(r: Record) -> float | None:
        judged = r.get("judge")
        return judged.get(key) if isinstance(judged, dict) else None

    return value


def _only(answerable: bool, fn: Any) -> Any:
    return lambda r: fn(r) if bool(r.get("answerable", True)) == answerable else None


def _not_error(fn: Any) -> Any:
    return lambda r: None if r.get("error") else fn(r)


METRICS = MetricRegistry()
"""Every metric of ``report["metrics"]`` and of each ``report["by_tag"][tag]``, in order."""

for _metric in (
    Metric(
        "hit_rate",
        "share of answerable cases with a source document among the top-k hits",
        _field("hit"),
        binary=True,
        requires=("hit",),
        plot=True,
    ),
    Metric(
        "mrr",
        "mean of 1/rank of the first passage from a source document (0 if none in the top k)",
        _field("reciprocal_rank"),
        requires=("reciprocal_rank",),
        plot=True,
    ),
    Metric(
        "ndcg",
        "nDCG@k, source documents relevant (binary, per distinct document)",
        _field("ndcg"),
        requires=("ndcg",),
        plot=True,
    ),
    Metric(
        "citation_precision",
        "cited documents that are source documents / all cited documents (micro), non-refused cases",
        _field("citation_precision"),
        aggregation=Ratio(_cited_sources, _cited),
        requires=("cites_source", "cited_doc_ids", "source_doc_ids"),
    ),
    Metric(
        "citation_recall",
        "share of non-refused answerable cases citing at least one source document",
        _field("cites_source"),
        binary=True,
        requires=("cites_source",),
        plot=True,
    ),
    Metric(
        "key_fact_recall",
        "mean share of key facts found in the answer (answerable cases with key facts)",
        _field("key_fact_recall"),
        requires=("key_fact_recall",),
        plot=True,
    ),
    Metric(
        "answer_token_f1",
        "SQuAD token F1 between the answer and reference_answer",
        _field("answer_token_f1"),
        requires=("answer_token_f1",),
    ),
    Metric(
        "answer_similarity",
        "cosine of the embeddings of the answer and reference_answer",
        _field("answer_similarity"),
        requires=("answer_similarity",),
    ),
    Metric(
        "context_recall",
        "share of reference contexts covered by the retrieved passages",
        _field("context_recall"),
        requires=("context_recall",),
    ),
    Metric(
        "refusal_accuracy",
        "share of unanswerable cases that were refused",
        _only(False, _field("refused")),
        binary=True,
        requires=("refused", "answerable"),
        plot=True,
    ),
    Metric(
        "false_refusal_rate",
        "share of answerable cases that were refused",
        _only(True, _field("refused")),
        direction="lower",
        binary=True,
        requires=("refused", "answerable"),
    ),
    Metric(
        "latency_ms_p50",
        "median wall time of retrieval plus answer, cases that did not raise",
        _not_error(_field("latency_ms")),
        aggregation=Percentile(50),
        direction="lower",
        requires=("latency_ms",),
        timing=True,
        unit="ms",
    ),
    Metric(
        "latency_ms_p95",
        "95th percentile of the wall time of retrieval plus answer",
        _not_error(_field("latency_ms")),
        aggregation=Percentile(95),
        direction="lower",
        requires=("latency_ms",),
        timing=True,
        unit="ms",
    ),
    Metric(
        "lead_fact_rate",
        "share of answered (not refused) answerable cases whose text before the first citation "
        "marker holds at least one key fact",
        _lead_fact,
        binary=True,
        requires=("answer", "key_facts_found", "key_facts_missing"),
        case_field="lead_fact",
        plot=True,
    ),
    Metric(
        "span_token_recall",
        "cases with answer_span: share of the span's content words found in the answer (refused: 0)",
        _span_recall,
        requires=("answer_span",),
        case_field="span_token_recall",
    ),
    Metric(
        "span_contained",
        "cases with answer_span: share whose answer holds the whole span (refused: no)",
        _span_contained,
        binary=True,
        requires=("answer_span",),
        case_field="span_contained",
    ),
    Metric(
        "median_answer_words",
        "median words of non-refused answers, citation markers stripped",
        _words,
        aggregation=Percentile(50),
        direction="none",
        requires=("answer",),
        case_field="answer_words",
        unit="words",
    ),
    Metric(
        "partial_rate",
        "share of answerable cases answered in part (status partial)",
        _only(True, lambda r: status_of(r) == "partial"),
        direction="none",
        binary=True,
        requires=("answerable",),
    ),
    Metric(
        "generated_kept_share",
        "generated sentences kept by the grounding check / all generated sentences (micro)",
        lambda r: (g["kept"] / g["sentences"]) if (g := _grounding(r)) and g.get("sentences") else None,
        aggregation=Ratio(
            lambda r: (_grounding(r) or {}).get("kept"), lambda r: (_grounding(r) or {}).get("sentences")
        ),
        requires=("grounding",),
    ),
    Metric(
        "fallback_rate",
        "share of generated answers that fell back (grounding.fallback)",
        lambda r: bool(g.get("fallback")) if (g := _grounding(r)) is not None else None,
        direction="lower",
        binary=True,
        requires=("grounding",),
    ),
    Metric(
        "complemented_rate",
        "generated answers shown (no fallback) that the reader's sentences completed (grounding.added)",
        lambda r: (
            bool(g["added"])
            if (g := _grounding(r)) is not None
            and "added" in g
            and g.get("model_called")
            and not g.get("fallback")
            else None
        ),
        direction="none",
        binary=True,
        requires=("grounding",),
    ),
    Metric(
        "warnings_per_case",
        "mean number of warnings per generated answer (cases with grounding)",
        lambda r: len(r.get("warnings") or ()) if _grounding(r) is not None else None,
        direction="lower",
        requires=("grounding", "warnings"),
        unit="count",
    ),
    Metric(
        "judge_faithfulness",
        "judge: share of answer sentences supported by their cited passages (non-refused cases)",
        _judge("faithfulness"),
        requires=("judge",),
    ),
    Metric(
        "judge_correctness",
        "judge: correctness against reference_answer, 1-5 scaled to 0-1 (refused answerable: 0)",
        _judge("correctness"),
        requires=("judge",),
    ),
):
    METRICS.register(_metric)

METRIC_NAMES: tuple[str, ...] = METRICS.names
LOWER_IS_BETTER: frozenset[str] = frozenset(m.name for m in METRICS if m.lower_is_better)
PLOTTED_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.plot)
