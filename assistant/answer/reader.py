"""Reading: the stages run in order for one question over one retrieval.

analysis (aspects) -> candidates (units) -> scoring (probability per unit and aspect). Selection
and answerability (their own modules) then work on the :class:`Reading` this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from assistant.answer.analysis import Question, analyse, name_in
from assistant.answer.candidates import Candidate, candidates
from assistant.answer.scoring import Context, cheap_features, cheap_score, full_features, probability
from assistant.answer.text import stem
from assistant.answer.weights import ReaderWeights
from assistant.types import Hit, Retrieval


class SentenceEmbedder(Protocol):
    """What reading needs of an embedder: cached query vectors and unit vectors (normalised)."""

    def query(self, text: str) -> list[float]: ...

    def encode_cached(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Reading:
    """One question read over its passages. ``units`` are the embedded candidates; ``features``
    holds one ``(units, FEATURES)`` matrix per aspect and ``prob`` one row per aspect."""

    question: Question
    passages: list[Hit]
    units: list[Candidate]
    vecs: np.ndarray
    features: list[np.ndarray]
    prob: np.ndarray
    context: Context | None = None
    unknown: frozenset[str] = frozenset()  # stems of the question's names found nowhere in the corpus
    names_found: float = 1.0  # share of the question's multi-word names found whole in the passages
    unknown_names: tuple[str, ...] = ()  # the question's names whose words no chunk holds together


def read(
    question: str, retrieval: Retrieval, embedder: SentenceEmbedder, weights: ReaderWeights
) -> Reading | None:
    """Score every candidate unit of ``retrieval`` for every aspect of ``question``; ``None``
    when the passages hold no candidate at all."""
    passages = retrieval.passages
    q = analyse(question)
    units = candidates(passages) if retrieval.hits else []
    if not units:
        return None
    ctx = Context.build(passages, retrieval.hits, units, retrieval.term_idf)
    cheap = [cheap_features(q, a, units, passages, ctx) for a in q.aspects]
    # embed the units of the best passages, then the most promising of the rest by cheap score
    best = np.max(np.stack([cheap_score(c, weights) for c in cheap]), axis=0)
    top_chunks = {h.chunk_id for h in retrieval.hits[: weights.full_passages]}
    full = [i for i, u in enumerate(units) if passages[u.hit].chunk_id in top_chunks]
    rest = sorted((i for i in range(len(units)) if i not in set(full)), key=lambda i: -best[i])
    keep = sorted((full + rest)[: max(weights.embedded, len(full))])
    units = [units[i] for i in keep]
    cheap = [c[keep] for c in cheap]
    vecs = np.asarray(embedder.encode_cached([u.scoring for u in units]))
    q_vec = np.asarray(embedder.query(q.text))
    feats = []
    for aspect, c in zip(q.aspects, cheap, strict=True):
        a_vec = q_vec if aspect.query == q.text else np.asarray(embedder.query(aspect.query or aspect.text))
        feats.append(full_features(c, vecs, a_vec, q_vec))
    prob = np.stack([probability(f, weights) for f in feats])
    return Reading(
        question=q,
        passages=passages,
        units=units,
        vecs=vecs,
        features=feats,
        prob=prob,
        context=ctx,
        unknown=frozenset(stem(w) for w in retrieval.unknown_specifics),
        names_found=_names_found(q, passages),
        unknown_names=tuple(retrieval.unknown_names),
    )


def _names_found(question: Question, passages: list[Hit]) -> float:
    """Share of the question's multi-word names that some passage or document title holds whole."""
    if not question.names:
        return 1.0
    texts = [p.text for p in passages] + list({f"{p.title}. {p.publisher}" for p in passages})
    return sum(name_in(n, texts) for n in question.names) / len(question.names)
