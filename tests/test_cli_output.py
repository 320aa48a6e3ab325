"""What ``assistant ingest`` prints: one progress display per phase of its own, no library bars;
``--json`` prints the JSON and nothing else, ``--quiet`` the summary line and nothing else.

In-process through click's ``CliRunner`` (stdout and stderr kept apart) with the session's
model, and as a subprocess, where the model is loaded too (transformers' "Loading weights").
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from small_corpus import write_corpus
from ui_fixtures import assistant_command, subprocess_env

import assistant.cli as cli
from assistant import Assistant

REPO = Path(__file__).resolve().parents[1]
PHASES = ("files", "chunking", "embedding")
SUMMARY = re.compile(
    r"^added \d+, updated \d+, unchanged \d+, removed \d+, failed \d+; \d+ chunks written in [\d.]+s$"
)


def _segments(stderr: str) -> list[str]:
    """What a terminal would show, piece by piece: tqdm redraws a bar after a carriage return."""
    return [s.strip() for s in re.split(r"[\r\n]+", stderr) if s.strip()]


def _assert_only_our_phases(stderr: str, expected: tuple[str, ...]) -> None:
    """Every piece of stderr is a display of one of our phases; each expected phase ends at 100%."""
    pieces = _segments(stderr)
    foreign = [p for p in pieces if not p.startswith(tuple(f"{name}: " for name in PHASES))]
    assert not foreign, f"output that is not one of our progress displays: {foreign[:5]}"
    shown = {p.split(":", 1)[0] for p in pieces}
    assert shown == set(expected), shown
    for name in expected:
        assert any(p.startswith(f"{name}: 100%") for p in pieces), f"{name} never reached 100%: {pieces}"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, embedder: Any) -> CliRunner:
    """The CLI in this process with the session's model (the CLI's library switches restored)."""
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setattr(cli, "_open", lambda s: Assistant.open(s.index_dir, s, embedder=embedder))
    return CliRunner()


def test_json_and_quiet_print_nothing_else(runner: CliRunner, tmp_path: Path) -> None:
    corpus, index = write_corpus(tmp_path / "corpus", 1), tmp_path / "index"
    res = runner.invoke(cli.main, ["ingest", str(corpus), "--index", str(index), "--json"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["added"] == 3 and [Path(f["path"]).name for f in report["files"]] == [
        "alpha.txt",
        "beta.md",
        "gamma.pdf",
    ]

    write_corpus(corpus, 2)  # something to load, chunk and embed: phases that could print
    res = runner.invoke(cli.main, ["ingest", str(corpus), "--index", str(index), "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert SUMMARY.match(res.stdout.strip()) and len(res.stdout.splitlines()) == 1, res.stdout
    assert res.stdout.startswith("added 1, updated 1, unchanged 1, removed 1, failed 0; ")


def test_plain_ingest_shows_our_phases_then_files_and_summary(runner: CliRunner, tmp_path: Path) -> None:
    corpus, index = write_corpus(tmp_path / "corpus", 1), tmp_path / "index"
    res = runner.invoke(cli.main, ["ingest", str(corpus), "--index", str(index)])
    assert res.exit_code == 0, res.output
    _assert_only_our_phases(res.stderr, PHASES)
    lines = res.stdout.splitlines()
    assert re.fullmatch(rf"  {re.escape(str(corpus / 'alpha.txt'))}: \d+ chunks", lines[0]), lines
    assert re.fullmatch(rf"  {re.escape(str(corpus / 'gamma.pdf'))}: 2 pages, \d+ chunks", lines[2]), lines
    assert len(lines) == 4 and SUMMARY.match(lines[3]), lines

    res = runner.invoke(cli.main, ["ingest", str(corpus), "--index", str(index)])
    assert res.exit_code == 0, res.output
    _assert_only_our_phases(res.stderr, ("files",))  # nothing changed: nothing chunked or embedded
    assert res.stdout.splitlines()[:3] == lines[:3], "unchanged files are reported from stored data"


def test_subprocess_json_prints_nothing_but_the_json(tmp_path: Path) -> None:
    """A fresh process loads the model and writes the BM25 snapshot: neither may draw a bar."""
    corpus, index = write_corpus(tmp_path / "corpus", 1), tmp_path / "index"
    cmd = [*assistant_command(), "ingest", str(corpus), "--index", str(index)]
    done = subprocess.run(
        [*cmd, "--json"], env=subprocess_env(), capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    assert json.loads(done.stdout)["added"] == 3 and done.stdout.count("\n") == 1

    write_corpus(corpus, 2)
    done = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_only_our_phases(done.stderr, PHASES)
    for bar in ("Loading weights", "Finding newlines", "Split strings", "Applying transformations"):
        assert bar not in done.stderr
    assert SUMMARY.match(done.stdout.splitlines()[-1])
