"""Retrieval postprocessors: an ordered list applied to the fused candidates, one file each.

To add one: write a :class:`~assistant.postprocessors.base.Postprocessor` in its own module and add
one line to :data:`REGISTRY` (or call :func:`register` from your code). Its place in the registry
is its place in the pipeline. A factory takes the settings and returns the postprocessor, or
``None`` when it is switched off (the reranker without ``rerank_model``). Any LlamaIndex
``BaseNodePostprocessor`` fits too: ``lambda s: LlamaIndexPostprocessor(SimilarityPostprocessor(...))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.postprocessors import committed, context, diversify, rerank
from assistant.postprocessors.base import (
    LlamaIndexPostprocessor,
    Postprocessor,
    QueryContext,
    ScoredChunk,
)

if TYPE_CHECKING:
    from assistant.config import Settings

Factory = Callable[["Settings"], "Postprocessor | None"]

REGISTRY: dict[str, Factory] = {
    "committed": lambda s: committed.CommittedChunks(),
    "rerank": rerank.make,
    "diversify": lambda s: diversify.DocumentDiversity(s.doc_diversity),
    "context": lambda s: context.ContextExpansion(),
}


def register(name: str, factory: Factory, *, before: str | None = None) -> None:
    """Add (or replace) a postprocessor; ``before`` puts it ahead of another (default: last)."""
    items = [(n, f) for n, f in REGISTRY.items() if n != name]
    at = next((i for i, (n, _) in enumerate(items) if n == before), len(items))
    items.insert(at, (name, factory))
    REGISTRY.clear()
    REGISTRY.update(items)


def unregister(name: str) -> None:
    """Remove a postprocessor from the pipeline."""
    REGISTRY.pop(name, None)


def pipeline(settings: Settings) -> list[Postprocessor]:
    """The postprocessors the registry and ``settings`` switch on, in order."""
    return [p for p in (factory(settings) for factory in REGISTRY.values()) if p is not None]


def apply(
    postprocessors: list[Postprocessor], nodes: list[ScoredChunk], query: QueryContext
) -> list[ScoredChunk]:
    """Run ``nodes`` through ``postprocessors`` in order (as ``RetrieverQueryEngine`` does)."""
    for p in postprocessors:
        nodes = p.postprocess_nodes(nodes, query)
    return nodes


__all__ = [
    "REGISTRY",
    "LlamaIndexPostprocessor",
    "Postprocessor",
    "QueryContext",
    "ScoredChunk",
    "apply",
    "pipeline",
    "register",
    "unregister",
]
