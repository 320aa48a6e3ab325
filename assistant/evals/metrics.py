"""Per-case records and the metrics of an eval report (definitions of ``docs/INTERFACE.md``).

Text matching (the normaliser, key facts, spans) lives in :mod:`assistant.evals.matching`; the
metrics themselves are declared once in :mod:`assistant.evals.catalogue`. This module builds the
per-case record (:func:`score_case`) and aggregates records (:func:`aggregate`, :func:`by_tag`).

Eligibility, in short (answerable cases unless said otherwise):

* ``hit_rate``, ``mrr``, ``ndcg``: answerable cases with ``source_doc_ids``. ``rank`` is the
  1-based position in the hit list (passages, top-k) of the first passage from a source
  document; ``mrr`` averages ``1/rank`` (0 when no source document is in the top k).
* ``ndcg`` (nDCG@k, binary relevance per distinct document): the top-k hits are reduced to
  their distinct documents in order of first appearance, ``D = d_1..d_m`` (``m <= k``);
  ``DCG = sum(rel(d_i) / log2(i + 1))`` with ``rel = 1`` for a source document, else 0;
  ``IDCG`` is the DCG of ``min(|sources|, k)`` relevant documents at the top;
  ``ndcg = DCG / IDCG``. Example: hits ``[a, b, a, c, d]``, sources ``{a, c, e}``, k=5:
  ``D = [a, b, c, d]``, ``DCG = 1 + 1/log2(4) = 1.5``, ``IDCG = 1 + 1/log2(3) + 1/log2(4)
  = 2.131``, ``ndcg = 0.704``.
* ``citation_precision``: micro-averaged over non-refused answerable cases with
  ``source_doc_ids``: distinct cited documents that are source documents, summed over the
  cases, divided by all distinct cited documents, summed. ``None`` when nothing was cited.
* ``citation_recall``: share of those cases citing at least one source document.
* ``key_fact_recall``: mean over answerable cases with ``key_facts`` (refused ones included)
  of the share of key facts found in the answer.
* ``answer_token_f1``: SQuAD token F1 (tokens of the normaliser, articles dropped) between
  the answer (markers stripped) and ``reference_answer``, answerable cases with a reference.
* ``answer_similarity``: cosine of the embeddings of the same two texts (set by the runner).
* ``context_recall``: cases with ``reference_contexts``: share of reference contexts covered
  by the retrieved passages. A context is covered when at least half of its distinct
  normalised tokens occur among the tokens of the concatenated top-k hit texts.
* ``refusal_accuracy``: share of unanswerable cases that were refused.
* ``false_refusal_rate``: share of answerable cases that were refused.
* ``latency_ms_p50`` / ``latency_ms_p95``: linear-interpolated percentiles of the wall time
  of every case that did not raise.
* ``lead_fact_rate``: answered (answered or partial) answerable cases with key facts: share
  whose text before the first citation marker holds a key fact.
* ``span_token_recall`` / ``span_contained``: answerable cases with ``answer_span``: share of
  the span's content words (tokens minus English stop words) among the answer's tokens, and
  whether the whole span occurs in the answer; a refused case scores 0 / no.
* ``median_answer_words``: median words of non-refused answers, markers stripped.
* ``partial_rate``: share of answerable cases whose status is ``partial``.
* ``generated_kept_share``, ``fallback_rate``, ``warnings_per_case``: cases whose answer has
  ``grounding`` (generative backends): kept / generated sentences (micro), share that fell
  back, mean warnings per case. None when no case has grounding.
* ``complemented_rate``: of generated answers shown (model called, not fallen back), the share
  that the extractive reader's sentences completed (``grounding.added`` > 0). Shown, not gated.
* ``judge_faithfulness``, ``judge_correctness``: set when a judge ran (:mod:`assistant.evals.judge`).

A case whose ``ask()`` raised counts as failed everywhere: no hits, no citations, no facts,
not refused, status null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assistant.evals.catalogue import LOWER_IS_BETTER, METRIC_NAMES, METRICS, status_of
from assistant.evals.matching import (
    citation_precision,
    context_covered,
    context_recall,
    cosine,
    distinct,
    fact_found,
    first_relevant_rank,
    match_facts,
    ndcg_at_k,
    normalise,
    span_found,
    strip_markers,
    token_f1,
    tokens,
)

if TYPE_CHECKING:
    from assistant.evals.dataset import EvalCase

__all__ = [
    "LOWER_IS_BETTER",
    "METRICS",
    "METRIC_NAMES",
    "STATUSES",
    "abstention",
    "aggregate",
    "by_tag",
    "citation_precision",
    "context_covered",
    "context_recall",
    "cosine",
    "distinct",
    "fact_found",
    "first_relevant_rank",
    "match_facts",
    "ndcg_at_k",
    "normalise",
    "percentile",
    "rounded",
    "score_case",
    "span_found",
    "status_of",
    "strip_markers",
    "token_f1",
    "tokens",
]

STATUSES = ("answered", "partial", "refused", "error")
"""Columns of the abstention matrix (``error``: the case raised)."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def score_case(
    case: EvalCase,
    *,
    answer_text: str,
    refused: bool,
    retrieved_doc_ids: Sequence[str],
    cited_doc_ids: Sequence[str],
    k: int | None = None,
    retrieved_texts: Sequence[str] = (),
    error: str | None = None,
    status: str | None = None,
    not_stated: Sequence[str] = (),
    grounding: dict[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The per-case record of the report, minus ``latency_ms``, ``answer_similarity``, ``citations``.

    Values that do not apply to the case are None. ``status`` defaults to ``refused`` /
    ``answered`` from ``refused``; ``refused`` is kept equal to ``status == "refused"``.
    ``passed`` is False when the case errored, an unanswerable case was answered, or an
    answerable one was refused, missed a key fact or (with source documents) retrieved none of
    them in the top k. Per-case values of the catalogue's metrics with a ``case_field``
    (``lead_fact``, ``span_contained``...) are added.
    """
    k = k if k is not None else len(retrieved_doc_ids)
    top = list(retrieved_doc_ids[:k])
    cited = distinct(cited_doc_ids)
    sources = list(case.source_doc_ids)
    if error is not None:
        status = None
    elif status not in ("answered", "partial", "refused"):
        status = "refused" if refused else "answered"
    refused = status == "refused"
    answerable = case.answerable
    judged = answerable and bool(sources)

    rank = first_relevant_rank(top, sources) if judged else None
    found, missing = match_facts(case.key_facts, answer_text)
    text = strip_markers(answer_text)
    record: dict[str, Any] = {
        "id": case.id,
        "question": case.question,
        "answer": answer_text,
        "refused": refused,
        "status": status,
        "not_stated": list(not_stated),
        "retrieved_doc_ids": top,
        "cited_doc_ids": cited,
        "hit": (rank is not None) if judged else None,
        "rank": rank,
        "key_facts_found": found,
        "key_facts_missing": missing,
        "answer_span": case.answer_span,
        "answerable": answerable,
        "tags": list(case.tags),
        "source_doc_ids": sources,
        "reciprocal_rank": (1.0 / rank if rank else 0.0) if judged else None,
        "ndcg": ndcg_at_k(top, sources, k) if judged else None,
        "cites_source": bool(set(cited) & set(sources)) if judged and not refused else None,
        "citation_precision": citation_precision(cited, sources) if judged and not refused else None,
        "key_fact_recall": len(found) / len(case.key_facts) if answerable and case.key_facts else None,
        "answer_token_f1": (
            token_f1(text, case.reference_answer) if answerable and case.reference_answer else None
        ),
        "context_recall": context_recall(case.reference_contexts, retrieved_texts[:k]),
        "refusal_correct": refused != answerable,
        "grounding": dict(grounding) if isinstance(grounding, dict) else None,
        "warnings": list(warnings),
        "error": error,
    }
    record["passed"] = error is None and (
        (not answerable and refused)
        or (answerable and not refused and not missing and record["hit"] is not False)
    )
    add_case_values(record)
    return record


def add_case_values(record: dict[str, Any]) -> None:
    """Store the per-case value of every catalogue metric that names a ``case_field``."""
    for metric in METRICS:
        if metric.case_field and metric.available([record]):
            record[metric.case_field] = metric.value(record)


def aggregate(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The ``metrics`` dict of a report for the given case records (see ``catalogue``)."""
    return {m.name: (m.aggregate(records) if m.available(records) else None) for m in METRICS}


def by_tag(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """``{tag: metrics}`` over the cases carrying each tag, tags sorted."""
    tags = sorted({t for r in records for t in r.get("tags") or ()})
    return {tag: aggregate([r for r in records if tag in (r.get("tags") or ())]) for tag in tags}


def abstention(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The abstention matrix: ``{"answerable"|"unanswerable": {answered, partial, refused, error}}``."""
    matrix = {row: dict.fromkeys(STATUSES, 0) for row in ("answerable", "unanswerable")}
    for r in records:
        row = "answerable" if r.get("answerable", True) else "unanswerable"
        matrix[row][status_of(r) or "error"] += 1
    return matrix


def rounded(metrics: dict[str, float | None], digits: int | None = None) -> dict[str, float | None]:
    """Metrics rounded for the report (rates to 4 digits, latencies and word counts to 0.1)."""
    out: dict[str, float | None] = {}
    for name, value in metrics.items():
        if value is None:
            out[name] = None
        else:
            places = METRICS[name].digits if name in METRICS else 4
            out[name] = round(value, digits if digits is not None and places == 4 else places)
    return out
