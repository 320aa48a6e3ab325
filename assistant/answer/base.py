"""What every answer backend shares: the contract, citation numbering and support checks."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator

from assistant.answer.text import STOPWORDS, WORD, content_words, specific_terms
from assistant.types import Citation, Draft, Hit, Retrieval

__all__ = [
    "PLACEHOLDER",
    "STOPWORDS",
    "WORD",
    "AnswerBackend",
    "content_words",
    "not_answered",
    "number_citations",
    "rewrite_follow_up",
    "specific_terms",
]

MARKER = re.compile(r"\[(\d{1,3})\]")
PLACEHOLDER = re.compile(r"\{\{cite:(\d+)\}\}")
"""A citation placeholder of a :class:`~assistant.types.Draft`'s text; group 1 indexes its quotes."""


def not_answered(items: list[str]) -> str:
    """The sentence naming what the documents do not answer (a refusal's, or a partial answer's
    last): ``The documents do not answer “How much in 2024?”.``"""
    asked = [f"“{t.strip().rstrip('?.').strip()}?”" for t in items if t.strip()]
    if not asked:
        return "The documents do not answer this question."
    return (
        "The documents do not answer "
        + (asked[0] if len(asked) == 1 else ", ".join(asked[:-1]) + " or " + asked[-1])
        + "."
    )


def number_citations(draft: Draft, hits: list[Hit]) -> tuple[str, list[Citation]]:
    """Replace placeholders with ``[n]`` numbered 1, 2, 3... by first appearance (no gaps); one
    citation per distinct quote."""
    order: dict[int, int] = {}
    citations: list[Citation] = []

    def repl(m: re.Match[str]) -> str:
        i = int(m.group(1))
        if i not in order:
            order[i] = len(order) + 1
            hit_i, quote, qstart, supported = draft.quotes[i]
            h = hits[hit_i]
            citations.append(
                Citation(
                    n=order[i],
                    doc_id=h.doc_id,
                    title=h.title,
                    publisher=h.publisher,
                    url=h.url,
                    date=h.date,
                    page=h.page,
                    chunk_id=h.chunk_id,
                    start_char=h.start_char,
                    end_char=h.end_char,
                    quote=quote,
                    quote_start=qstart,
                    quote_end=(qstart + len(quote)) if qstart is not None else None,
                    passage=h.text,
                    supported=supported,
                )
            )
        return f"[{order[i]}]"

    text = PLACEHOLDER.sub(repl, draft.text)
    return text, citations


class AnswerBackend(ABC):
    """One method to implement: :meth:`generate` yields text pieces and finally a :class:`Draft`.
    Numbering, refusal wording and the :class:`~assistant.types.Answer` are handled by the caller."""

    name: str = "base"

    @abstractmethod
    def generate(
        self, question: str, retrieval: Retrieval, history: list[dict[str, str]]
    ) -> Iterator[str | Draft]:
        """Yield streamed text deltas (may be none), then exactly one ``Draft``."""

    def condense(self, question: str, history: list[dict[str, str]]) -> str:
        """A standalone version of a follow-up question (default: deterministic rewrite)."""
        return rewrite_follow_up(question, history)


def rewrite_follow_up(question: str, history: list[dict[str, str]]) -> str:
    """Deterministic condense: a follow-up that leans on the conversation for its subject
    (:func:`~assistant.answer.analysis.needs_conversation`: "And its reserves?", "When was it
    signed?") carries the previous question's names, figures and content words; a
    self-contained question is searched as asked."""
    from assistant.answer.analysis import needs_conversation

    previous = [t["content"] for t in history if t.get("role") == "user" and t.get("content", "").strip()]
    if not previous or not needs_conversation(question):
        return question
    # the subject comes from the latest self-contained question and the follow-ups since
    chain: list[str] = []
    for turn in reversed(previous):
        chain.append(turn)
        if not needs_conversation(turn):
            break
    last = " ".join(chain)
    own = {w.lower() for w in content_words(question)}
    has_number = any(w[0].isdigit() for w in own)
    carried = [
        w
        for w in dict.fromkeys(t.strip("'’") for t in WORD.findall(last))
        if w.lower() not in STOPWORDS and w.lower() not in own and not (has_number and w[0].isdigit())
    ]
    if not carried:
        return question
    return f"{question.strip()} ({' '.join(carried)})"
