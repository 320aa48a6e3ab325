"""Scoring: how likely each candidate unit is to hold the answer to each aspect.

Each (unit, aspect) pair gets a vector of general features: embedding similarity, rarity-weighted
term coverage in the unit and in its context (the unit before it, its section heading, the
document title), names and figures matched, phrase (bigram) overlap, whether the unit holds the
kind of thing asked for, the passage's and document's retrieval rank and score, the unit's
shape, and whether another document repeats it word for word (boilerplate). A linear model over
them (coefficients in :mod:`assistant.answer.weights`, fitted on development sets by
``evals/tools/fit_reader.py`` to rank a question's units, then calibrated) turns them into a
probability.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.answer.analysis import Aspect, Question
from assistant.answer.candidates import Candidate
from assistant.answer.kinds import TYPED, kind_count, kind_spans
from assistant.answer.text import MONTHS, YEAR, bigrams, numbers, terms, word_count
from assistant.answer.weights import ReaderWeights
from assistant.types import Hit

FEATURES: tuple[str, ...] = (
    "sim",  # cosine of the unit and the aspect
    "sim_question",  # cosine of the unit and the whole question
    "lex",  # rarity-weighted share of the aspect's terms in the unit
    "lex_context",  # ... in the unit, the unit before it, its section heading and the document title
    "specific",  # share of the aspect's names and figures in the unit, minus the units' mean
    "specific_context",  # ... in the unit's passage or the document title
    "phrase",  # share of the aspect's term pairs (bigrams) in the unit
    "holds",  # the unit holds the kind asked for (a date for "when", a figure for "how many")
    "typed_holds",  # holds, for a kind that must be held (person, date, figures …)
    "typed_misses",  # does not hold it, for such a kind
    "passage_rank",  # 1 / retrieval rank of the unit's passage (0: a neighbouring passage)
    "doc_rank",  # 1 / retrieval rank of the unit's document
    "doc_score",  # fused retrieval score of the document, relative to the best
    "title_match",  # share of the question's terms in the document title and publisher
    "date_match",  # the question names the document's date: 1 for month and year, 0.5 for the year
    "kind_count",  # log of how many things of the asked kind the unit holds
    "figures_match",  # the aspect's figures and years are in the unit or its headers (1 when it has none)
    "novelty",  # share of the unit's terms the question lacks (an answer adds something)
    "length",  # log of the unit's words
    "row",  # a table row (scored with its headers)
    "list",  # a lead-in with its items
    "digits",  # share of the unit's tokens that are figures
    "capitals",  # share of the unit's words that are capitalised (names, references)
    # each of these minus its best value among the units: how a unit compares with the others
    "sim_gap",
    "lex_gap",
    "lex_context_gap",
    "phrase_gap",
    "passage_lex",  # rarity-weighted share of the aspect's terms in the unit's passage
    "proximity",  # 1 / (1 + words between a thing of the asked kind and the nearest matched term)
    "passage_dense",  # the dense retrieval similarity of the unit's passage (0 when none)
    "date_gap",  # date_match minus the best date_match of any document (the named document: 0)
    "title_gap",  # title_match minus the best of any document
    "repeated",  # the unit's words recur verbatim in another document's passage (boilerplate)
)
CHEAP: tuple[str, ...] = tuple(f for f in FEATURES if not f.startswith("sim"))
_GAPS = ("lex", "lex_context", "phrase")
_EXTRA = 6  # columns after the gaps: passage_lex, proximity, passage_dense, date_gap, title_gap, repeated


@dataclass
class Context:
    """What scoring needs besides the units: per-passage terms and the document ranks."""

    passage_terms: list[frozenset[str]]
    title_terms: dict[str, frozenset[str]]
    doc_rank: dict[str, int]
    doc_score: dict[str, float]
    weight: dict[str, float]  # rarity of a term among the units
    doc_dates: dict[str, str]
    near_rank: dict[int, int]  # a neighbouring passage's index -> the rank of the hit it touches

    idf: dict[str, float] = field(default_factory=dict)
    # (text, doc id) of the units another document's passage repeats word for word (boilerplate)
    recurring: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def build(
        cls,
        passages: Sequence[Hit],
        hits: Sequence[Hit],
        units: Sequence[Candidate],
        idf: dict[str, float] | None = None,
    ) -> Context:
        doc_rank: dict[str, int] = {}
        doc_score: dict[str, float] = {}
        for h in hits:
            doc_rank.setdefault(h.doc_id, h.rank)
            doc_score[h.doc_id] = max(doc_score.get(h.doc_id, 0.0), h.score)
        top = max(doc_score.values(), default=0.0) or 1.0
        n = len(units)
        df: dict[str, int] = {}
        for u in units:
            for t in u.terms:
                df[t] = df.get(t, 0) + 1
        return cls(
            passage_terms=[frozenset(terms(p.text)) for p in passages],
            title_terms={p.doc_id: frozenset(terms(f"{p.title} {p.publisher}")) for p in passages},
            doc_rank=doc_rank,
            doc_score={d: s / top for d, s in doc_score.items()},
            weight={t: math.log(1 + n / (1 + c)) for t, c in df.items()} | {"": math.log(1 + n)},
            doc_dates={p.doc_id: p.date or "" for p in passages},
            near_rank={
                i: min(
                    (
                        h.rank
                        for h in hits
                        if h.doc_id == p.doc_id and h.start_char <= p.end_char and p.start_char <= h.end_char
                    ),
                    default=0,
                )
                for i, p in enumerate(passages)
                if p.rank == 0
            },
            idf=dict(idf or {}),
            recurring=_recurring(units, passages),
        )

    def rarity(self, term: str) -> float:
        """Weight of a term: its corpus IDF when retrieval gave one (a term in no chunk weighs most),
        else its rarity among the units."""
        if term in self.idf:
            return self.idf[term]
        return self.weight.get(term, self.weight[""])


def _share(wanted: frozenset[str], have: frozenset[str] | set[str], ctx: Context) -> float:
    if not wanted:
        return 1.0
    total = sum(ctx.rarity(t) for t in wanted)
    return sum(ctx.rarity(t) for t in wanted if t in have) / total


def _figures_match(figures: set[str], text: str) -> float:
    """Share of ``figures`` (a question's years and numbers) that ``text`` holds; 1 for none."""
    if not figures:
        return 1.0
    have = numbers(text)
    return sum(f in have for f in figures) / len(figures)


def date_match(question: str, date: str) -> float:
    """1 when ``question`` names the month and year of ``date`` (YYYY-MM-DD), 0.5 for the year alone."""
    if not date or not YEAR.search(question) or date[:4] not in question:
        return 0.0
    low = question.lower()
    month = int(date[5:7]) if len(date) >= 7 and date[5:7].isdigit() else 0
    return 1.0 if month and (MONTHS[month - 1] in low or MONTHS[month - 1][:3] + "." in low) else 0.5


def cheap_features(
    question: Question, aspect: Aspect, units: Sequence[Candidate], passages: Sequence[Hit], ctx: Context
) -> np.ndarray:
    """The features that need no embedding, one row per unit (columns: :data:`CHEAP`)."""
    rows = []
    q_terms = question.terms
    typed = aspect.kind in TYPED
    dated = {d: date_match(question.asked, date) for d, date in ctx.doc_dates.items()}
    figures = numbers(aspect.text)
    spec_mean = (
        sum(_share(aspect.specific, u.terms, ctx) for u in units) / len(units)
        if aspect.specific and units
        else 0.0
    )
    for u in units:
        p = passages[u.hit]
        title = ctx.title_terms.get(p.doc_id, frozenset())
        around = u.terms | terms(u.before) | terms(u.section) | title
        count = kind_count(u.text, aspect.kind, aspect.text)
        has = count > 0
        words = max(1, word_count(u.text))
        tokens = u.text.split()
        caps = [w for w in re.findall(r"[A-Za-z]{2,}", u.text)]
        u_bigrams = bigrams(u.scoring)
        rank = p.rank or ctx.near_rank.get(u.hit, 0) * 2  # a neighbour counts half its hit
        rows.append(
            [
                _share(aspect.terms, u.terms, ctx),
                _share(aspect.terms, around, ctx),
                # centred on the other units: a unit holding the names the others lack stands out
                (_share(aspect.specific, u.terms, ctx) - spec_mean) if aspect.specific else 0.0,
                _share(aspect.specific, ctx.passage_terms[u.hit] | title, ctx) if aspect.specific else 1.0,
                (len(aspect.bigrams & u_bigrams) / len(aspect.bigrams)) if aspect.bigrams else 0.0,
                float(has),
                float(has and typed),
                float(typed and not has),
                1.0 / rank if rank > 0 else 0.0,
                1.0 / ctx.doc_rank[p.doc_id] if ctx.doc_rank.get(p.doc_id) else 0.0,
                ctx.doc_score.get(p.doc_id, 0.0),
                (len(q_terms & title) / len(q_terms)) if q_terms else 0.0,
                dated.get(p.doc_id, 0.0),
                math.log1p(count) if typed or aspect.kind == "list" else 0.0,
                _figures_match(figures, f"{u.scoring} {u.before} {u.section}"),
                (len(u.terms - q_terms) / len(u.terms)) if u.terms else 0.0,
                math.log(1 + words),
                float(u.row),
                float(u.items > 0),
                sum(1 for t in tokens if re.search(r"\d", t)) / max(1, len(tokens)),
                sum(1 for w in caps if w[0].isupper()) / max(1, len(caps)),
            ]
        )
    if not units:
        return np.zeros((0, len(CHEAP)))
    out = np.asarray(rows, dtype=float).reshape(len(units), len(CHEAP) - len(_GAPS) - _EXTRA)
    names = CHEAP[: out.shape[1]]
    gaps = [out[:, names.index(g)] - out[:, names.index(g)].max() for g in _GAPS]
    passage = [
        _share(
            aspect.terms,
            ctx.passage_terms[u.hit] | ctx.title_terms.get(passages[u.hit].doc_id, frozenset()),
            ctx,
        )
        for u in units
    ]
    near = [proximity(u.text, aspect) if typed else 0.0 for u in units]
    dense = [float(passages[u.hit].dense_score or 0.0) for u in units]
    doc_gaps = [out[:, names.index(g)] - out[:, names.index(g)].max() for g in ("date_match", "title_match")]
    repeated = [float((u.text, passages[u.hit].doc_id) in ctx.recurring) for u in units]
    return np.column_stack([out, *gaps, passage, near, dense, *doc_gaps, repeated])


_WORD = re.compile(r"\w+")
_MIN_REPEATED_WORDS = 6  # a shorter unit ("Sec. 2.", a date line) recurs by chance


def _recurring(units: Sequence[Candidate], passages: Sequence[Hit]) -> frozenset[tuple[str, str]]:
    """The units (text, doc id) that occur word for word in a passage of another document: the
    boilerplate documents of a kind share ("This order shall be implemented consistent with
    applicable law.", "The funders had no role in the study."), which answers no question. Case and
    punctuation aside; units of fewer than six words are left out."""
    flat = list(dict.fromkeys((p.doc_id, _flat(_WORD.findall(p.text.lower()))) for p in passages))
    out = set()
    for u in units:
        doc_id = passages[u.hit].doc_id
        words = _WORD.findall(u.text.lower())
        if len(words) < _MIN_REPEATED_WORDS or (u.text, doc_id) in out:
            continue
        needle = _flat(words)
        if any(d != doc_id and needle in hay for d, hay in flat):
            out.add((u.text, doc_id))
    return frozenset(out)


def _flat(words: list[str]) -> str:
    """``words`` one space apart, with a space at each end (so ``in`` matches whole words)."""
    return " " + " ".join(words) + " "


_TOKEN = re.compile(r"\S+")


def proximity(text: str, aspect: Aspect) -> float:
    """How close a thing of the asked kind sits to a term of the aspect: 1 / (1 + the words
    between them), 0 when the unit holds none or matches no term ("… fatality rate of 21% …")."""
    spans = kind_spans(text, aspect.kind, aspect.text)
    if not spans:
        return 0.0
    words = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]
    term_at = [i for i, (_a, _b, w) in enumerate(words) if terms(w) & aspect.terms]
    if not term_at:
        return 0.0
    best = len(words)
    for a, b in spans:
        at = [i for i, (x, y, _w) in enumerate(words) if x < b and a < y]
        for i in at:
            best = min(best, min(abs(i - j) for j in term_at))
    return 1.0 / (1.0 + best)


def full_features(
    cheap: np.ndarray, unit_vecs: np.ndarray, aspect_vec: np.ndarray, question_vec: np.ndarray
) -> np.ndarray:
    """All :data:`FEATURES`: the similarities first, then the cheap ones."""
    sims = unit_vecs @ aspect_vec
    sims_q = unit_vecs @ question_vec
    gap = FEATURES.index("sim_gap") - 2  # where it sits among the cheap columns
    sim_gap = sims - sims.max() if len(sims) else sims
    return np.column_stack([sims, sims_q, cheap[:, :gap], sim_gap, cheap[:, gap:]])


def probability(features: np.ndarray, weights: ReaderWeights, names: Sequence[str] = FEATURES) -> np.ndarray:
    """The logistic model's probability that each row's unit holds the answer."""
    w = np.array([weights.coefficients.get(n, 0.0) for n in names])
    z = features @ w + weights.intercept
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def cheap_score(cheap: np.ndarray, weights: ReaderWeights) -> np.ndarray:
    """The cheap features' share of the logit: ranks units before any is embedded."""
    w = np.array([weights.coefficients.get(n, 0.0) for n in CHEAP])
    return cheap @ w
