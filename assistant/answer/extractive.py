"""The offline default: an answer composed of verbatim corpus sentences, each cited.

Sentences of the retrieved passages are scored against the question (embedding similarity plus
overlap of rare terms; names and figures of the question weigh most), chosen greedily so that each
new sentence adds question terms not yet covered and is not a near-duplicate, then ordered by
document and position. Every sentence is a slice of its passage, so every citation holds by
construction. Below the evidence threshold it refuses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import numpy as np

from assistant.answer.base import WORD, AnswerBackend, Draft, content_words, specific_terms
from assistant.chunking import count_tokens, sentence_spans
from assistant.config import Settings
from assistant.embedding import Embedder
from assistant.retrieval import Retrieval


def _stem(word: str) -> str:
    w = word.lower().replace(",", "")
    for suffix in ("ing", "ies", "es", "ed", "s", "'s", "’s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


class ExtractiveBackend(AnswerBackend):
    """Query-focused extractive summarisation over the retrieved passages."""

    name = "extractive"

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder

    # ------------------------------------------------------------------ evidence

    def missing_specifics(self, question: str, retrieval: Retrieval) -> list[str]:
        """Names and figures of the question that occur in none of the retrieved passages and
        not in the corpus vocabulary: the question is about something the corpus does not hold."""
        text = " ".join(h.text.lower() for h in retrieval.hits)
        vocab_terms = set(retrieval.matched_terms)
        missing = []
        for term in specific_terms(question):
            low = term.lower().strip("'’").removesuffix("'s").removesuffix("’s")
            if low in text or _stem(low) in text:
                continue
            if any(t.startswith(_stem(low)[:5]) for t in vocab_terms) and not term[0].isdigit():
                continue
            missing.append(term)
        return missing

    def generate(
        self, question: str, retrieval: Retrieval, history: list[dict[str, str]]
    ) -> Iterator[str | Draft]:
        hits = retrieval.hits
        if not hits:
            yield Draft(text="", quotes=[], refused=True)
            return
        if self.missing_specifics(question, retrieval):
            yield Draft(text="", quotes=[], refused=True)
            return
        # candidate sentences (deduplicated across overlapping passages)
        cands: list[tuple[int, int, int, str]] = []  # hit index, doc start, position, text
        seen: set[tuple[str, int]] = set()
        for hi, h in enumerate(hits):
            for a, b in sentence_spans(h.text):
                s = h.text[a:b]
                key = (h.doc_id, h.start_char + a)
                if key in seen or len(WORD.findall(s)) < 3:
                    continue
                seen.add(key)
                cands.append((hi, h.start_char + a, a, s))
        if not cands:
            yield Draft(text="", quotes=[], refused=True)
            return
        q_vec = np.asarray(self.embedder.query(question))
        s_vecs = self.embedder.encode([c[3] for c in cands])
        sims = s_vecs @ q_vec
        q_terms = {_stem(w) for w in content_words(question)}
        q_specific = {_stem(w.strip("'’")) for w in specific_terms(question)}
        # rarity of a term within the retrieved passages: rare terms say more
        docs_terms = [{_stem(w) for w in content_words(c[3])} for c in cands]
        df = {t: sum(1 for d in docs_terms if t in d) for t in q_terms}
        n = len(cands)
        weight = {t: (2.0 if t in q_specific else 1.0) * math.log(1 + n / (1 + df[t])) for t in q_terms}
        total = sum(weight.values()) or 1.0
        base = []
        for i, terms in enumerate(docs_terms):
            overlap = sum(weight[t] for t in q_terms if t in terms) / total
            rank_prior = 0.02 * (len(hits) - cands[i][0]) / len(hits)
            base.append(float(sims[i]) + 0.6 * overlap + rank_prior)
        best = max(base)
        evidence = max(float(sims.max()), retrieval.top_dense)
        if evidence < self.settings.min_relevance:
            yield Draft(text="", quotes=[], refused=True)
            return
        # greedy selection: relevance + new coverage, minus redundancy
        chosen: list[int] = []
        covered: set[str] = set()
        budget = self.settings.answer_tokens
        used = 0
        remaining = set(range(n))
        while remaining and len(chosen) < self.settings.max_sentences:
            def gain(i: int) -> float:
                new = sum(weight[t] for t in q_terms if t in docs_terms[i] and t not in covered) / total
                redund = max((float(s_vecs[i] @ s_vecs[j]) for j in chosen), default=0.0)
                return base[i] + 0.4 * new - (0.5 * max(0.0, redund - 0.6))

            i = max(remaining, key=gain)
            remaining.discard(i)
            g = gain(i)
            if chosen and (base[i] < best - 0.25 or g < best - 0.2):
                break
            cost = count_tokens(cands[i][3])
            if chosen and used + cost > budget:
                continue
            chosen.append(i)
            covered |= {t for t in q_terms if t in docs_terms[i]}
            used += cost
        # order: documents by their best sentence, then document order within each
        by_doc: dict[str, list[int]] = {}
        for i in sorted(chosen, key=lambda i: -base[i]):
            by_doc.setdefault(hits[cands[i][0]].doc_id, []).append(i)
        quotes: list[tuple[int, str, int | None, bool]] = []
        paragraphs: list[str] = []
        for items in by_doc.values():
            parts = []
            for i in sorted(items, key=lambda i: cands[i][1]):
                hi, dstart, _pos, s = cands[i]
                quotes.append((hi, s, dstart, True))
                sentence = re.sub(r"^[-•●▪◦*]\s+", "", s)
                parts.append(f"{sentence} {{{{cite:{len(quotes) - 1}}}}}")
            paragraphs.append(" ".join(parts))
        # no deltas: the caller streams the numbered text once it is final
        yield Draft(text="\n\n".join(paragraphs), quotes=quotes)
