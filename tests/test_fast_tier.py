"""The fast tier: ingest, retrieve and answer end to end with the fake embedder (no model, no torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_embedder import FakeEmbedder
from small_corpus import QUERIES, write_corpus

REPO = Path(__file__).resolve().parents[1]


def test_fake_embedder_is_deterministic_and_normalised() -> None:
    a, b = FakeEmbedder(), FakeEmbedder()
    texts = ["Zorbium refinery shipments", "zorbium REFINERY shipment", "a different subject", ""]
    va, vb = a.encode(texts), b.encode(texts)
    assert np.array_equal(va, vb)
    assert np.allclose(np.linalg.norm(va, axis=1), 1.0)
    assert float(va[0] @ va[1]) > 0.99 > float(va[0] @ va[2])
    assert a.query(texts[0]) == [float(x) for x in va[0]]
    calls = a.calls
    a.query(texts[0])
    a.encode_cached(texts[:2])
    a.encode_cached(texts[:2])
    assert a.calls == calls + 2, "the query vector and the sentence vectors are cached"


FAST_RUN = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from assistant import Assistant, Settings
from fake_embedder import FakeEmbedder

corpus, index, queries = Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
a = Assistant.open(index, Settings(index_dir=index), embedder=FakeEmbedder())
report = a.ingest(corpus)
top = {name: a.retrieve(q, k=3)[0].doc_id for name, q in queries.items()}
answer = a.ask(queries["alpha"] + "?")
heavy = sorted(m for m in ("torch", "sentence_transformers", "sklearn", "transformers") if m in sys.modules)
print("@@" + json.dumps({"added": report.added, "chunks": report.chunks_written, "top": top,
                         "answer": answer.text, "status": answer.status,
                         "cited": [c.doc_id for c in answer.citations], "heavy": heavy,
                         "record": json.loads((index / "embedder.json").read_text())}))
"""


def test_ingest_retrieve_and_ask_with_the_fake_embedder_import_no_torch(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 1)
    queries = json.dumps({name: q for name, q in QUERIES.items() if name != "delta"})  # delta: version 2
    done = subprocess.run(
        [sys.executable, "-c", FAST_RUN, str(REPO / "tests"), str(corpus), str(tmp_path / "idx"), queries],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(next(line[2:] for line in done.stdout.splitlines() if line.startswith("@@")))
    assert out["heavy"] == [], f"the fast tier imported {out['heavy']}"
    assert out["added"] == 3 and out["chunks"] > 0
    for name, doc in out["top"].items():
        assert doc.startswith(name), (name, doc)
    assert out["status"] != "refused" and out["cited"] and set(out["cited"]) <= {"alpha"}
    assert out["record"] == {"backend": "fake", "dim": 256, "model_id": "fake-hashed-words-v1"}


@pytest.fixture
def fake_index(tmp_path: Path):
    from assistant import Assistant, Settings

    corpus = write_corpus(tmp_path / "corpus", 1)
    index = tmp_path / "idx"
    a = Assistant.open(index, Settings(index_dir=index), embedder=FakeEmbedder())
    assert a.ingest(corpus).ok
    return a, corpus, index


def test_a_query_embedder_of_another_model_is_refused(fake_index, embedder) -> None:
    """An index built with one model refuses queries embedded by another, naming both and the fix."""
    from assistant import Assistant, AssistantError, Settings

    _, _, index = fake_index
    real = Assistant.open(index, Settings(index_dir=index), embedder=embedder)
    with pytest.raises(AssistantError) as err:
        real.ask("Who bought the Zorbium refinery's dysprosium?")
    msg = str(err.value)
    assert "fake-hashed-words-v1" in msg and embedder.model_id in msg
    assert "256 dimensions in the index, 384" in msg and "--rebuild" in msg

    class SameNameOtherSize(FakeEmbedder):
        pass

    narrow = Assistant.open(index, Settings(index_dir=index), embedder=SameNameOtherSize(dim=64))
    with pytest.raises(AssistantError, match="256 dimensions in the index, 64 from this embedder"):
        narrow.retrieve("Zorbium refinery")


def test_ingest_with_another_model_needs_rebuild(fake_index) -> None:
    from assistant import Assistant, AssistantError, Settings

    _, corpus, index = fake_index

    class Renamed(FakeEmbedder):
        model_id = "fake-hashed-words-v2"

    a = Assistant.open(index, Settings(index_dir=index), embedder=Renamed())  # as `assistant ingest` does
    with pytest.raises(AssistantError, match="does not match the embedding model"):
        a.retrieve("Zorbium refinery")
    with pytest.raises(AssistantError, match="rebuild"):
        a.ingest(corpus)
    report = a.ingest(corpus, rebuild=True)
    assert report.ok and report.added == 3
    record = json.loads((index / "embedder.json").read_text(encoding="utf-8"))
    assert record["model_id"] == "fake-hashed-words-v2"
    assert a.retrieve("Zorbium refinery"), "the same assistant queries the rebuilt index"
    with pytest.raises(AssistantError, match="fake-hashed-words-v2"):
        Assistant.open(index, Settings(index_dir=index), embedder=FakeEmbedder()).retrieve("Zorbium")


def test_an_object_with_the_protocols_parts_is_accepted(tmp_path: Path) -> None:
    """``embedder=`` takes any object with encode/model_id/dim; anything else is a clear error."""
    from assistant import Assistant, AssistantError, Settings

    class Bare:
        model_id, dim = "bare-v1", 8

        def encode(self, texts):
            return np.eye(8, dtype=np.float32)[[len(t) % 8 for t in texts]]

    a = Assistant.open(tmp_path / "idx", Settings(index_dir=tmp_path / "idx"), embedder=Bare())
    assert a.embedder.model_id == "bare-v1" and len(a.embedder.query("abc")) == 8
    with pytest.raises(AssistantError, match="needs encode"):
        Assistant.open(tmp_path / "idx2", Settings(index_dir=tmp_path / "idx2"), embedder=object())
