"""Fixtures shared by the UI tests: one index and one real ``assistant serve`` per session.

Load with ``pytest_plugins = ["ui_fixtures"]`` in a test module (the fixtures are then shared by
every module that does so, not built once per module). Everything is written under pytest's tmp
dirs except screenshots, which go to ``test-artifacts/`` (gitignored) at the repo root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"

# A document whose text holds markup: the UI must show it as text and never run it.
PROBE_DOC_ID = "zz_markup_probe"
PROBE_TEXT = """Markup probe <img src=x onerror="window.__pwned=1"> for the Quillfeather tungsten ledger

The Quillfeather tungsten ledger records <script>window.__pwned=1</script> shipments of tungsten \
concentrate from the Quillfeather mine.

The Quillfeather ledger also lists <img src=x onerror="window.__pwned=1"> the buyers of the tungsten \
concentrate.
"""
PROBE_QUESTION = "What does the Quillfeather tungsten ledger record?"


@dataclass(frozen=True)
class UiServer:
    """A running ``assistant serve``: its URL and the folders it uses."""

    url: str
    corpus_dir: Path
    index_dir: Path
    feedback_dir: Path
    log_path: Path

    @property
    def feedback_file(self) -> Path:
        return self.feedback_dir / "feedback.jsonl"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def ui_probe() -> dict[str, str]:
    """The markup probe document's id and a question it answers."""
    return {"doc_id": PROBE_DOC_ID, "question": PROBE_QUESTION}


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``test-artifacts/`` at the repo root (gitignored), for screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def free_port() -> int:
    """A free loopback port (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assistant_command() -> list[str]:
    """The ``assistant`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "assistant"
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli"]


def subprocess_env(**assistant_vars: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update({f"ASSISTANT_{k.upper()}": v for k, v in assistant_vars.items()})
    return env


@pytest.fixture(scope="session")
def ui_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tmp copy of the shipped corpus plus the markup probe document."""
    corpus = tmp_path_factory.mktemp("ui") / "corpus"
    shutil.copytree(REPO / "corpus", corpus)
    (corpus / f"{PROBE_DOC_ID}.txt").write_text(PROBE_TEXT, encoding="utf-8")
    return corpus


@pytest.fixture(scope="session")
def ui_index(ui_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of :func:`ui_corpus`, built once per session with ``assistant ingest`` (~40 s)."""
    index = tmp_path_factory.mktemp("ui_index")
    done = subprocess.run(
        [*assistant_command(), "ingest", str(ui_corpus), "--index", str(index), "--json"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert done.returncode == 0, f"ingest failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}"
    return index


@pytest.fixture(scope="session")
def ui_server(
    ui_corpus: Path, ui_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """``assistant serve`` on a free loopback port against :func:`ui_index`; stopped at session end."""
    base = tmp_path_factory.mktemp("ui_server")
    feedback = base / "feedback"
    log_path = base / "serve.log"
    port = free_port()
    env = subprocess_env(index_dir=str(ui_index), corpus_dir=str(ui_corpus), feedback_dir=str(feedback))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *assistant_command(),
                "serve",
                "--index",
                str(ui_index),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
        )
    server = UiServer(f"http://127.0.0.1:{port}", ui_corpus, ui_index, feedback, log_path)
    try:
        _wait_until_up(proc, server, timeout=240)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _wait_until_up(proc: subprocess.Popen[bytes], server: UiServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"assistant serve exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + "/config", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"assistant serve did not answer within {timeout:.0f} s:\n{server.log_tail()}")
