"""Shared fixtures: the real model loaded once, one index of the shipped corpus per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


# Fixtures that load the real model or build a real index: a test using one is in the full tier only
# (`make test`); the rest form the fast tier (`make test-fast`, `-m "not model ..."`).
HEAVY_FIXTURES = frozenset(
    {"embedder", "shared_index", "assistant", "make_assistant", "corpus_copy", "ui_index", "ui_server"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def _writes_go_to_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the working tree: feedback and default index point at tmp."""
    monkeypatch.setenv("ASSISTANT_FEEDBACK_DIR", str(tmp_path / "feedback"))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "default-index"))


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 as queries run it (ONNX Runtime), loaded once per session."""
    from assistant import Settings
    from assistant.embedders import open_embedder

    return open_embedder(Settings())


@pytest.fixture(scope="session")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention copy of the shipped corpus."""
    dest = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest


@pytest.fixture(scope="session")
def shared_index(tmp_path_factory: pytest.TempPathFactory, corpus_copy: Path, embedder):
    """The shipped corpus ingested once; tests must not write to it."""
    from assistant import Assistant, Settings

    index_dir = tmp_path_factory.mktemp("index") / "shared"
    settings = Settings(index_dir=index_dir, corpus_dir=corpus_copy)
    assistant = Assistant.open(index_dir, settings, embedder=embedder)
    report = assistant.ingest(corpus_copy)
    assert report.ok, report.failed
    return index_dir, report


@pytest.fixture(scope="session")
def assistant(shared_index, embedder, corpus_copy):
    """An assistant over the shared index (read-only use)."""
    from assistant import Assistant, Settings

    index_dir, _ = shared_index
    return Assistant.open(index_dir, Settings(index_dir=index_dir, corpus_dir=corpus_copy), embedder=embedder)


@pytest.fixture
def make_assistant(tmp_path: Path, embedder):
    """Factory for an assistant over a fresh index in this test's tmp dir (for mutating tests)."""
    from assistant import Assistant, Settings

    def make(name: str = "idx", **overrides):
        index_dir = tmp_path / name
        settings = Settings(index_dir=index_dir, **overrides)
        return Assistant.open(index_dir, settings, embedder=embedder)

    return make
