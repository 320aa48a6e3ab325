"""Text matching and the metrics of an eval report (definitions of ``INTERFACE.md``).

Matching
--------
``normalise(text)`` turns text into a space-joined sequence of tokens:

* Unicode NFKC, case folded; invisible format characters (soft hyphen, word joiner,
  zero-width space) removed; curly quotes made straight; citation markers ``[1]``,
  ``[1, 2]`` removed.
* Dotted abbreviations lose their dots: ``U.S.`` and ``US`` both become ``us``.
* Tokens are runs of letters, numbers, or one of the symbols ``% $ € £ ¥ ° § & + < > =``.
  Everything else (hyphens, en and em dashes, slashes, quotes, brackets, sentence
  punctuation) separates tokens, so ``rare-earth``, ``rare earth`` and the en-dash spelling are equal.
* A number keeps the commas and dots between its digits: ``270,000`` and ``3.5`` are single
  tokens, so ``270,000`` matches neither ``270000`` nor ``270 000``, and ``9`` never matches
  inside ``1990`` or ``9.5``. ``69%`` is ``69 %`` and does not match ``69 percent``: write
  ``"69%|69 percent"`` to accept both.

``fact_found(fact, answer)`` is true when, for any ``|``-separated alternative of the fact,
its token sequence occurs contiguously in the answer's tokens (token boundaries, so ``ton``
does not match inside ``tonnes``).

Metrics
-------
Per-case values are computed by :func:`score_case`; :func:`aggregate` averages them.
A metric with no eligible case is ``None`` (``null`` in JSON), never 0: "nothing to
measure" must not read as "measured and failed". Eligibility:

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
* ``answer_token_f1``: SQuAD token F1 (tokens of :func:`normalise`, articles dropped) between
  the answer (markers stripped) and ``reference_answer``, answerable cases with a reference.
* ``answer_similarity``: cosine of the embeddings of the same two texts (set by the runner).
* ``context_recall``: cases with ``reference_contexts``: share of reference contexts covered
  by the retrieved passages. A context is covered when at least half of its distinct
  normalised tokens occur among the tokens of the concatenated top-k hit texts.
* ``refusal_accuracy``: share of unanswerable cases that were refused.
* ``false_refusal_rate``: share of answerable cases that were refused.
* ``latency_ms_p50`` / ``latency_ms_p95``: linear-interpolated percentiles of the wall time
  of every case that did not raise.

A case whose ``ask()`` raised counts as failed everywhere: no hits, no citations, no facts,
not refused.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.evals.dataset import EvalCase

METRIC_NAMES: tuple[str, ...] = (
    "hit_rate",
    "mrr",
    "ndcg",
    "citation_precision",
    "citation_recall",
    "key_fact_recall",
    "answer_token_f1",
    "answer_similarity",
    "context_recall",
    "refusal_accuracy",
    "false_refusal_rate",
    "latency_ms_p50",
    "latency_ms_p95",
)
"""Every metric of ``report["metrics"]`` and of each ``report["by_tag"][tag]``, in order."""

LOWER_IS_BETTER: frozenset[str] = frozenset({"false_refusal_rate", "latency_ms_p50", "latency_ms_p95"})

_MARKER_RE = re.compile(r"\[\d+(?:\s*[,;\u2013-]\s*\d+)*\]")
_LETTER = r"[^\W\d_]"
_ABBREV_RE = re.compile(rf"(?<!\w){_LETTER}(?:\.{_LETTER})+(?!\w)\.?")
_TOKEN_RE = re.compile(rf"\d+(?:[.,]\d+)*|{_LETTER}+|[%$€£¥°§&+<>=]")
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
    }
)
_ARTICLES = frozenset({"a", "an", "the"})


def strip_markers(text: str) -> str:
    """Remove citation markers such as ``[1]``, ``[2, 3]`` or ``[1-3]`` from ``text``."""
    return _MARKER_RE.sub(" ", text)


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` after normalisation (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = strip_markers(text.translate(_QUOTES)).casefold()
    text = _ABBREV_RE.sub(lambda m: m.group(0).replace(".", ""), text)
    return _TOKEN_RE.findall(text)


def normalise(text: str) -> str:
    """Case-folded, punctuation-normalised ``text``: its tokens joined by single spaces."""
    return " ".join(tokens(text))


def fact_found(fact: str, answer_text: str) -> bool:
    """True when any ``|``-separated alternative of ``fact`` occurs in ``answer_text``.

    Matching is on whole tokens after :func:`normalise`; citation markers in the answer are
    ignored. An alternative that normalises to nothing (``"-"``) never matches.
    """
    haystack = f" {normalise(answer_text)} "
    for alternative in fact.split("|"):
        needle = normalise(alternative)
        if needle and f" {needle} " in haystack:
            return True
    return False


def match_facts(facts: Iterable[str], answer_text: str) -> tuple[list[str], list[str]]:
    """Split ``facts`` into ``(found, missing)`` for ``answer_text``, keeping their order."""
    found: list[str] = []
    missing: list[str] = []
    for fact in facts:
        (found if fact_found(fact, answer_text) else missing).append(fact)
    return found, missing


def first_relevant_rank(retrieved_doc_ids: Sequence[str], source_doc_ids: Iterable[str]) -> int | None:
    """1-based position of the first retrieved passage from a source document, or None."""
    sources = set(source_doc_ids)
    for position, doc_id in enumerate(retrieved_doc_ids, start=1):
        if doc_id in sources:
            return position
    return None


def distinct(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in order of first appearance."""
    return list(dict.fromkeys(items))


def ndcg_at_k(retrieved_doc_ids: Sequence[str], source_doc_ids: Iterable[str], k: int) -> float:
    """nDCG@k with binary relevance per distinct document (see the module docstring)."""
    sources = set(source_doc_ids)
    if not sources or k < 1:
        return 0.0
    ranking = distinct(retrieved_doc_ids[:k])
    dcg = sum(1.0 / math.log2(i + 1) for i, doc in enumerate(ranking, start=1) if doc in sources)
    idcg = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(sources), k) + 1))
    return dcg / idcg


def citation_precision(cited_doc_ids: Iterable[str], source_doc_ids: Iterable[str]) -> float | None:
    """Share of distinct cited documents that are source documents; None when nothing is cited."""
    cited = set(cited_doc_ids)
    if not cited:
        return None
    return len(cited & set(source_doc_ids)) / len(cited)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 between two texts (normalised tokens, articles dropped)."""
    pred = [t for t in tokens(prediction) if t not in _ARTICLES]
    ref = [t for t in tokens(reference) if t not in _ARTICLES]
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def context_covered(context: str, retrieved_tokens: set[str]) -> bool:
    """True when at least half of the distinct tokens of ``context`` are in ``retrieved_tokens``."""
    needed = set(tokens(context))
    if not needed:
        return True
    return len(needed & retrieved_tokens) / len(needed) >= 0.5


def context_recall(reference_contexts: Sequence[str], retrieved_texts: Iterable[str]) -> float | None:
    """Share of ``reference_contexts`` covered by the retrieved texts; None without contexts."""
    if not reference_contexts:
        return None
    have = set(tokens(" ".join(retrieved_texts)))
    return sum(context_covered(c, have) for c in reference_contexts) / len(reference_contexts)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
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
) -> dict[str, Any]:
    """The per-case record of the report, minus ``latency_ms``, ``answer_similarity``, ``citations``.

    Values that do not apply to the case are None. ``passed`` is False when the case errored,
    an unanswerable case was answered, or an answerable one was refused, missed a key fact or
    (with source documents) retrieved none of them in the top k.
    """
    k = k if k is not None else len(retrieved_doc_ids)
    top = list(retrieved_doc_ids[:k])
    cited = distinct(cited_doc_ids)
    sources = list(case.source_doc_ids)
    refused = bool(refused) and error is None
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
        "retrieved_doc_ids": top,
        "cited_doc_ids": cited,
        "hit": (rank is not None) if judged else None,
        "rank": rank,
        "key_facts_found": found,
        "key_facts_missing": missing,
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
        "error": error,
    }
    record["passed"] = error is None and (
        (not answerable and refused)
        or (answerable and not refused and not missing and record["hit"] is not False)
    )
    return record


def _mean(values: Iterable[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def aggregate(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The ``metrics`` dict of a report for the given case records (see the module docstring)."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    cited_judged = [r for r in answerable if r.get("cites_source") is not None]
    n_cited = sum(len(set(r["cited_doc_ids"])) for r in cited_judged)
    n_cited_sources = sum(
        len(set(r["cited_doc_ids"]) & set(r.get("source_doc_ids") or ())) for r in cited_judged
    )
    latencies = [r["latency_ms"] for r in records if not r.get("error") and r.get("latency_ms") is not None]
    return {
        "hit_rate": _mean(r["hit"] for r in records),
        "mrr": _mean(r.get("reciprocal_rank") for r in records),
        "ndcg": _mean(r.get("ndcg") for r in records),
        "citation_precision": n_cited_sources / n_cited if n_cited else None,
        "citation_recall": _mean(r["cites_source"] for r in cited_judged),
        "key_fact_recall": _mean(r.get("key_fact_recall") for r in records),
        "answer_token_f1": _mean(r.get("answer_token_f1") for r in records),
        "answer_similarity": _mean(r.get("answer_similarity") for r in records),
        "context_recall": _mean(r.get("context_recall") for r in records),
        "refusal_accuracy": _mean(r["refused"] for r in unanswerable),
        "false_refusal_rate": _mean(r["refused"] for r in answerable),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
    }


def by_tag(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """``{tag: metrics}`` over the cases carrying each tag, tags sorted."""
    tags = sorted({t for r in records for t in r.get("tags") or ()})
    return {tag: aggregate([r for r in records if tag in (r.get("tags") or ())]) for tag in tags}


def rounded(metrics: dict[str, float | None], digits: int = 4) -> dict[str, float | None]:
    """Metrics rounded for the report (latencies to 0.1 ms)."""
    out: dict[str, float | None] = {}
    for name, value in metrics.items():
        if value is None:
            out[name] = None
        else:
            out[name] = round(value, 1 if name.startswith("latency") else digits)
    return out
