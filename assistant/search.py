"""The two searches a query runs and their fusion, on Chroma and bm25s directly.

Written here rather than taken from LlamaIndex (``VectorStoreIndex`` retriever, ``BM25Retriever``,
``QueryFusionRetriever``) because importing ``llama_index.core`` costs 1.5-2 s, more than a whole
cold ``assistant ask`` may take (benchmarks/README.md, import rows). Each function reproduces the
LlamaIndex part it replaces, score for score, so hits are the same as before:

* :func:`dense_search` = ``ChromaVectorStore.query``: similarity ``exp(-distance)``;
* :func:`bm25_search` = ``BM25Retriever._retrieve``: the same tokenisation and ``bm25s`` call;
* :func:`fuse` = ``QueryFusionRetriever`` with one query: ``relative_score`` (min-max per list,
  equal weights, summed) or ``reciprocal_rerank`` (k = 60).
The snapshot is still written by LlamaIndex's ``BM25Retriever.persist`` at ingest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from assistant.postprocessors.base import ScoredChunk

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # BM25Retriever's default
RRF_K = 60.0


def chroma_where(doc_ids: list[str] | None, lo: int | None, hi: int | None) -> dict[str, Any] | None:
    """A Chroma ``where`` clause: documents in ``doc_ids``, dated ranges overlapping [lo, hi]."""
    conds: list[dict[str, Any]] = []
    if doc_ids:
        conds.append({"doc_id": {"$in": list(doc_ids)}})
    if lo is not None:
        conds.append({"date_end": {"$gte": lo}})
    if hi is not None:
        conds.append({"date_start": {"$lte": hi}})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


def dense_search(
    collection: Any, vector: list[float], n: int, where: dict[str, Any] | None
) -> list[ScoredChunk]:
    """The ``n`` nearest chunks to ``vector`` (``dense_score`` = ``score`` = ``exp(-cosine distance)``)."""
    kwargs: dict[str, Any] = {"where": where} if where else {}
    got = collection.query(
        query_embeddings=[vector], n_results=n, include=["documents", "metadatas", "distances"], **kwargs
    )
    out = []
    for cid, text, meta, dist in zip(
        got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
    ):
        chunk = ScoredChunk.from_stored(cid, dict(meta or {}), text or "")
        chunk.score = chunk.dense_score = math.exp(-float(dist))
        out.append(chunk)
    return out


def bm25_search(snapshot: Any, query: str, n: int, mask: np.ndarray | None) -> list[ScoredChunk]:
    """The ``n`` best BM25 chunks of the snapshot (zero scores included, as bm25s returns them);
    ``mask`` (one 0/1 per chunk) restricts them."""
    import bm25s

    parts = snapshot.retriever
    tokens = bm25s.tokenize(query, stemmer=parts.stemmer, token_pattern=TOKEN_PATTERN, show_progress=False)
    docs, scores = parts.bm25.retrieve(
        tokens,
        k=n,
        corpus=snapshot.positions,
        show_progress=False,
        weight_mask=mask.astype(int) if mask is not None else None,
    )
    out = []
    for pos, score in zip(docs[0], scores[0], strict=True):
        i = int(pos)
        chunk = ScoredChunk.from_stored(snapshot.node_ids[i], parts.corpus[i])
        chunk.score = chunk.bm25_score = float(score)
        out.append(chunk)
    return out


def fuse(lists: list[list[ScoredChunk]], mode: str, depth: int) -> list[ScoredChunk]:
    """One ranking from several (best first, at most ``depth``); a chunk found by several lists
    appears once with its scores from each."""
    if len(lists) == 1:
        return list(lists[0])
    merged: dict[str, ScoredChunk] = {}
    fused: dict[str, float] = {}
    if mode == "reciprocal_rerank":
        for results in lists:
            for rank, c in enumerate(sorted(results, key=lambda x: x.score, reverse=True)):
                fused[c.chunk_id] = fused.get(c.chunk_id, 0.0) + 1.0 / (rank + RRF_K)
                _merge(merged, c)
    elif mode == "relative_score":
        weight = 1.0 / len(lists)
        for results in lists:
            scores = [c.score for c in results]
            lo, hi = (min(scores), max(scores)) if scores else (0.0, 0.0)
            for c in results:
                scaled = (c.score - lo) / (hi - lo) if hi != lo else (1.0 if hi > 0 else 0.0)
                fused[c.chunk_id] = fused.get(c.chunk_id, 0.0) + scaled * weight
                _merge(merged, c)
    else:
        raise ValueError(f"unknown fusion mode {mode!r}")
    order = sorted(merged, key=lambda cid: fused[cid], reverse=True)[:depth]
    out = []
    for cid in order:
        chunk = merged[cid]
        chunk.score = fused[cid]
        out.append(chunk)
    return out


def _merge(merged: dict[str, ScoredChunk], c: ScoredChunk) -> None:
    have = merged.get(c.chunk_id)
    if have is None:
        merged[c.chunk_id] = ScoredChunk(c.chunk_id, c.text, c.metadata, c.score, c.dense_score, c.bm25_score)
        return
    if c.dense_score is not None:
        have.dense_score = c.dense_score
    if c.bm25_score is not None:
        have.bm25_score = c.bm25_score
