"""Sentence vectors stored at ingest: answers read them instead of embedding, and say the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fake_embedder import FakeEmbedder
from small_corpus import QUERIES, write_corpus

from assistant.sentence_store import STORE_DIR, SentenceStore, StoredSentences, digest, fill


def _open(index: Path, embedder: FakeEmbedder, **settings):
    from assistant import Assistant, Settings

    return Assistant.open(index, Settings(index_dir=index, **settings), embedder=embedder)


def test_ingest_stores_sentences_and_answers_use_them(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 1)
    embedder = FakeEmbedder()
    a = _open(tmp_path / "idx", embedder)
    assert a.ingest(corpus).ok
    store = SentenceStore(tmp_path / "idx", embedder.model_id)
    assert len(store) > 10
    question = QUERIES["alpha"] + "?"
    embedder.clear_caches()
    before = embedder.calls
    with_store = a.ask(question)
    used = embedder.calls - before
    plain = _open(tmp_path / "idx", FakeEmbedder(), sentence_vectors=False)
    plain.embedder.clear_caches()
    without = plain.ask(question)
    embedded_without = plain.embedder.calls
    assert with_store.text == without.text and with_store.citations == without.citations
    assert used < embedded_without / 2, (used, embedded_without)
    # an unchanged corpus adds nothing; a rebuild starts afresh
    assert a.store_sentences() == 0
    assert a.ingest(corpus, rebuild=True).ok and len(
        SentenceStore(tmp_path / "idx", embedder.model_id)
    ) == len(store)


def test_the_store_answers_by_text_and_ignores_another_model(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    texts = [f"Sentence number {i} about cerium." for i in range(300)]
    assert fill(tmp_path, texts, embedder) == 300
    assert fill(tmp_path, [*texts, "One more."], embedder) == 1
    store = SentenceStore(tmp_path, embedder.model_id)
    found = store.lookup(["One more.", "never stored", texts[7]])
    assert set(found) == {0, 2}
    assert np.allclose(found[2], embedder.encode([texts[7]])[0])
    assert SentenceStore(tmp_path, "another-model").lookup(texts) == {}
    view = StoredSentences(FakeEmbedder(), store)
    got = view.encode_cached([texts[3], "never stored"])
    assert np.allclose(got, embedder.encode([texts[3], "never stored"]))
    assert view.inner.calls == 1, "only the unknown text was embedded"
    assert (tmp_path / STORE_DIR / "keys.npy").exists() and len(digest("x")) == 16
