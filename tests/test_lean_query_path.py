"""The query path stays lean: no torch, sentence-transformers, scikit-learn, transformers, Gradio or
llama_index.core in a fresh interpreter that opens an index, answers and searches (API and CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "sentence_transformers", "sklearn", "transformers", "gradio", "llama_index.core")
QUESTION = "What was China's rare earth mine production in 2024?"

API_RUN = r"""
import json, sys
from assistant import Assistant, Settings
index = sys.argv[1]
a = Assistant.open(index, Settings(index_dir=index))
answer = a.ask(sys.argv[2])
hits = a.retrieve("rare earth magnets export controls", k=3)
print("@@" + json.dumps({"status": answer.status, "citations": len(answer.citations), "hits": len(hits),
                         "backend": a.embedder.backend, "loaded": sorted(m for m in sys.modules)}))
"""

CLI_RUN = r"""
import json, sys
from assistant.cli import main
for argv in (["ask", sys.argv[2], "--index", sys.argv[1], "--json"],
             ["search", "rare earth magnets", "--index", sys.argv[1], "--json"]):
    sys.argv = ["assistant", *argv]
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, exc.code
print("@@" + json.dumps({"loaded": sorted(m for m in sys.modules)}))
"""


def _run(code: str, index: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, str(index), QUESTION], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(next(line[2:] for line in done.stdout.splitlines() if line.startswith("@@")))


def _heavy(loaded: list[str]) -> list[str]:
    return [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_open_ask_and_search_import_no_heavy_library(shared_index) -> None:
    index, _ = shared_index
    out = _run(API_RUN, index)
    assert out["backend"] == "onnx"
    assert out["status"] == "answered" and out["citations"] and out["hits"] == 3
    assert _heavy(out["loaded"]) == []
    assert "onnxruntime" in out["loaded"] and "chromadb" in out["loaded"], "the lean path does run the model"


def test_cli_ask_and_search_import_no_heavy_library(shared_index) -> None:
    index, _ = shared_index
    out = _run(CLI_RUN, index)
    assert _heavy(out["loaded"]) == []


def test_benchmarks_know_the_shipped_corpus_chunk_count(shared_index) -> None:
    """``benchmarks/common.py`` sizes its synthetic corpora by it; a real ingest decides it."""
    import importlib.util

    _, report = shared_index
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "common.py"
    spec = importlib.util.spec_from_file_location("bench_common", path)
    assert spec and spec.loader
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    assert report.chunks_written == common.SHIPPED_CHUNKS
