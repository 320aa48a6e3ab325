"""The support check: is a sentence stated by the passage it cites?

:func:`check_support` is the whole rule, for any generated sentence and any passage. A sentence is
supported by a passage when all of these hold:

1. **Specific terms**: every name, acronym and figure of the sentence (capitalised words after the
   first, all-capital words, numbers; "nine" counts as "9") occurs in the passage or the title and
   date shown with it. A sentence naming an official or a figure the passage does not hold is not
   supported, however close its wording.
2. **Asked-for items**: every term the sentence shares with the question occurs in the passage:
   a sentence about the asked subject must cite a passage about that subject.
3. **Coverage**: at least :attr:`GroundingWeights.min_coverage` of the sentence's content terms
   (stop words removed, Snowball-stemmed) occur in the passage.
4. **Similarity**: the embedding cosine between the sentence and its best-matching window of the
   passage (one sentence, or up to :attr:`GroundingWeights.window` consecutive sentences) reaches
   :attr:`GroundingWeights.min_similarity`. That window is the citation's quote.

The thresholds are calibrated by ``benchmarks/grounding_calibration.py`` on supported and
unsupported sentence/passage pairs made from a corpus; its result file records how.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from assistant.answer.base import WORD, content_words, specific_terms
from assistant.chunking import sentence_spans


@dataclass(frozen=True)
class GroundingWeights:
    """The support check's tunable numbers (see the module docstring for the rule)."""

    min_similarity: float = 0.62
    """Cosine (all-MiniLM-L6-v2, normalised) between the sentence and its best passage window.
    Calibrated on sentence/passage pairs (``benchmarks/grounding_calibration.py``)."""
    min_coverage: float = 0.6
    """Share of the sentence's content terms that must occur in the passage."""
    window: int = 2
    """Consecutive passage sentences compared as one window (a sentence may join two)."""


WEIGHTS = GroundingWeights()

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer, installed with bm25s (LlamaIndex's BM25 retriever)

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    w = word.lower().strip("'’.")
    w = _NUMBER_WORDS.get(w, w)
    if w[:1].isdigit():
        return _figure(w)
    return str(_stemmer().stemWord(w))


def _figure(token: str) -> str:
    """A number as compared: thousands separators and a trailing ``.0`` dropped ("1,200" = "1200")."""
    t = token.replace(",", "").rstrip(".")
    return t[:-2] if t.endswith(".0") else t


def terms(text: str) -> set[str]:
    """Stemmed content terms of ``text``; hyphenated words count as their parts as well."""
    out: set[str] = set()
    for w in content_words(text):
        out.add(_stem(w))
        if "-" in w:
            out.update(_stem(p) for p in w.split("-") if len(p) > 1)
    return out


def specifics(text: str) -> set[str]:
    """The names, acronyms and figures of ``text``, stemmed like :func:`terms`."""
    out = {_stem(t) for t in specific_terms(text)}
    out |= {_stem(w) for w in WORD.findall(text) if w[0].isdigit() or w.lower() in _NUMBER_WORDS}
    return {t for t in out if t}


@dataclass
class Support:
    """What :func:`check_support` found. ``quote``: span of the best-matching passage window;
    ``missing``: the sentence's specific or asked-for terms the passage lacks; ``reason``: why it
    is not supported ("" when it is)."""

    supported: bool
    similarity: float = 0.0
    coverage: float = 0.0
    missing: list[str] = field(default_factory=list)
    quote: tuple[int, int] = (0, 0)
    reason: str = ""


def windows(passage: str, size: int) -> list[tuple[int, int]]:
    """Spans of each sentence of ``passage`` and of each run of up to ``size`` consecutive ones."""
    spans = sentence_spans(passage) or [(0, len(passage))]
    out: list[tuple[int, int]] = []
    for i in range(len(spans)):
        for j in range(i, min(i + size, len(spans))):
            out.append((spans[i][0], spans[j][1]))
    return out


def best_match(
    sentence: str, passage: str, embedder: Any, size: int = WEIGHTS.window
) -> tuple[float, tuple[int, int]]:
    """The cosine of ``sentence`` with its most similar window of ``passage``, and that window."""
    spans = windows(passage, size)
    vecs = embedder.encode_cached([sentence] + [passage[a:b] for a, b in spans])
    sims = np.asarray(vecs[1:]) @ np.asarray(vecs[0])
    best = int(np.argmax(sims))
    return float(sims[best]), spans[best]


def check_support(
    sentence: str,
    passage: str,
    question: str,
    embedder: Any,
    *,
    meta: str = "",
    weights: GroundingWeights = WEIGHTS,
) -> Support:
    """Whether ``passage`` (shown with the title and date in ``meta``) supports ``sentence`` (its
    citation markers removed), for an answer to ``question``. Rule in the module docstring."""
    source = terms(passage) | terms(meta)
    claim = terms(sentence)
    if not claim:
        return Support(False, reason="it states nothing")
    own = specifics(sentence)
    source_specifics = source | specifics(passage) | specifics(meta)
    missing = sorted(t for t in own if t not in source_specifics)
    asked = sorted(t for t in (claim & terms(question)) if t not in source and t not in missing)
    coverage = len(claim & source) / len(claim)
    if missing or asked:
        shown = [_surface(t, sentence) for t in missing + asked]
        return Support(
            False, coverage=coverage, missing=shown, reason=f"{', '.join(shown)} not in the passage"
        )
    if coverage < weights.min_coverage:
        return Support(
            False, coverage=coverage, reason=f"only {coverage:.0%} of its words are in the passage"
        )
    similarity, span = best_match(sentence, passage, embedder, weights.window)
    if similarity < weights.min_similarity:
        return Support(
            False,
            similarity=similarity,
            coverage=coverage,
            quote=span,
            reason=f"no passage sentence says it (similarity {similarity:.2f})",
        )
    return Support(True, similarity=similarity, coverage=coverage, quote=span)


def _surface(term: str, sentence: str) -> str:
    """The word of ``sentence`` that ``term`` was stemmed from (for messages)."""
    for w in WORD.findall(sentence):
        if _stem(re.sub(r"['’]s$", "", w)) == term:
            return w
    return term
