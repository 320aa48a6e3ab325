"""Answerability: which aspects of a question the passages support.

An aspect is supported only when some unit both matches it (the scoring model's probability,
which weighs term coverage, names and figures matched and similarity, reaches the calibrated
``support`` threshold) and holds the kind of thing it asks for: no figure, no answer to "how
much"; no date, no answer to "when". A name or figure of the aspect that occurs nowhere in the
corpus weighs against it, and a year it is about ("… in 2017?") must be one that the document of
some eligible unit speaks of (in its retrieved passages, title or date). An aspect that names
something whose words no chunk of the corpus holds together (``Retrieval.unknown_names``: "the
Kell Basin Authority" where the corpus speaks of Kell and of basins, never of that authority) is
about what the documents never discuss, and is unsupported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from assistant.answer.kinds import TYPED, holds
from assistant.answer.reader import Reading
from assistant.answer.scoring import FEATURES, Context
from assistant.answer.text import YEAR, terms
from assistant.answer.weights import ReaderWeights
from assistant.loaders.tables import row_label

# Features of an aspect's best eligible unit and of the best anywhere among the units; a
# logistic model over them (fitted by evals/tools/fit_reader.py on answerable against
# unanswerable development questions) gives the probability that the passages answer the aspect.
ANSWERABILITY_FEATURES: tuple[str, ...] = (
    "prob",  # the scoring model's probability for the best eligible unit
    "sim",
    "lex",
    "lex_context",
    "specific",
    "specific_context",
    "phrase",
    "max_sim",  # the best of each over all units
    "max_lex",
    "max_specific",
    "max_phrase",
    "passage_lex",  # share of the aspect's terms in the best unit's passage and document title
    "max_passage_lex",  # ... in the best-covering passage
    "terms",  # log of the aspect's term count (long questions cover less of themselves)
    "typed",  # the aspect asks for a kind that must be held
    "figures_match",  # the aspect's figures and years in the best unit or its headers
    "max_figures_match",
    "unknown",  # share of the aspect's names and figures found nowhere in the corpus
    "names",  # share of the question's multi-word names found whole in a passage or a title
)
_COLUMNS = ("sim", "lex", "lex_context", "specific", "specific_context", "phrase")


@dataclass(frozen=True)
class Support:
    """Per aspect: its best eligible unit (index into ``Reading.units``, or -1), the probability
    that the passages answer it, and whether the aspect counts as supported."""

    best: int
    prob: float
    supported: bool


def eligible(reading: Reading, j: int) -> np.ndarray:
    """Units that hold the kind aspect ``j`` asks for (all units for untyped kinds)."""
    aspect = reading.question.aspects[j]
    if aspect.kind not in TYPED:
        return np.ones(len(reading.units), dtype=bool)
    return np.array([holds(u.text, aspect.kind, aspect.text) for u in reading.units], dtype=bool)


def aspect_features(reading: Reading, j: int, best: int) -> np.ndarray:
    """:data:`ANSWERABILITY_FEATURES` of aspect ``j`` with ``best`` as its best eligible unit."""
    f = reading.features[j]
    col = {name: FEATURES.index(name) for name in _COLUMNS}
    own = [float(reading.prob[j, best])] + [float(f[best, col[c]]) for c in _COLUMNS]
    anywhere = [float(f[:, col[c]].max()) for c in ("sim", "lex", "specific", "phrase")]
    aspect = reading.question.aspects[j]
    ctx = reading.context
    assert ctx is not None
    covered = [
        _coverage(aspect.terms, ctx.passage_terms[i] | ctx.title_terms.get(p.doc_id, frozenset()), ctx)
        for i, p in enumerate(reading.passages)
    ]
    passage = [covered[reading.units[best].hit], max(covered)]
    fig = FEATURES.index("figures_match")
    return np.array(
        [
            *own,
            *anywhere,
            *passage,
            math.log1p(len(aspect.terms)),
            float(aspect.kind in TYPED),
            float(f[best, fig]),
            float(f[:, fig].max()),
            (len(aspect.specific & reading.unknown) / len(aspect.specific)) if aspect.specific else 0.0,
            reading.names_found,
        ]
    )


def _coverage(wanted: frozenset[str], have: frozenset[str], ctx: Context) -> float:
    if not wanted:
        return 1.0
    return sum(ctx.rarity(t) for t in wanted if t in have) / sum(ctx.rarity(t) for t in wanted)


def answerable_probability(features: np.ndarray, weights: ReaderWeights) -> float:
    """The answerability model's probability for one aspect's features."""
    w = np.array([weights.answerability.get(n, 0.0) for n in ANSWERABILITY_FEATURES])
    z = float(features @ w + weights.answerability_intercept)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def assess(reading: Reading, weights: ReaderWeights) -> list[Support]:
    """The support of every aspect of ``reading.question``."""
    out: list[Support] = []
    named: dict[str, set[str]] | None = None  # the years each document names, read when first needed
    for j, aspect in enumerate(reading.question.aspects):
        ok = eligible(reading, j)
        if not ok.any():
            out.append(Support(-1, 0.0, False))
            continue
        best = _best(reading, j, ok, weights)
        p = answerable_probability(aspect_features(reading, j, best), weights)
        if _names_absent(reading, j):
            p = 0.0
        # a year the aspect is about ("… in 2019?") must be one some eligible unit's document speaks of
        years = set(YEAR.findall(aspect.text)) if aspect.kind != "date" else set()
        if years:
            named = _doc_years(reading) if named is None else named  # it reads every passage
            if not any(
                years & named[reading.passages[reading.units[i].hit].doc_id] for i in np.flatnonzero(ok)
            ):
                p = 0.0
        # a clause that follows a supported one and leans on it ("…, and which company runs it?")
        # has few words of its own to match: it needs less, as long as something holds its kind
        follow_on = j > 0 and any(s.supported for s in out) and (aspect.refers_back or len(aspect.terms) <= 2)
        out.append(Support(best, p, p >= (weights.follow_on_support if follow_on else weights.support)))
    return out


def _names_absent(reading: Reading, j: int) -> bool:
    """Whether aspect ``j`` names something no chunk of the corpus holds."""
    if not reading.unknown_names:
        return False
    aspect = reading.question.aspects[j]
    text = " ".join(f"{aspect.text} {aspect.query}".lower().split())
    return any(" ".join(name.lower().split()) in text for name in reading.unknown_names)


def _best(reading: Reading, j: int, ok: np.ndarray, weights: ReaderWeights) -> int:
    """Aspect ``j``'s best eligible unit: the most probable, unless a table row whose label holds a
    name the aspect names scores nearly as well and the best is no such row (the row is about what
    is asked; a sentence may name it in passing)."""
    best = int(np.argmax(np.where(ok, reading.prob[j], -1.0)))
    names = frozenset(t for t in reading.question.aspects[j].specific if not t[:1].isdigit())
    if not names:
        return best
    rows = ok & np.array([bool(names & _label_terms(u.text)) for u in reading.units], dtype=bool)
    if not rows.any() or rows[best]:
        return best
    i = int(np.argmax(np.where(rows, reading.prob[j], -1.0)))
    return i if reading.prob[j, i] >= weights.named_row * reading.prob[j, best] else best


@lru_cache(maxsize=4096)  # every unit is parsed for each aspect that names something
def _label_terms(text: str) -> frozenset[str]:
    """The content terms of a table row's label (none for a unit that is no row)."""
    return frozenset(terms(row_label(text)))


def _doc_years(reading: Reading) -> dict[str, set[str]]:
    """The years each document's retrieved passages, title and date name."""
    out: dict[str, set[str]] = {}
    for p in reading.passages:
        out.setdefault(p.doc_id, set()).update(YEAR.findall(f"{p.text} {p.title} {p.date or ''}"))
    return out
