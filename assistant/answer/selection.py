"""Selection: which units make the answer, in which order.

Coverage first: every supported aspect gets its best unit, whatever its document (the lead
document is a prior, not a wall), and the answer leads with the first aspect's. Then units that
score nearly as well for an aspect join, while they add something (no near-duplicates) and fit
the word budget, unless they say what the best unit says about a subject the question does not
name (the next row of a table); a question asking for a list gets a larger budget. An aspect that refers back
("…, and what are they based on?") prefers the document the aspect before it was answered from.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from assistant.answer.answerability import Support, eligible
from assistant.answer.reader import Reading
from assistant.answer.text import terms, word_count
from assistant.answer.weights import ReaderWeights

_OTHERS = re.compile(r"\b(?:other|others|another|besides|except|apart from|excluding|beyond)\b", re.I)
_NAME_OR_FIGURE = re.compile(r"\b[A-Z][\w'’.-]*|\d[\d,.%]*")


@lru_cache(maxsize=4096)  # the best unit's frame is compared with every further candidate
def frame(text: str) -> frozenset[str]:
    """What a unit says, without its names and figures: the content terms of its other words."""
    return frozenset(terms(_NAME_OR_FIGURE.sub(" ", text)))


def sibling(
    lead: str,
    other: str,
    asked: frozenset[str],
    lead_terms: frozenset[str],
    other_terms: frozenset[str],
    share: float,
) -> bool:
    """Whether ``other`` says what ``lead`` says about a subject the question does not name: ``lead``
    holds one of ``asked`` (the aspect's content terms) that ``other`` lacks, ``other`` none that ``lead``
    lacks, and their frames overlap by at least ``share`` (Jaccard): "Kell — reserves 60,000 t" and
    "Ostria — reserves 310,000 t", Kell asked ("Kell ore" and "Ostria ore", Kell ore asked, too)."""
    if not (asked & lead_terms) - other_terms or (asked & other_terms) - lead_terms:
        return False
    a, b = frame(lead), frame(other)
    return bool(a | b) and len(a & b) / len(a | b) >= share


def select(
    reading: Reading, support: list[Support], weights: ReaderWeights, max_units: int | None = None
) -> list[int]:
    """Indices into ``reading.units``, in answer order."""
    units = reading.units
    chosen: list[int] = []
    words = 0
    kinds = {a.kind for a in reading.question.aspects}
    budget = weights.list_words if "list" in kinds else weights.max_words

    def fits(i: int) -> bool:
        if i in chosen or len(chosen) >= min(weights.max_units, max_units or weights.max_units):
            return False
        if chosen and float(np.max(reading.vecs[chosen] @ reading.vecs[i])) > weights.redundancy:
            return False
        return not chosen or words + word_count(units[i].text) <= budget

    leads: list[int] = []
    previous_doc: str | None = None
    for j, (aspect, s) in enumerate(zip(reading.question.aspects, support, strict=True)):
        if not s.supported:
            continue
        best = s.best
        if aspect.refers_back and previous_doc is not None:
            ok = eligible(reading, j)
            same = [
                i
                for i in range(len(units))
                if ok[i] and reading.passages[units[i].hit].doc_id == previous_doc
            ]
            if same:
                i = max(same, key=lambda i: reading.prob[j, i])
                if reading.prob[j, i] >= weights.extra_floor:
                    best = i
        leads.append(best)
        previous_doc = reading.passages[units[best].hit].doc_id
        redundant = (
            bool(chosen) and float(np.max(reading.vecs[chosen] @ reading.vecs[best])) > weights.redundancy
        )
        if best not in chosen and not redundant:  # every aspect's answer, whatever the budget
            chosen.append(best)
            words += word_count(units[best].text)
    # another document adds a unit only to a question that spans documents, or when that unit is
    # as good as the lead: a one-document question is answered from its document, and so is one
    # that names its source ("According to the 2024 report, how much …, and which …?")
    names_source = reading.question.text != reading.question.asked
    spanning = (len(reading.question.aspects) > 1 and not names_source) or any(
        a.kind == "comparison" or re.search(r"\b(?:both|each|all|respectively)\b", a.text, re.I)
        for a in reading.question.aspects
    )
    for j, s in enumerate(support):
        if not s.supported:
            continue
        lead_p = float(reading.prob[j, s.best])
        lead_doc = reading.passages[units[s.best].hit].doc_id
        lead = units[s.best]
        aspect = reading.question.aspects[j]
        # "which other …", "besides X", a comparison: other subjects are what is asked
        others_asked = aspect.kind in ("comparison", "list") or bool(_OTHERS.search(reading.question.asked))
        asked = frozenset() if others_asked else frozenset(t for t in aspect.terms if not t[:1].isdigit())
        floor = max(weights.extra * lead_p, weights.extra_floor)
        for i in np.argsort(-reading.prob[j]):
            i = int(i)
            if reading.prob[j, i] < floor:
                break
            other = reading.passages[units[i].hit].doc_id != lead_doc
            if other and not spanning and reading.prob[j, i] < lead_p:
                continue
            if sibling(lead.text, units[i].text, asked, lead.terms, units[i].terms, weights.sibling):
                continue
            if fits(i):
                chosen.append(i)
                words += word_count(units[i].text)
    return chosen
