"""The support check: is a sentence stated by the passage it cites?

:func:`check_support` is the whole rule, for any generated sentence and any passage. A sentence is
supported by a passage (read with the title, publisher and date shown with it) when all hold:

1. **Specific terms**: every name, acronym and figure of the sentence (capitalised words after the
   first, all-capital words, numbers; "nine" counts as "9", "U.S." as "US") occurs in the passage.
   An acronym also matches the words it abbreviates ("DOE" = "Department of Energy") and the
   other way round.
2. **Asked-for items**: every name or figure of the question that the sentence repeats occurs in
   the passage (however the sentence writes it): a sentence about the asked subject must cite a
   passage about that subject.
3. **Other words**: at most :attr:`GroundingWeights.max_absent` content words of the sentence are
   missing from the passage, and only common ones: a single piece of cl100k_base, the
   general-purpose BPE vocabulary of tiktoken (a corpus-independent proxy for word frequency:
   "described" is one piece, "gallium" two). A domain word swapped in fails.
4. **Coverage**: at least :attr:`GroundingWeights.min_coverage` of the sentence's content terms
   (stop words removed, Snowball-stemmed) occur in the passage.
5. **Similarity**: the embedding cosine between the sentence and that window reaches
   :attr:`GroundingWeights.min_similarity`.

"The passage" in 1-4 is one window of it (a sentence, or up to :attr:`GroundingWeights.window`
consecutive ones): the window that holds most of the sentence's terms, which becomes the
citation's quote. A sentence spliced from distant parts of a passage is therefore not supported.

The numbers are calibrated by ``benchmarks/grounding_calibration.py`` on supported and unsupported
sentence/passage pairs made from a corpus; its result file records how and what they give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from assistant.answer.base import STOPWORDS, WORD, specific_terms
from assistant.chunking import count_tokens, sentence_spans


@dataclass(frozen=True)
class GroundingWeights:
    """The support check's tunable numbers (see the module docstring for the rule)."""

    min_similarity: float = 0.70
    """Cosine (all-MiniLM-L6-v2, normalised) between the sentence and its best passage window."""
    min_coverage: float = 0.6
    """Share of the sentence's content terms that must occur in the passage."""
    window: int = 2
    """Consecutive passage sentences compared as one window (a sentence may join two)."""
    common_pieces: int = 1
    """A content word the passage lacks may be tolerated only if cl100k_base encodes it (with its
    leading space) in at most this many pieces."""
    max_absent: int = 1
    """Content words of the sentence the passage may lack (a verb of the model's own: "rose")."""
    min_restated: float = 1.0
    """A passage sentence counts as restated by a text (:func:`restated`) when the text holds all
    its names and figures and at least this share of its content terms (1: all of them, so a
    swapped verb, "fell" for "rose", is no restatement)."""


WEIGHTS = GroundingWeights()

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_DOTTED = re.compile(r"\b(?:[A-Z]\.){2,}")  # "U.S." -> "US"
_JOINERS = frozenset({"of", "and", "for", "the", "on", "&"})
_MAX_EXPANSION = 6  # words an acronym may stand for


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


def _clean(text: str) -> str:
    return _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)


def _words(text: str) -> dict[str, str]:
    """Stemmed content terms of ``text`` -> the word each came from (as written); a hyphenated
    word counts as itself and as its parts."""
    out: dict[str, str] = {}
    for raw in WORD.findall(_clean(text)):
        word = re.sub(r"['’]s$", "", raw).strip("'’")
        if not word or word.lower() in STOPWORDS:
            continue
        out.setdefault(_stem(word), word)
        if "-" in word:
            for part in word.split("-"):
                if len(part) > 1 and part.lower() not in STOPWORDS:
                    out.setdefault(_stem(part), part)
    return out


def terms(text: str) -> set[str]:
    """Stemmed content terms of ``text`` (see :func:`_words`)."""
    return set(_words(text))


def specifics(text: str) -> set[str]:
    """The names, acronyms and figures of ``text``, stemmed like :func:`terms`."""
    text = _clean(text)
    out = {_stem(t) for t in specific_terms(text)}
    out |= {_stem(w) for w in WORD.findall(text) if w[0].isdigit() or w.lower() in _NUMBER_WORDS}
    return {t for t in out if t}


def restated(sentence: str, text: str, weights: GroundingWeights = WEIGHTS) -> bool:
    """Whether ``text`` already says what ``sentence`` says: every name (a capitalised word, the
    first included) and figure of the sentence and at least :attr:`GroundingWeights.min_restated`
    of its content terms occur in ``text`` (stemmed, as in :func:`check_support`)."""
    own = terms(sentence)
    if not own:
        return True
    have = terms(text) | specifics(text)
    capitalised = {t for t, word in _words(sentence).items() if word[:1].isupper()}
    if not (specifics(sentence) | capitalised) <= have:
        return False
    return len(own & have) / len(own) >= weights.min_restated


def _initial(word: str) -> str:
    """What a word gives to an acronym: its first letter, or all of an acronym ("US" in "US Geological
    Survey" gives "us", so the whole spells "usgs")."""
    return word.lower() if len(word) > 1 and word.isupper() else word[0].lower()


@lru_cache(maxsize=4096)
def _initialisms(text: str) -> frozenset[str]:
    """Lower-cased initials of every run of 2 to 6 words of ``text``, joiners ("of", "and") kept
    and left out: "Department of Energy" gives "doe" and "de"."""
    words = re.findall(r"[A-Za-z][A-Za-z'’]*", _clean(text).replace("-", " "))
    out: set[str] = set()
    for i in range(len(words)):
        for j in range(i + 2, min(i + _MAX_EXPANSION, len(words)) + 1):
            run = words[i:j]
            if run[0].lower() in _JOINERS or run[-1].lower() in _JOINERS:
                continue
            out.add("".join(_initial(w) for w in run))
            out.add("".join(_initial(w) for w in run if w.lower() not in _JOINERS))
    return frozenset(out)


def _expanded_runs(sentence: str, acronyms: set[str]) -> set[str]:
    """Stems of the sentence's capitalised word runs that spell one of ``acronyms`` (the
    sentence says "Department of Energy" where the passage says "DOE")."""
    found: set[str] = set()
    words = re.findall(r"[A-Za-z][A-Za-z'’]*", _clean(sentence).replace("-", " "))
    for i in range(len(words)):
        for j in range(i + 2, min(i + _MAX_EXPANSION, len(words)) + 1):
            run = words[i:j]
            if not run[0][0].isupper() or not run[-1][0].isupper():
                continue
            spelled = {
                "".join(_initial(w) for w in run),
                "".join(_initial(w) for w in run if w.lower() not in _JOINERS),
            }
            if spelled & acronyms:
                found |= {_stem(w) for w in run if w.lower() not in _JOINERS}
    return found


@dataclass
class Support:
    """What :func:`check_support` found. ``quote``: span of the best-matching passage window;
    ``missing``: the sentence's words the passage lacks that decide the verdict; ``reason``: why
    it is not supported ("" when it is)."""

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
    """Whether ``passage`` (shown with the title, publisher and date in ``meta``) supports
    ``sentence`` (its citation markers removed), for an answer to ``question``. Rule in the
    module docstring: the terms are looked up in the window of the passage that holds most of
    them, so a sentence spliced from distant parts of a passage is not supported."""
    claim = _words(sentence)
    if not claim:
        return Support(False, reason="it states nothing")
    own = specifics(sentence)
    asked_for = set(claim) & specifics(question)
    spans = windows(passage, weights.window)
    best: tuple[tuple[int, int, int, int], list[str], list[str], list[str], int] | None = None
    for i, (a, b) in enumerate(spans):
        context = f"{meta}\n{passage[a:b]}"
        source = terms(context) | specifics(context)
        source |= _expanded_runs(
            sentence, {w.lower() for w in re.findall(r"\b[A-Z]{2,}s?\b", _clean(context))}
        )
        spelled = _initialisms(context)

        def found(term: str, source: set[str] = source, spelled: frozenset[str] = spelled) -> bool:
            word = claim.get(term, "")
            if "-" in word:  # "sea-level" is stated by "sea level"
                parts = [_stem(p) for p in word.split("-") if len(p) > 1 and p.lower() not in STOPWORDS]
                if parts and all(p in source for p in parts):
                    return True
            return term in source or (word.isupper() and term in spelled)

        missing = sorted(t for t in own | asked_for if not found(t))
        absent = [t for t in claim if not found(t) and t not in missing]
        rare = [t for t in absent if count_tokens(" " + claim[t]) > weights.common_pieces]
        key = (len(missing), len(rare), len(absent), b - a)  # then the shortest window
        if best is None or key < best[0]:
            best = (key, missing, rare, absent, i)
    assert best is not None
    _key, missing, rare, absent, i = best
    span = spans[i]
    coverage = 1 - (len(missing) + len(absent)) / len(claim)
    if missing:
        shown = [claim.get(t, t) for t in missing]
        return Support(
            False,
            coverage=coverage,
            missing=shown,
            quote=span,
            reason=f"{', '.join(shown)} not in the passage",
        )
    if rare or len(absent) > weights.max_absent:
        shown = [claim[t] for t in (rare or absent)]
        return Support(
            False,
            coverage=coverage,
            missing=shown,
            quote=span,
            reason=f"{', '.join(shown)} not in the passage",
        )
    if coverage < weights.min_coverage:
        return Support(
            False,
            coverage=coverage,
            quote=span,
            reason=f"only {coverage:.0%} of its words are in the passage",
        )
    vecs = embedder.encode_cached([sentence, passage[span[0] : span[1]]])
    similarity = float(np.asarray(vecs[0]) @ np.asarray(vecs[1]))
    if similarity < weights.min_similarity:
        return Support(
            False,
            similarity=similarity,
            coverage=coverage,
            quote=span,
            reason=f"the passage does not say it (similarity {similarity:.2f})",
        )
    return Support(
        True, similarity=similarity, coverage=coverage, missing=[claim[t] for t in absent], quote=span
    )
