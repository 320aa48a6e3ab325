"""Keep only committed chunks that matched something."""

from __future__ import annotations

from assistant.postprocessors.base import Postprocessor, QueryContext, ScoredChunk


class CommittedChunks(Postprocessor):
    """Drops chunks the BM25 snapshot does not hold (a query during an ingest never sees half a
    document: Chroma may already hold chunks the snapshot has not committed) and BM25-only chunks
    with score zero (they matched no query term; chunks masked out by a filter score zero too)."""

    name = "committed"

    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        committed = query.snapshot.committed
        return [
            n
            for n in nodes
            if n.chunk_id in committed and (n.dense_score is not None or (n.bm25_score or 0.0) > 0.0)
        ]
