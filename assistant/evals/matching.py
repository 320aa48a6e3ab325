"""Text matching for eval metrics: one normaliser, key facts, answer spans, answer leads.

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
does not match inside ``tonnes``). ``span_found(span, answer)`` is the same test for one
answer span (a quoted passage: ``|`` is not an alternative separator there).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

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


def lead_text(text: str) -> str:
    """The part of an answer before its first citation marker (all of it when it has none)."""
    match = _MARKER_RE.search(text)
    return text[: match.start()] if match else text


def marker_numbers(text: str) -> list[int]:
    """The citation numbers of the markers in ``text``, in order (``[1-3]`` gives 1, 2, 3)."""
    numbers: list[int] = []
    for marker in _MARKER_RE.findall(text):
        for part in re.split(r"\s*[,;]\s*", marker[1:-1]):
            low, _, high = part.replace("\u2013", "-").partition("-")
            if high.strip():
                numbers.extend(range(int(low), int(high) + 1))
            else:
                numbers.append(int(low))
    return numbers


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


def span_found(span: str, answer_text: str) -> bool:
    """True when the tokens of ``span`` occur contiguously in ``answer_text`` (markers ignored)."""
    needle = normalise(span)
    return bool(needle) and f" {needle} " in f" {normalise(answer_text)} "


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


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """NLTK's English stop words, from the copy llama-index-core ships (no download)."""
    from llama_index.core.utils import globals_helper

    return frozenset(w.casefold() for w in globals_helper.stopwords)


def content_words(text: str) -> list[str]:
    """Distinct tokens of ``text`` that are not English stop words, in order of appearance.

    A text made only of stop words keeps all its tokens (so "to be or not to be" still counts).
    """
    toks = list(dict.fromkeys(tokens(text)))
    content = [t for t in toks if t not in stop_words()]
    return content or toks


def span_token_recall(span: str, answer_text: str) -> float | None:
    """Share of the span's content words that occur among the answer's tokens; None for an empty span."""
    words = content_words(span)
    if not words:
        return None
    have = set(tokens(answer_text))
    return sum(w in have for w in words) / len(words)


def answer_words(answer_text: str) -> int:
    """Words of an answer with its citation markers removed: whitespace-separated pieces that
    hold a letter or a digit (a full stop left alone by a removed marker is not a word)."""
    return sum(1 for w in strip_markers(answer_text).split() if any(ch.isalnum() for ch in w))


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
    """nDCG@k with binary relevance per distinct document (see :mod:`assistant.evals.metrics`)."""
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


def answer_sentences(text: str) -> list[tuple[str, list[int]]]:
    """An answer cut into sentences: ``[(sentence without markers, its citation numbers)]``.

    A marker group that opens a sentence (``"… end. [1] Next …"``) belongs to the sentence
    before it, as extractive answers place markers after the full stop.
    """
    pieces = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p.strip()]
    merged: list[str] = []
    for piece in pieces:
        lead = re.match(rf"^(?:{_MARKER_RE.pattern}\s*)+", piece)
        if lead and merged:
            merged[-1] += " " + lead.group(0).strip()
            piece = piece[lead.end() :]
        if piece.strip():
            merged.append(piece.strip())
    out = []
    for sentence in merged:
        plain = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(strip_markers(sentence).split()))
        if plain:
            out.append((plain, marker_numbers(sentence)))
    return out
