"""What every retrieval postprocessor shares: the scored chunk, the query context and the contract.

The contract is LlamaIndex's ``BaseNodePostprocessor.postprocess_nodes(nodes, query_bundle)``:
a list in, a list out, applied in order the way ``RetrieverQueryEngine`` applies its
``node_postprocessors``. The items are :class:`ScoredChunk`, not LlamaIndex ``NodeWithScore``, so a
query never imports ``llama_index.core`` (~1.5-2 s; see benchmarks/README.md); a LlamaIndex
postprocessor joins the list through :class:`LlamaIndexPostprocessor`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from assistant.types import Hit

if TYPE_CHECKING:
    from assistant.config import Settings

Role = Literal["candidate", "hit", "context", "neighbour"]


@dataclass
class ScoredChunk:
    """One chunk on its way through the pipeline.

    ``score``: fused relevance (higher is better); ``dense_score``/``bm25_score``: each side's own
    score, ``None`` when that side did not return the chunk. ``role``: ``candidate`` (not chosen
    yet), ``hit`` (a ranked result), ``context`` (another passage of a retrieved document) or
    ``neighbour`` (a chunk next to a hit); the retriever returns hits in order, then context.
    ``metadata`` is the chunk's stored metadata (``doc_id``, ``title``, ``start_char``, ...)."""

    chunk_id: str
    text: str
    metadata: dict[str, Any]
    score: float = 0.0
    dense_score: float | None = None
    bm25_score: float | None = None
    role: Role = "candidate"

    @property
    def doc_id(self) -> str:
        """The chunk's document."""
        return str(self.metadata.get("doc_id", ""))

    @classmethod
    def from_stored(cls, chunk_id: str, meta: dict[str, Any], text: str | None = None) -> ScoredChunk:
        """A chunk from stored metadata (Chroma's or the BM25 snapshot's flat dict, which carries
        the node's JSON in ``_node_content``); ``text`` when the store returned it separately."""
        if text is None:
            text = str(json.loads(meta.get("_node_content") or "{}").get("text", ""))
        return cls(chunk_id=chunk_id, text=text, metadata=meta)

    def to_hit(self, rank: int) -> Hit:
        """The public :class:`~assistant.types.Hit` (``rank`` 0 for context)."""
        m = self.metadata
        page = m.get("page")
        return Hit(
            rank=rank,
            score=round(self.score, 6),
            text=self.text,
            doc_id=self.doc_id,
            title=str(m.get("title", "")),
            publisher=str(m.get("publisher", "")),
            url=(m.get("url") or None),
            date=(str(m["date"]) if m.get("date") else None),
            page=int(page) if page not in (None, "") else None,
            chunk_id=self.chunk_id,
            start_char=int(m.get("start_char", 0)),
            end_char=int(m.get("end_char", 0)),
            dense_score=round(self.dense_score, 6) if self.dense_score is not None else None,
            bm25_score=round(self.bm25_score, 6) if self.bm25_score is not None else None,
        )


class Snapshot(Protocol):
    """What postprocessors read of the committed BM25 snapshot (``assistant.retrieval``)."""

    committed: set[str]  # chunk ids of every committed chunk
    node_ids: list[str]  # chunk id by position
    position: dict[str, int]  # position by chunk id
    by_position: dict[tuple[str, int], int]  # position by (doc_id, chunk_index)
    retriever: Any  # ``.corpus``: one flat metadata dict per position


@dataclass
class QueryContext:
    """What a postprocessor may read about the query: the text, ``k`` hits wanted, the settings
    and the committed BM25 snapshot (every chunk's metadata, by position and by document)."""

    query: str
    k: int
    settings: Settings
    snapshot: Snapshot
    extras: dict[str, Any] = field(default_factory=dict)


class Postprocessor(ABC):
    """One step of the retrieval pipeline. Implement :meth:`postprocess_nodes`."""

    name: str = "postprocessor"

    @abstractmethod
    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        """Return the chunks to pass on (filtered, reordered, marked or extended)."""


class LlamaIndexPostprocessor(Postprocessor):
    """Runs a LlamaIndex ``BaseNodePostprocessor`` (a reranker, a similarity cut-off...) on the
    candidates: they go in as ``NodeWithScore`` and come back in its order with its scores.
    Imports LlamaIndex only when such a postprocessor is configured."""

    def __init__(self, inner: Any, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or type(inner).__name__

    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        from llama_index.core.schema import NodeWithScore, TextNode

        pool = [n for n in nodes if n.role == "candidate"]
        rest = [n for n in nodes if n.role != "candidate"]
        by_id = {n.chunk_id: n for n in pool}
        wrapped = [
            NodeWithScore(node=TextNode(id_=n.chunk_id, text=n.text, metadata={}), score=n.score)
            for n in pool
        ]
        out = self.inner.postprocess_nodes(wrapped, query_str=query.query)
        kept = []
        for r in out:
            chunk = by_id[r.node.node_id]
            chunk.score = float(r.score if r.score is not None else chunk.score)
            kept.append(chunk)
        return rest + kept
