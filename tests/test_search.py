"""``assistant.search.fuse`` reproduces LlamaIndex's ``QueryFusionRetriever`` (it replaces it so a
query need not import ``llama_index.core``): same order, same scores, on made-up lists."""

from __future__ import annotations

import pytest

from assistant.postprocessors import ScoredChunk
from assistant.search import chroma_where, fuse

DENSE = [("a", 0.91), ("b", 0.88), ("c", 0.80), ("d", 0.80), ("e", 0.61)]
BM25 = [("c", 7.5), ("f", 6.0), ("a", 2.25), ("g", 0.0), ("h", 0.0)]


def _ours(mode: str, depth: int) -> list[tuple[str, float]]:
    dense = [ScoredChunk(cid, f"text {cid}", {}, score=s, dense_score=s) for cid, s in DENSE]
    bm25 = [ScoredChunk(cid, f"text {cid}", {}, score=s, bm25_score=s) for cid, s in BM25]
    return [(c.chunk_id, c.score) for c in fuse([dense, bm25], mode, depth)]


def _llama_index(mode: str, depth: int) -> list[tuple[str, float]]:
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
    from llama_index.core.schema import NodeWithScore, TextNode

    class Fixed(BaseRetriever):
        def __init__(self, results: list[tuple[str, float]]) -> None:
            super().__init__()
            self.results = results

        def _retrieve(self, query_bundle):  # type: ignore[no-untyped-def]
            return [NodeWithScore(node=TextNode(id_=c, text=f"text {c}"), score=s) for c, s in self.results]

    fusion = QueryFusionRetriever(
        [Fixed(DENSE), Fixed(BM25)],
        llm=MockLLM(),
        mode=mode,
        similarity_top_k=depth,
        num_queries=1,
        use_async=False,
    )
    return [(r.node.node_id, float(r.score or 0.0)) for r in fusion.retrieve("a question")]


@pytest.mark.parametrize("mode", ["relative_score", "reciprocal_rerank"])
@pytest.mark.parametrize("depth", [3, 20])
def test_fusion_matches_llama_index(mode: str, depth: int) -> None:
    ours, theirs = _ours(mode, depth), _llama_index(mode, depth)
    assert [c for c, _ in ours] == [c for c, _ in theirs]
    assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-12)


def test_each_side_keeps_its_own_score() -> None:
    dense = [ScoredChunk("a", "", {}, score=0.9, dense_score=0.9)]
    bm25 = [
        ScoredChunk("a", "", {}, score=3.0, bm25_score=3.0),
        ScoredChunk("b", "", {}, score=1.0, bm25_score=1.0),
    ]
    out = {c.chunk_id: c for c in fuse([dense, bm25], "relative_score", 10)}
    assert (out["a"].dense_score, out["a"].bm25_score) == (0.9, 3.0)
    assert (out["b"].dense_score, out["b"].bm25_score) == (None, 1.0)


def test_chroma_where() -> None:
    assert chroma_where(None, None, None) is None
    assert chroma_where(["x"], None, None) == {"doc_id": {"$in": ["x"]}}
    assert chroma_where(["x"], 20240101, 20241231) == {
        "$and": [
            {"doc_id": {"$in": ["x"]}},
            {"date_end": {"$gte": 20240101}},
            {"date_start": {"$lte": 20241231}},
        ]
    }
