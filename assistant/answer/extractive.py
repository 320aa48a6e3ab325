"""The offline default: answers made of verbatim passage units, each cited.

The stages, each its own module: question analysis (:mod:`~assistant.answer.analysis`),
candidate units (:mod:`~assistant.answer.candidates`), scoring (:mod:`~assistant.answer.scoring`,
weights in :mod:`~assistant.answer.weights`), answerability (:mod:`~assistant.answer.answerability`)
and selection (:mod:`~assistant.answer.selection`). Every answer unit is a slice of its passage,
so every citation holds by construction. An aspect the passages do not support is named in
``not_stated``; with none supported, the answer is a refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from assistant.answer.answerability import assess
from assistant.answer.base import AnswerBackend, not_answered
from assistant.answer.candidates import clean_quote
from assistant.answer.reader import SentenceEmbedder, read
from assistant.answer.selection import select
from assistant.answer.weights import ReaderWeights
from assistant.config import Settings
from assistant.types import Draft, Retrieval

log = logging.getLogger(__name__)


class ExtractiveBackend(AnswerBackend):
    """Query-focused extractive answers over the retrieved passages."""

    name = "extractive"

    def __init__(
        self, settings: Settings, embedder: SentenceEmbedder, weights: ReaderWeights | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.weights = weights or ReaderWeights.load()

    def generate(
        self, question: str, retrieval: Retrieval, history: list[dict[str, str]]
    ) -> Iterator[str | Draft]:
        reading = read(question, retrieval, self.embedder, self.weights)
        if reading is None:
            yield Draft(text="", quotes=[], status="refused", not_stated=[question])
            return
        support = assess(reading, self.weights)
        aspects = reading.question.aspects
        missing = [a.text for a, s in zip(aspects, support, strict=True) if not s.supported]
        if log.isEnabledFor(logging.DEBUG):
            for j, (a, s) in enumerate(zip(aspects, support, strict=True)):
                log.debug("aspect %r kind=%s p=%.3f supported=%s", a.text, a.kind, s.prob, s.supported)
                for i in reading.prob[j].argsort()[::-1][:8]:
                    u = reading.units[int(i)]
                    log.debug("  %.3f %s: %.100r", reading.prob[j, i], reading.passages[u.hit].doc_id, u.text)
        if len(missing) == len(aspects):
            yield Draft(text="", quotes=[], status="refused", not_stated=missing)
            return
        chosen = select(reading, support, self.weights, self.settings.max_sentences)
        quotes: list[tuple[int, str, int | None, bool]] = []
        pieces: list[str] = []
        for i in chosen:
            u = reading.units[i]
            quotes.append((u.hit, u.text, u.start, True))
            pieces.append(f"{clean_quote(u.text)} {{{{cite:{len(quotes) - 1}}}}}")
        text = " ".join(pieces)
        if missing:
            text += "\n\n" + not_answered(missing)
        # no deltas: the caller streams the numbered text once it is final
        yield Draft(text=text, quotes=quotes, status="partial" if missing else "answered", not_stated=missing)
