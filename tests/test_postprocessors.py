"""Retrieval postprocessors: the ordered list, its registry, and a new one added in one line."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_embedder import FakeEmbedder
from small_corpus import QUERIES, write_corpus

from assistant.postprocessors import REGISTRY, Postprocessor, QueryContext, ScoredChunk, pipeline, register


class DropDocument(Postprocessor):
    """The tiny example: a postprocessor is a class with ``postprocess_nodes``..."""

    name = "drop-document"

    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id

    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        return [n for n in nodes if n.doc_id != self.doc_id]


@pytest.fixture
def registry():
    saved = dict(REGISTRY)
    yield REGISTRY
    REGISTRY.clear()
    REGISTRY.update(saved)


@pytest.fixture
def fake_assistant(tmp_path: Path):
    from assistant import Assistant, Settings

    corpus = write_corpus(tmp_path / "corpus", 1)

    def make():
        return Assistant.open(tmp_path / "idx", Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder())

    assert make().ingest(corpus).ok
    return make


def test_default_pipeline_order_and_the_reranker_slot() -> None:
    from assistant import Settings

    assert [p.name for p in pipeline(Settings())] == ["committed", "diversify", "context"]
    assert list(REGISTRY) == ["committed", "rerank", "diversify", "context"]


def test_a_new_postprocessor_is_one_class_and_one_registration_line(registry, fake_assistant) -> None:
    before = fake_assistant().retrieve(QUERIES["alpha"], k=3)
    assert before[0].doc_id == "alpha"
    register("drop-document", lambda settings: DropDocument("alpha"), before="diversify")  # the one line
    assert list(registry) == ["committed", "rerank", "drop-document", "diversify", "context"]
    after = fake_assistant().retrieve(QUERIES["alpha"], k=3)
    assert after and all(h.doc_id != "alpha" for h in after)


def test_a_llama_index_postprocessor_joins_the_list(registry, fake_assistant) -> None:
    from llama_index.core.postprocessor import SimilarityPostprocessor

    from assistant.postprocessors import LlamaIndexPostprocessor

    full = fake_assistant().retrieve(QUERIES["beta"], k=5)
    assert len(full) >= 2
    cutoff = (full[0].score + full[-1].score) / 2
    register(
        "cutoff",
        lambda s: LlamaIndexPostprocessor(SimilarityPostprocessor(similarity_cutoff=cutoff)),
        before="diversify",
    )
    cut = fake_assistant().retrieve(QUERIES["beta"], k=5)
    assert cut and all(h.score >= cutoff for h in cut) and len(cut) < len(full)


def test_a_rerank_model_that_is_not_a_local_folder_is_a_clear_error(tmp_path: Path) -> None:
    from assistant import Assistant, AssistantError, Settings

    settings = Settings(index_dir=tmp_path / "idx", rerank_model=str(tmp_path / "no-such-model"))
    with pytest.raises(AssistantError, match=r"ASSISTANT_RERANK_MODEL=.*not a local cross-encoder folder"):
        Assistant.open(tmp_path / "idx", settings, embedder=FakeEmbedder())


def _chunk(cid: str, doc: str, score: float, start: int, end: int) -> ScoredChunk:
    meta = {"doc_id": doc, "start_char": start, "end_char": end}
    return ScoredChunk(cid, f"text of {cid}", meta, score=score, dense_score=score)


def test_committed_filter_and_diversity_on_made_up_chunks() -> None:
    from assistant import Settings
    from assistant.postprocessors.committed import CommittedChunks
    from assistant.postprocessors.diversify import DocumentDiversity

    spans = {"a1": ("A", 0, 100), "a2": ("A", 100, 200), "a3": ("A", 10, 105), "b1": ("B", 0, 100)}
    corpus = [
        {"doc_id": d, "start_char": a, "end_char": b, "_node_content": json.dumps({"text": f"text of {cid}"})}
        for cid, (d, a, b) in spans.items()
    ]
    snap = SimpleNamespace(
        committed=set(spans),
        position={cid: i for i, cid in enumerate(spans)},
        retriever=SimpleNamespace(corpus=corpus),
    )
    query = QueryContext(query="q", k=2, settings=Settings(), snapshot=snap)  # type: ignore[arg-type]
    nodes = [
        _chunk("a1", "A", 1.0, 0, 100),
        _chunk("a2", "A", 0.95, 100, 200),
        _chunk("a3", "A", 0.9, 10, 105),  # mostly a1's text
        _chunk("b1", "B", 0.9, 0, 100),
        _chunk("x9", "X", 2.0, 0, 100),  # not committed: an ingest is writing it
    ]
    bm25_only_zero = ScoredChunk("b1", "", {"doc_id": "B"}, 0.0, None, 0.0)
    nodes[0].text, nodes[0].metadata = "", {}  # Chroma mid-rewrite: the snapshot's copy is used
    kept = CommittedChunks().postprocess_nodes([*nodes, bm25_only_zero], query)
    assert [n.chunk_id for n in kept] == ["a1", "a2", "a3", "b1"]
    assert kept[0].text == "text of a1" and kept[0].metadata["end_char"] == 100
    out = DocumentDiversity(0.15).postprocess_nodes(kept, query)
    hits = [n.chunk_id for n in out if n.role == "hit"]
    assert hits == ["a1", "b1"], "the second document beats a second passage of the first"
    fresh = [
        _chunk(c.chunk_id, c.doc_id, c.score, c.metadata["start_char"], c.metadata["end_char"]) for c in kept
    ]
    out = DocumentDiversity(0.0).postprocess_nodes(fresh, query)
    assert [n.chunk_id for n in out if n.role == "hit"] == ["a1", "a2"], "no penalty: the best two"
