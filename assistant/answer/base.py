"""What every answer backend shares: the contract, citation numbering and support checks."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator

from assistant.types import Citation, Draft, Hit, Retrieval

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell give list describe explain
    according say said says please many much did does per
    """.split()
)
WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]|\d[\d,.]*\d|\d")
MARKER = re.compile(r"\[(\d{1,3})\]")


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that carry meaning (stop words removed)."""
    words = (re.sub(r"['’]s$", "", w.lower()).strip("'’") for w in WORD.findall(text))
    return [w for w in words if w and w not in STOPWORDS]


def specific_terms(question: str) -> list[str]:
    """Names and numbers in a question: capitalised words (not the first), acronyms, figures.

    These carry the question's subject; a question naming one the corpus never mentions is
    about something else.
    """
    out: list[str] = []
    tokens = WORD.findall(question)
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in STOPWORDS:
            continue
        if tok[0].isdigit() or (tok[0].isupper() and i > 0) or (tok.isupper() and len(tok) > 1):
            out.append(tok)
    return out


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

    text = re.sub(r"\{\{cite:(\d+)\}\}", repl, draft.text)
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


_FOLLOW_UP = re.compile(
    r"^\s*(and|also|what about|how about|and what about|same for|what of)\b|\b(it|its|they|their|them|"
    r"this|that|these|those|there|he|she|his|her|the same|other|others|else|too|as well|instead)\b",
    re.IGNORECASE,
)


def rewrite_follow_up(question: str, history: list[dict[str, str]]) -> str:
    """Deterministic condense: when a short follow-up lacks its own subject (pronouns, "And…",
    "What about…"), carry the previous question's subject (names, figures, content words)."""
    previous = [t["content"] for t in history if t.get("role") == "user" and t.get("content", "").strip()]
    if not previous:
        return question
    last = previous[-1]
    words = content_words(question)
    if not (_FOLLOW_UP.search(question) or len(words) <= 3) or len(words) > 12:
        return question
    own = {w.lower() for w in words}
    has_number = any(w[0].isdigit() for w in words)
    carried = [
        w
        for w in dict.fromkeys(t.strip("'’") for t in WORD.findall(last))
        if w.lower() not in STOPWORDS and w.lower() not in own and not (has_number and w[0].isdigit())
    ]
    if not carried:
        return question
    return f"{question.strip()} ({' '.join(carried)})"
