"""Crash safety: an ingest that dies at any moment leaves an index the next ingest repairs.

Two kinds of test. Deterministic ones interrupt an in-process ingest at each commit step (a
``BaseException`` raised from inside, so no ``except Exception`` can tidy up) and check the next
ingest. The kill trials run ``assistant ingest`` as a subprocess and ``kill -9`` it at a random
moment; 2 trials run by default and 10 under ``-m slow``. After recovery the index must equal a
clean build: the same chunk ids, text and metadata in Chroma, the same ids in the BM25 snapshot, no
duplicates, no orphans, the same docstore, nothing left behind.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from small_corpus import IndexState, clean_build, cli_report, index_state, write_corpus
from ui_fixtures import assistant_command, subprocess_env

from assistant import Assistant, Settings

REPO = Path(__file__).resolve().parents[1]


class Crash(BaseException):
    """Stands in for the process dying at this point."""


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> dict[int, IndexState]:
    """The state of a clean build of each corpus version."""
    base = tmp_path_factory.mktemp("clean")
    return {
        v: clean_build(write_corpus(base / f"corpus{v}", v), base / f"index{v}", embedder) for v in (1, 2)
    }


@pytest.fixture(scope="module")
def built_v1(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """An index of version 1, copied by tests that start from it (never written to itself)."""
    base = tmp_path_factory.mktemp("built")
    index = base / "index"
    _ingest(index, write_corpus(base / "corpus", 1), embedder)
    return index


def _ingest(index: Path, corpus: Path, embedder: Any, **kwargs: Any) -> Any:
    return Assistant.open(index, Settings(index_dir=index), embedder=embedder).ingest(corpus, **kwargs)


# ----------------------------------------------------------------------------- deterministic


def _crash_on_call(target: str) -> Callable[[pytest.MonkeyPatch], None]:
    """Die when ``assistant.ingest.<target>`` is called (the step has not happened)."""

    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        def die(*_args: Any, **_kwargs: Any) -> None:
            raise Crash(target)

        monkeypatch.setattr(f"assistant.ingest.{target}", die)

    return install


def _crash_in_chroma_add(monkeypatch: pytest.MonkeyPatch) -> None:
    """Die after Chroma stored the first half of a batch of new chunks."""
    from llama_index.vector_stores.chroma import ChromaVectorStore

    real_add = ChromaVectorStore.add

    def half_then_die(self: Any, nodes: list[Any], **kwargs: Any) -> list[str]:
        real_add(self, nodes[: max(1, len(nodes) // 2)], **kwargs)
        raise Crash("chroma add")

    monkeypatch.setattr(ChromaVectorStore, "add", half_then_die)


def _crash_at_bm25_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Die with the new BM25 snapshot built but not yet swapped in (its folder is left behind, as
    a killed process would leave it). Only ``assistant.store``'s view of ``os``/``shutil`` changes."""
    import assistant.store as store

    class Os:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def replace(src: Any, dst: Any) -> None:
            if Path(dst).name == store.BM25_DIR:
                raise Crash("bm25 swap")
            os.replace(src, dst)

    class Shutil:
        def __getattr__(self, name: str) -> Any:
            return getattr(shutil, name)

        @staticmethod
        def rmtree(*_args: Any, **_kwargs: Any) -> None:
            return None

    monkeypatch.setattr(store, "os", Os())
    monkeypatch.setattr(store, "shutil", Shutil())


CRASH_POINTS = {
    "mid-chroma-add": _crash_in_chroma_add,
    "before-docstore-saved": _crash_on_call("persist_docstore"),
    "before-pending-cleared": _crash_on_call("clear_pending"),
    "at-bm25-swap": _crash_at_bm25_swap,
}


@pytest.mark.parametrize(
    ("point", "recover_with"),
    [
        ("mid-chroma-add", 2),
        ("mid-chroma-add", 1),
        ("before-docstore-saved", 2),
        ("before-docstore-saved", 1),
        ("before-pending-cleared", 1),
        ("at-bm25-swap", 2),
    ],
)
def test_update_interrupted_then_next_ingest_repairs(
    point: str,
    recover_with: int,
    built_v1: Path,
    clean: dict[int, IndexState],
    embedder: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """v1 indexed; the ingest of v2 dies at ``point``; the next ingest of v2 (retry) or v1 (the
    change was reverted meanwhile) leaves exactly a clean build of that version."""
    index = tmp_path / "index"
    shutil.copytree(built_v1, index, symlinks=True)
    corpus = write_corpus(tmp_path / "corpus", 2)
    with monkeypatch.context() as patch:
        CRASH_POINTS[point](patch)
        with pytest.raises(Crash):
            _ingest(index, corpus, embedder)
    write_corpus(corpus, recover_with)
    report = _ingest(index, corpus, embedder)
    assert report.ok, report.failed
    state = index_state(index)
    state.assert_equals_clean(clean[recover_with], f"crash {point}, recovered with v{recover_with}")
    assert _ingest(index, corpus, embedder).chunks_written == 0, "a second ingest must find nothing to do"


@pytest.mark.parametrize("point", ["mid-chroma-add", "before-docstore-saved"])
def test_first_build_interrupted_then_next_ingest_repairs(
    point: str,
    clean: dict[int, IndexState],
    embedder: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The very first ingest dies (no docstore yet, chunks in Chroma); the metadata of the
    surviving chunks changes before the next ingest, which must not keep the stale copy."""
    index = tmp_path / "index"
    corpus = write_corpus(tmp_path / "corpus", 1)
    with monkeypatch.context() as patch:
        CRASH_POINTS[point](patch)
        with pytest.raises(Crash):
            _ingest(index, corpus, embedder)
    manifest = corpus / "manifest.yaml"
    original = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        original.replace("Zorbium refinery shipments", "Zorbium refinery shipment log"), encoding="utf-8"
    )
    _ingest(index, corpus, embedder)
    titles = {t for (doc, _text, t, _d) in index_state(index).chroma.values() if doc == "alpha"}
    assert titles == {"Zorbium refinery shipment log"}, "chunks kept the metadata of the interrupted run"
    manifest.write_text(original, encoding="utf-8")
    _ingest(index, corpus, embedder)
    index_state(index).assert_equals_clean(clean[1], f"first build, crash {point}")


def test_rebuild_interrupted_then_next_ingest_repairs(
    built_v1: Path,
    clean: dict[int, IndexState],
    embedder: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--rebuild`` dies after deleting some of the chunks: a plain ingest restores everything."""
    import assistant.ingest as ingest_module

    index = tmp_path / "index"
    shutil.copytree(built_v1, index, symlinks=True)
    corpus = write_corpus(tmp_path / "corpus", 1)
    real_delete = ingest_module._delete_chunks

    def delete_half_then_die(collection: Any, ids: list[str]) -> None:
        real_delete(collection, ids[: len(ids) // 2])
        raise Crash("rebuild")

    with monkeypatch.context() as patch:
        patch.setattr(ingest_module, "_delete_chunks", delete_half_then_die)
        with pytest.raises(Crash):
            _ingest(index, corpus, embedder, rebuild=True)
    report = _ingest(index, corpus, embedder)
    assert report.ok and report.chunks_written == len(clean[1].chroma)
    index_state(index).assert_equals_clean(clean[1], "rebuild interrupted")


def test_leftovers_of_a_killed_ingest_are_removed(
    built_v1: Path, clean: dict[int, IndexState], embedder: Any, tmp_path: Path
) -> None:
    """Half-written temporary files (docstore, pending list, BM25 folders, symlink) are swept."""
    index = tmp_path / "index"
    shutil.copytree(built_v1, index, symlinks=True)
    (index / ".docstore.json.k3j4").write_text("{")
    (index / ".pending.json.x9").write_text("[")
    (index / ".bm25-half").mkdir()
    (index / ".bm25-half" / "corpus.jsonl").write_text("{")
    (index / ".bm25-old-123").mkdir()
    (index / ".bm25-link-99").symlink_to(".bm25-half")
    _ingest(index, write_corpus(tmp_path / "corpus", 1), embedder)
    index_state(index).assert_equals_clean(clean[1], "leftovers")


# ----------------------------------------------------------------------------- kill -9 trials


@dataclass
class CliRun:
    """One ``assistant ingest`` subprocess with its stderr read as it comes."""

    proc: subprocess.Popen[bytes]
    started: float
    stderr: list[bytes] = field(default_factory=list)
    loading_at: float | None = None
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, corpus: Path, index: Path) -> CliRun:
        proc = subprocess.Popen(
            [*assistant_command(), "ingest", str(corpus), "--index", str(index), "--json"],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        run = cls(proc, time.monotonic())
        run.reader = threading.Thread(target=run._read, daemon=True)
        run.reader.start()
        return run

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for piece in iter(lambda: self.proc.stderr.read1(4096), b""):  # type: ignore[union-attr]
            self.stderr.append(piece)
            if self.loading_at is None and b"loading" in b"".join(self.stderr[-2:]):
                self.loading_at = time.monotonic()

    def wait_for_loading(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.loading_at is None and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.loading_at is not None

    def finish(self, timeout: float = 600) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)  # stdout holds one JSON line: the pipe cannot fill
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        if self.reader is not None:
            self.reader.join(timeout=10)
        return code, out.decode(), b"".join(self.stderr).decode(errors="replace")


@dataclass(frozen=True)
class Calibration:
    """A complete CLI ingest of version 1: its index, and when it showed progress and ended."""

    template: Path  # copied by the trials, never opened in this process
    to_loading: float  # seconds from start until the "loading" progress bar (model loaded, lock held)
    to_commit: float  # ... until docstore.json appeared (the commit)
    total: float


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Calibration:
    base = tmp_path_factory.mktemp("cli")
    template = base / "template"
    run = CliRun.start(write_corpus(base / "corpus", 1), template)
    committed_at = None
    while run.proc.poll() is None:
        if committed_at is None and (template / "docstore.json").exists():
            committed_at = time.monotonic()
        time.sleep(0.02)
    code, out, err = run.finish()
    total = time.monotonic() - run.started
    assert code == 0, err[-3000:]
    assert cli_report(out)["added"] == 3
    to_loading = (run.loading_at or run.started + total) - run.started
    to_commit = (committed_at or run.started + total) - run.started
    return Calibration(template, to_loading, max(to_commit, to_loading), total)


def _phase(index: Path, code: int, template: Path | None) -> str:
    """Where the killed ingest was, judged from the files it left (without opening Chroma)."""
    if code != -signal.SIGKILL:
        return "finished before the kill"
    if (index / "pending.json").exists():
        return "mid-write (pending.json present)"
    docstore = index / "docstore.json"
    if template is not None and docstore.exists():
        if docstore.read_bytes() != (template / "docstore.json").read_bytes():
            return "after the docstore commit"
    elif template is None and docstore.exists():
        return "after the docstore commit"
    return "before any write"


def _trials(n: int, seed: int) -> Iterator[tuple[str, str]]:
    """``n`` (kind, timing) pairs; kinds: fresh build, update, update reverted before recovery.
    The first two are killed after the model loaded (mostly mid-write); later ones at random."""
    rng = random.Random(seed)
    kinds = ["update", "revert", "fresh"]
    for i in range(n):
        yield kinds[i % 3], "after-loading" if i < 2 else rng.choice(["after-start", "after-loading"])


def _kill_trials(
    n: int, calibration: Calibration, clean: dict[int, IndexState], embedder: Any, base: Path
) -> list[str]:
    seed = int(os.environ.get("CRASH_SEED", random.SystemRandom().randrange(10**6)))
    rng = random.Random(seed)
    log = []
    for i, (kind, timing) in enumerate(_trials(n, seed)):
        index = base / f"trial{i}" / "index"
        corpus = write_corpus(base / f"trial{i}" / "corpus", 1 if kind == "fresh" else 2)
        if kind != "fresh":
            shutil.copytree(calibration.template, index, symlinks=True)
        run = CliRun.start(corpus, index)
        if timing == "after-start":
            delay = rng.uniform(0.3 * calibration.to_loading, calibration.total)
            time.sleep(max(0.0, delay - (time.monotonic() - run.started)))
        else:
            run.wait_for_loading(timeout=300)  # then mostly within the writes, sometimes after the commit
            delay = rng.uniform(0.0, 1.3 * max(0.2, calibration.to_commit - calibration.to_loading))
            time.sleep(delay)
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGKILL)  # kill -9
        code, _out, _err = run.finish()
        phase = _phase(index, code, calibration.template if kind != "fresh" else None)
        target = 1 if kind in ("fresh", "revert") else 2
        write_corpus(corpus, target)
        context = f"seed {seed} (CRASH_SEED), trial {i}: {kind}, {timing} +{delay:.2f}s, {phase}"
        report = _ingest(index, corpus, embedder)
        assert report.ok, (context, report.failed)
        index_state(index).assert_equals_clean(clean[target], context)
        assert _ingest(index, corpus, embedder).chunks_written == 0, context
        log.append(context)
    return log


def test_kill_9_during_cli_ingest_two_trials(
    calibration: Calibration, clean: dict[int, IndexState], embedder: Any, tmp_path: Path
) -> None:
    log = _kill_trials(2, calibration, clean, embedder, tmp_path)
    print("\n".join(log))


@pytest.mark.slow
def test_kill_9_during_cli_ingest_ten_trials(
    calibration: Calibration, clean: dict[int, IndexState], embedder: Any, tmp_path: Path
) -> None:
    log = _kill_trials(10, calibration, clean, embedder, tmp_path)
    print("\n".join(log))
