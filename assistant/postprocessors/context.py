"""Context for answers: more of the retrieved documents, and the chunks next to the best hits."""

from __future__ import annotations

from assistant.postprocessors.base import Postprocessor, QueryContext, ScoredChunk


class ContextExpansion(Postprocessor):
    """Adds, as context (rank 0, never new documents: they would widen what is cited), the
    candidates of documents already among the hits (at most ``k``), then the chunks just before and
    after the ``top`` best hits and those candidates (``radius`` chunks each side), so an answer can
    use a sentence or table row that fell just outside a retrieved passage. Other candidates are
    dropped. (LlamaIndex's ``PrevNextNodePostprocessor`` needs a docstore of nodes; ours are in the
    BM25 snapshot.)"""

    name = "context"

    def __init__(self, top: int = 3, radius: int = 1) -> None:
        self.top, self.radius = top, radius

    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        hits = [n for n in nodes if n.role == "hit"]
        docs = {h.doc_id for h in hits}
        extra = [n for n in nodes if n.role == "candidate" and n.doc_id in docs][: query.k]
        for n in extra:
            n.role = "context"
        kept = [n for n in nodes if n.role != "candidate"]
        return kept + neighbours(hits + extra, query, self.top, self.radius)


def neighbours(
    chunks: list[ScoredChunk], query: QueryContext, top: int = 3, radius: int = 1
) -> list[ScoredChunk]:
    """The chunks within ``radius`` of the ``top`` first of ``chunks`` in their documents (score 0)."""
    snap = query.snapshot
    have = {c.chunk_id for c in chunks}
    out: list[ScoredChunk] = []
    for c in chunks[:top]:
        i = snap.position.get(c.chunk_id)
        if i is None:
            continue
        pos = int(snap.retriever.corpus[i].get("chunk_index", -10))
        for j in range(pos - radius, pos + radius + 1):
            k = snap.by_position.get((c.doc_id, j))
            if k is None or snap.node_ids[k] in have:
                continue
            have.add(snap.node_ids[k])
            n = ScoredChunk.from_stored(snap.node_ids[k], snap.retriever.corpus[k])
            n.role = "neighbour"
            out.append(n)
    return out
