"""A tiny answer backend, as a newcomer would add one: this file plus one registration line.

It answers with the first sentence of the best passage, cited. Used by ``test_backend_registry.py``
to show that the CLI, the UI, settings validation and ``Assistant.backend()`` all accept a backend
that is only registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from assistant.answer.base import AnswerBackend
from assistant.chunking import sentence_spans
from assistant.config import Settings
from assistant.types import Draft, Retrieval


class FirstSentenceBackend(AnswerBackend):
    """Cites the first sentence of the top-ranked passage; refuses when nothing was retrieved."""

    name = "first-sentence"

    def __init__(self, settings: Settings, embedder: Any) -> None:
        self.settings = settings

    def generate(
        self, question: str, retrieval: Retrieval, history: list[dict[str, str]]
    ) -> Iterator[str | Draft]:
        if not retrieval.hits:
            yield Draft(text="", quotes=[], status="refused")
            return
        top = retrieval.hits[0]
        a, b = sentence_spans(top.text)[0]
        quote = top.text[a:b]
        yield Draft(text=f"{quote} {{{{cite:0}}}}", quotes=[(0, quote, top.start_char + a, True)])
