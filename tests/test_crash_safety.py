"""Crash safety: an ingest that dies at any moment leaves an index the next ingest repairs.

Two kinds of test. Deterministic ones interrupt an in-process ingest at each commit step (a
``BaseException`` raised from inside, so no ``except Exception`` can tidy up) and check the next
ingest. The kill trials run ``assistant ingest`` as a subprocess and ``kill -9`` it: the first
soon after it wrote ``pending.json`` (inside its write), the second after it took the index lock,
later ones at a random moment; 2 trials run by default and 10 under ``-m slow``. Where each kill
landed is judged from the files the killed process left and recorded (``landings.jsonl``, printed);
at least one must have landed inside a write, else no trial tested a repair. After recovery the
index must equal a clean build: the same chunk ids, text and metadata in Chroma, the same ids in the
BM25 snapshot and the catalogue, no duplicates, no orphans, the same docstore, nothing left behind.
"""

from __future__ import annotations

import json
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

POLL_S = 0.005
# Where a kill landed, judged from the files the killed ingest left (see ``_landing``). "mid-write"
# is a kill inside a write: pending.json exists from before the first change to Chroma until after
# the docstore commit, so the index was half rewritten and the next ingest has to repair it.
PHASES = ("finished", "before-write", "mid-write", "snapshot-pending", "after-commit")


@dataclass
class CliRun:
    """One ``assistant ingest --json`` subprocess (stderr read as it comes, so the pipe never fills)."""

    proc: subprocess.Popen[bytes]
    index: Path
    started: float
    stderr: list[bytes] = field(default_factory=list)
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
        run = cls(proc, index, time.monotonic())
        run.reader = threading.Thread(target=run._read, daemon=True)
        run.reader.start()
        return run

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for piece in iter(lambda: self.proc.stderr.read1(4096), b""):  # type: ignore[union-attr]
            self.stderr.append(piece)

    def holds_lock(self) -> bool:
        """The ingest took the index lock (model loaded, ingest started): ``.lock`` holds its pid."""
        try:
            return (self.index / ".lock").read_text().strip() == str(self.proc.pid)
        except OSError:
            return False

    def writing(self) -> bool:
        """``pending.json`` exists: the ingest is changing Chroma and has not committed."""
        return (self.index / "pending.json").exists()

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> float | None:
        """Seconds since start when ``condition`` first held (polled), or None if the process
        ended or ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                return None
            time.sleep(POLL_S)
        return None

    def finish(self, timeout: float = 600) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)  # stdout holds one JSON line: the pipe cannot fill
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        if self.reader is not None:
            self.reader.join(timeout=10)
        return code, out.decode(), b"".join(self.stderr).decode(errors="replace")


@dataclass(frozen=True)
class Calibration:
    """A complete CLI ingest of version 1: its index, and when (seconds from its start) it took
    the lock, wrote pending.json, cleared it (the commit), and ended."""

    template: Path  # copied by the trials, never opened in this process
    to_lock: float
    write_start: float
    write_end: float
    total: float

    @property
    def write_window(self) -> float:
        return max(0.05, self.write_end - self.write_start)


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Calibration:
    base = tmp_path_factory.mktemp("cli")
    template = base / "template"
    run = CliRun.start(write_corpus(base / "corpus", 1), template)
    to_lock = run.wait_for(run.holds_lock, timeout=300)
    write_start = run.wait_for(run.writing, timeout=300)
    write_end = run.wait_for(lambda: not run.writing(), timeout=300)
    code, out, err = run.finish()
    total = time.monotonic() - run.started
    assert code == 0, err[-3000:]
    assert cli_report(out)["added"] == 3
    assert to_lock is not None and write_start is not None, "the calibration run was not seen writing"
    (template / ".lock").write_text("")  # the trials' own pid goes there
    return Calibration(template, to_lock, write_start, write_end or total, total)


@dataclass(frozen=True)
class Start:
    """The index a trial starts from: its docstore bytes and BM25 snapshot link (None: fresh)."""

    docstore: bytes | None
    snapshot: str | None

    @classmethod
    def of(cls, index: Path) -> Start:
        docstore, link = index / "docstore.json", index / "bm25"
        return cls(
            docstore.read_bytes() if docstore.exists() else None,
            os.readlink(link) if link.is_symlink() else None,
        )


def _landing(index: Path, code: int, start: Start) -> str:
    """Where the killed ingest was (one of ``PHASES``), from the files it left behind."""
    if code != -signal.SIGKILL:
        return "finished"
    if (index / "pending.json").exists():
        return "mid-write"
    now = Start.of(index)
    if now.docstore == start.docstore:
        return "before-write"
    return "snapshot-pending" if now.snapshot == start.snapshot else "after-commit"


def _trials(n: int, seed: int) -> Iterator[tuple[str, str]]:
    """``n`` (kind, timing) pairs; kinds: fresh build, update, update reverted before recovery.
    The first is killed inside its write (soon after pending.json appears), the second after it
    took the lock (model loaded), later ones at random."""
    rng = random.Random(seed)
    kinds = ["update", "revert", "fresh"]
    fixed = ["in-write", "after-lock"]
    for i in range(n):
        yield kinds[i % 3], fixed[i] if i < len(fixed) else rng.choice(["after-start", *fixed])


def _kill_one(
    i: int, kind: str, timing: str, calibration: Calibration, base: Path, rng: random.Random
) -> dict[str, Any]:
    """Start trial ``i``, kill it at ``timing``, and say where the kill landed."""
    index = base / f"trial{i}" / "index"
    corpus = write_corpus(base / f"trial{i}" / "corpus", 1 if kind == "fresh" else 2)
    if kind != "fresh":
        shutil.copytree(calibration.template, index, symlinks=True)
    start = Start.of(index)
    run = CliRun.start(corpus, index)
    if timing == "in-write":
        run.wait_for(run.writing, timeout=300)
        delay = rng.uniform(0.0, 0.4 * calibration.write_window)
    elif timing == "after-lock":
        run.wait_for(run.holds_lock, timeout=300)
        delay = rng.uniform(0.0, 1.3 * max(0.2, calibration.write_end - calibration.to_lock))
    else:
        delay = max(
            0.0, rng.uniform(0.3 * calibration.to_lock, calibration.total) - (time.monotonic() - run.started)
        )
    time.sleep(delay)
    if run.proc.poll() is None:
        run.proc.send_signal(signal.SIGKILL)  # kill -9
    code, _out, err = run.finish()
    assert code in (0, -signal.SIGKILL), err[-3000:]
    landing = _landing(index, code, start)
    return {
        "trial": i,
        "kind": kind,
        "timing": timing,
        "delay_s": round(delay, 3),
        "exit": code,
        "landed": landing,
    }


def _kill_trials(
    n: int, calibration: Calibration, clean: dict[int, IndexState], embedder: Any, base: Path
) -> list[dict[str, Any]]:
    """``n`` kill trials, each followed by a recovering ingest that must leave a clean build;
    a trial that had to land inside a write and did not is tried again (at most twice). Every
    landing is written to ``base/landings.jsonl``."""
    seed = int(os.environ.get("CRASH_SEED", random.SystemRandom().randrange(10**6)))
    rng = random.Random(seed)
    plan = list(_trials(n, seed))
    records: list[dict[str, Any]] = []
    retries = 0
    while len(records) < len(plan) + retries:
        i = len(records)
        kind, timing = plan[i] if i < len(plan) else ("update", "in-write")
        record = {"seed": seed, **_kill_one(i, kind, timing, calibration, base, rng)}
        records.append(record)
        with (base / "landings.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        index, corpus = base / f"trial{i}" / "index", base / f"trial{i}" / "corpus"
        target = 1 if kind in ("fresh", "revert") else 2
        write_corpus(corpus, target)
        context = f"CRASH_SEED={seed}: {record}"
        report = _ingest(index, corpus, embedder)
        assert report.ok, (context, report.failed)
        index_state(index).assert_equals_clean(clean[target], context)
        assert _ingest(index, corpus, embedder).chunks_written == 0, context
        if timing == "in-write" and record["landed"] != "mid-write" and retries < 2:
            retries += 1
    return records


def _assert_a_kill_landed_inside_a_write(records: list[dict[str, Any]]) -> None:
    assert all(r["landed"] in PHASES for r in records), records
    assert any(r["landed"] == "mid-write" for r in records), (
        "no kill landed inside a write (pending.json present after the kill), so no trial tested a "
        f"repair: {records}"
    )


def test_kill_9_during_cli_ingest_two_trials(
    calibration: Calibration, clean: dict[int, IndexState], embedder: Any, tmp_path: Path
) -> None:
    records = _kill_trials(2, calibration, clean, embedder, tmp_path)
    print("\n".join(map(json.dumps, records)))
    _assert_a_kill_landed_inside_a_write(records)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 10 trials took 310 s
def test_kill_9_during_cli_ingest_ten_trials(
    calibration: Calibration, clean: dict[int, IndexState], embedder: Any, tmp_path: Path
) -> None:
    records = _kill_trials(10, calibration, clean, embedder, tmp_path)
    print("\n".join(map(json.dumps, records)))
    _assert_a_kill_landed_inside_a_write(records)
