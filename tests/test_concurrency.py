"""Concurrency: one ingest at a time (``store.index_lock``), and queries that keep working during an
ingest without ever seeing half a document."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from small_corpus import QUERIES, IndexState, clean_build, index_state, write_corpus

import assistant.cli as cli
import assistant.ingest as ingest_module
from assistant import Assistant, Settings
from assistant.store import IndexBusyError

BUSY = r"another ingest is writing to .+; wait for it to finish and run again"


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> dict[int, IndexState]:
    """The state of a clean build of each corpus version."""
    base = tmp_path_factory.mktemp("clean")
    return {
        v: clean_build(write_corpus(base / f"corpus{v}", v), base / f"index{v}", embedder) for v in (1, 2)
    }


def _open(index: Path, embedder: Any) -> Assistant:
    return Assistant.open(index, Settings(index_dir=index), embedder=embedder)


def _assert_whole_documents(hits: list[Any], clean: dict[int, IndexState], where: str) -> None:
    """Every hit is a chunk of a complete version of its document, with that version's text, and
    the hits of one document all come from the same version."""
    versions = [clean[1].doc_chunks(), clean[2].doc_chunks()]
    texts = {**{i: c[1] for i, c in clean[1].chroma.items()}, **{i: c[1] for i, c in clean[2].chroma.items()}}
    by_doc: dict[str, set[str]] = {}
    for h in hits:
        assert h.chunk_id in texts, f"{where}: {h.chunk_id} belongs to no complete version"
        assert h.text == texts[h.chunk_id], f"{where}: {h.chunk_id} has text of no complete version"
        by_doc.setdefault(h.doc_id, set()).add(h.chunk_id)
    for doc, ids in by_doc.items():
        assert any(ids <= v.get(doc, set()) for v in versions), f"{where}: half of {doc}: {sorted(ids)}"


def test_second_ingest_is_refused_while_one_runs(
    tmp_path: Path, embedder: Any, clean: dict[int, IndexState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest of version 2 is held just before its commit (Chroma already rewritten): a second
    ingest through the API or the CLI is refused clearly, queries see version 1 only, and the
    store ends as a clean build of version 2."""
    index = tmp_path / "index"
    corpus = write_corpus(tmp_path / "corpus", 1)
    a = _open(index, embedder)
    assert a.ingest(corpus).ok
    write_corpus(corpus, 2)

    inside, release = threading.Event(), threading.Event()
    real_persist = ingest_module.persist_docstore

    def held_before_commit(docstore: Any, index_dir: Path) -> None:
        inside.set()
        assert release.wait(120)
        real_persist(docstore, index_dir)

    monkeypatch.setattr(ingest_module, "persist_docstore", held_before_commit)
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            outcome["report"] = a.ingest(corpus)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(180), outcome
        with pytest.raises(IndexBusyError, match=BUSY):
            _open(index, embedder).ingest(corpus)
        monkeypatch.setattr(cli, "_open", lambda s: Assistant.open(s.index_dir, s, embedder=embedder))
        res = CliRunner().invoke(cli.main, ["ingest", str(corpus), "--index", str(index)])
        assert res.exit_code == 2, res.output
        assert "error: another ingest is writing to" in res.output and "Traceback" not in res.output
        for doc, query in QUERIES.items():
            hits = a.retrieve(query, k=10)
            if doc in ("alpha", "gamma"):
                assert hits
            assert {h.chunk_id for h in hits} <= set(clean[1].chroma), "a query saw uncommitted chunks"
            _assert_whole_documents(hits, clean, f"held ingest, {query!r}")
    finally:
        release.set()
        thread.join(timeout=180)
    assert "error" not in outcome, outcome
    assert outcome["report"].ok
    index_state(index).assert_equals_clean(clean[2], "after a refused second ingest")


def test_lock_held_by_another_process_refuses_ingest(tmp_path: Path, embedder: Any) -> None:
    index = tmp_path / "index"
    corpus = write_corpus(tmp_path / "corpus", 1)
    code = (
        "import sys\nfrom pathlib import Path\nfrom assistant.store import index_lock\n"
        "with index_lock(Path(sys.argv[1])):\n    print('locked', flush=True)\n    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(index)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        with pytest.raises(IndexBusyError, match=BUSY):
            _open(index, embedder).ingest(corpus)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert _open(index, embedder).ingest(corpus).ok, "the lock is free once its holder is gone"


def test_queries_during_ingests_never_see_half_a_document(
    tmp_path: Path, embedder: Any, clean: dict[int, IndexState]
) -> None:
    """A thread queries in a loop (hybrid, dense, BM25) while the corpus flips between versions
    and is ingested five times: every query answers, and no hit comes from half a document."""
    index = tmp_path / "index"
    corpus = write_corpus(tmp_path / "corpus", 1)
    a = _open(index, embedder)
    assert a.ingest(corpus).ok
    counts = [{d: len(ids) for d, ids in clean[v].doc_chunks().items()} for v in (1, 2)]
    stop, ingesting = threading.Event(), threading.Event()
    results: list[tuple[str, str, bool, list[Any]]] = []
    documents: list[dict[str, int]] = []
    errors: list[str] = []

    def query_loop() -> None:
        while not stop.is_set():
            for doc, query in QUERIES.items():
                for mode in ("hybrid", "dense", "bm25"):
                    during = ingesting.is_set()
                    try:
                        results.append((doc, mode, during, a.retrieve(query, k=8, mode=mode)))  # type: ignore[arg-type]
                    except Exception as exc:
                        errors.append(f"{mode} {query!r}: {type(exc).__name__}: {exc}")
            try:
                documents.append({d["doc_id"]: d["chunks"] for d in a.documents()})
            except Exception as exc:
                errors.append(f"documents(): {type(exc).__name__}: {exc}")

    reader = threading.Thread(target=query_loop)
    reader.start()
    try:
        for version in (2, 1, 2, 1, 2):
            write_corpus(corpus, version)
            time.sleep(0.2)  # let a few queries run between ingests too
            ingesting.set()
            report = a.ingest(corpus)
            ingesting.clear()
            assert report.ok, report.failed
    finally:
        stop.set()
        reader.join(timeout=120)
    assert not errors, errors[:5]
    assert sum(1 for _d, _m, during, _h in results if during) >= 5, "too few queries ran during the ingests"
    for doc, mode, _during, hits in results:
        if doc in ("alpha", "gamma"):  # in both versions: a query for them always finds something
            assert hits, f"{mode} query for {doc} found nothing"
        _assert_whole_documents(hits, clean, f"{mode} query for {doc}")
    for seen in documents:
        assert seen in counts, f"documents() showed a mix of versions: {seen}"
    assert {d["doc_id"]: d["chunks"] for d in a.documents()} == counts[1], "queries still see an old snapshot"
    index_state(index).assert_equals_clean(clean[2], "after five ingests under queries")
