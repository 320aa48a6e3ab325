"""The answer backends by name: the one place a backend is registered.

The CLI's ``--backend`` choices, the UI's backend menu, the validation of ``ASSISTANT_BACKEND``
and :meth:`assistant.Assistant.backend` all read :data:`BACKENDS`. A factory is named by its
``"module:attribute"`` path so that listing the names (``assistant --help``, settings validation)
imports nothing; the module is imported when the backend is first created.

Adding a backend is one new file and one line::

    # assistant/answer/mine.py
    class MyBackend(AnswerBackend):
        name = "mine"
        def __init__(self, settings, embedder): ...
        def generate(self, question, retrieval, history): ...   # text deltas, then one Draft

    # here, in BACKENDS:
    "mine": "assistant.answer.mine:MyBackend",

(or, from code outside the package, ``register("mine", MyBackend)``). A factory is called as
``factory(settings, embedder)`` and returns an :class:`~assistant.answer.base.AnswerBackend`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.answer.base import AnswerBackend
    from assistant.config import Settings

BackendFactory = Callable[["Settings", Any], "AnswerBackend"]
"""``factory(settings, embedder) -> AnswerBackend``."""

BACKENDS: dict[str, str | BackendFactory] = {
    "extractive": "assistant.answer.extractive:ExtractiveBackend",
    "openai": "assistant.answer.generative:openai_backend",
    "ollama": "assistant.answer.generative:ollama_backend",
}
"""Backend name -> factory (a callable, or its ``"module:attribute"`` path). The first is the default."""


def names() -> list[str]:
    """The registered backend names, in registration order."""
    return list(BACKENDS)


def register(name: str, factory: str | BackendFactory) -> None:
    """Register (or replace) the backend ``name``; ``factory`` as in :data:`BACKENDS`."""
    if not name or not name.replace("-", "_").isidentifier():
        raise ValueError(f"backend name {name!r}: use letters, digits, '_' or '-'")
    BACKENDS[name] = factory


def unknown_message(name: str) -> str:
    """The error text for a backend name nobody registered."""
    return f"unknown answer backend {name!r}; use one of: {', '.join(BACKENDS)}"


def factory(name: str) -> BackendFactory:
    """The factory of ``name`` (imported on first use). Raises ``KeyError`` for an unknown name."""
    entry = BACKENDS[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
    return entry


def create(name: str, settings: Settings, embedder: Any) -> AnswerBackend:
    """A new backend ``name`` built from ``settings`` (and the shared embedder).

    Raises :class:`~assistant.types.AssistantError` for an unknown name; a factory raises it
    itself for missing settings (naming the ``ASSISTANT_*`` variable to set).
    """
    from assistant.types import AssistantError

    if name not in BACKENDS:
        raise AssistantError(unknown_message(name))
    return factory(name)(settings, embedder)
