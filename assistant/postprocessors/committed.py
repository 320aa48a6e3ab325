"""Keep only committed chunks that matched something."""

from __future__ import annotations

from assistant.postprocessors.base import Postprocessor, QueryContext, ScoredChunk


class CommittedChunks(Postprocessor):
    """Keeps the committed version of each chunk: drops chunks the BM25 snapshot does not hold (a
    query during an ingest never sees half a document: Chroma may already hold chunks the snapshot
    has not committed) and BM25-only chunks with score zero (they matched no query term; chunks
    masked out by a filter score zero too), and reads every kept chunk's text and metadata from the
    snapshot (during an ingest Chroma can return a record being rewritten, without its text)."""

    name = "committed"

    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        snap = query.snapshot
        kept = []
        for n in nodes:
            i = snap.position.get(n.chunk_id)
            if i is None or (n.dense_score is None and (n.bm25_score or 0.0) <= 0.0):
                continue
            stored = ScoredChunk.from_stored(n.chunk_id, snap.retriever.corpus[i])
            n.text, n.metadata = stored.text, stored.metadata
            kept.append(n)
        return kept
