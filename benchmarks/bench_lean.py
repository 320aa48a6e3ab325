"""The query path with and without torch, side by side (benchmark row 3b, issue "a lean query path").

On the shipped corpus's index (``common.base_index``), each measurement alternates the torch path
(``ASSISTANT_EMBED_BACKEND=torch``: sentence-transformers loads) and the lean path (the default:
ONNX Runtime, no torch) in fresh interpreters:

* cold ``assistant ask "…"``: wall time from spawn to exit, median of ``--runs``;
* the import breakdown of that command (``python -X importtime``, cumulative, the largest modules)
  and which heavy libraries it loaded;
* ``Assistant.open()`` + first answer in a running interpreter (``assistant`` not yet imported);
* memory of a process that answered ``--questions`` questions (eval questions, cycled): VmRSS
  and peak, as a server holding one assistant would carry.

    python benchmarks/bench_lean.py --runs 5 --questions 100
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

SCRIPT = "bench_lean.py"
QUESTION = "What was China's rare earth mine production in 2024?"
PATHS = {"torch": "torch", "lean": "auto"}  # path name -> ASSISTANT_EMBED_BACKEND
HEAVY = ("torch", "sentence_transformers", "sklearn", "transformers", "llama_index.core", "gradio")


def rss_mib() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return out


def worker_first_answer(index: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    from assistant import Assistant, Settings

    t1 = time.perf_counter()
    a = Assistant.open(index, Settings(index_dir=index))
    t2 = time.perf_counter()
    answer = a.ask(QUESTION)
    t3 = time.perf_counter()
    return {
        "import_s": round(t1 - t0, 3),
        "open_s": round(t2 - t1, 3),
        "first_answer_s": round(t3 - t2, 3),
        "open_plus_first_answer_s": round(t3 - t0, 3),
        "status": answer.status,
        "heavy_loaded": [m for m in HEAVY if m in sys.modules],
    }


def worker_memory(index: str, n: int) -> dict[str, Any]:
    from assistant import Assistant, Settings

    questions = common.eval_questions()
    a = Assistant.open(index, Settings(index_dir=index))
    a.ask(questions[0])
    after_first = rss_mib()
    t = time.perf_counter()
    times = []
    for i in range(n):
        t_ask = time.perf_counter()
        a.ask(questions[i % len(questions)])
        times.append(time.perf_counter() - t_ask)
    latency = common.summary_ms(times)
    return {
        "questions": n,
        "seconds": round(time.perf_counter() - t, 1),
        "ask_ms_p50": latency["p50_ms"],
        "ask_ms_p95": latency["p95_ms"],
        "after_first_answer": after_first,
        "after_all": rss_mib(),
        "heavy_loaded": [m for m in HEAVY if m in sys.modules],
    }


def cli_ask(index: Path, backend: str) -> float:
    t = time.perf_counter()
    subprocess.run(
        [*common.assistant_cli(), "ask", QUESTION, "--index", str(index)],
        capture_output=True,
        check=True,
        env=common.offline_env(ASSISTANT_EMBED_BACKEND=backend),
        cwd=common.REPO,
        timeout=600,
    )
    return time.perf_counter() - t


def import_breakdown(index: Path, backend: str, top: int = 8) -> dict[str, Any]:
    """Cumulative import time of the largest top-level packages of a cold ``assistant ask``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "assistant.cli", "ask", QUESTION, "--index", str(index)],
        capture_output=True,
        text=True,
        env=common.offline_env(ASSISTANT_EMBED_BACKEND=backend),
        cwd=common.REPO,
        timeout=600,
    )
    cumulative: dict[str, float] = {}
    loaded: set[str] = set()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = (x for x in line[len("import time:") :].split("|"))
        if not cum.strip().isdigit():
            continue
        loaded.add(name.strip())
        if not name[1:].startswith(" ") and "." not in name.strip():  # imported at the top level
            key = name.strip()
            cumulative[key] = max(cumulative.get(key, 0.0), int(cum) / 1e6)
    biggest = dict(sorted(cumulative.items(), key=lambda kv: -kv[1])[:top])
    return {
        "total_import_s": round(sum(cumulative.values()), 3),
        "largest_s": {k: round(v, 3) for k, v in biggest.items()},
        "heavy_loaded": [m for m in HEAVY if m in loaded],
    }


def run(runs: int, questions: int) -> dict[str, Any]:
    index = common.base_index()
    log = common.TMP / "logs" / "lean.log"
    out: dict[str, Any] = {"index": common.rel(index), "question": QUESTION, "paths": {}}
    for name in PATHS:
        out["paths"][name] = {"cli_ask_s": [], "first_answer": []}
    cli_ask(index, "auto")  # the ONNX export and the page cache are warm before anything is timed
    for r in range(runs):
        order = list(PATHS) if r % 2 == 0 else list(reversed(PATHS))
        for name in order:
            wall = cli_ask(index, PATHS[name])
            out["paths"][name]["cli_ask_s"].append(round(wall, 3))
            env = common.offline_env(ASSISTANT_EMBED_BACKEND=PATHS[name])
            if r < 3:
                res = common.run_worker(SCRIPT, ["first", str(index)], env=env, log=log)
                out["paths"][name]["first_answer"].append(res)
            common.progress(f"lean: {name} run {r + 1}: cli ask {wall:.2f}s")
    for name, backend in PATHS.items():
        p = out["paths"][name]
        p["cli_ask_median_s"] = round(common.median(p["cli_ask_s"]), 3)
        p["open_plus_first_answer_median_s"] = round(
            common.median([x["open_plus_first_answer_s"] for x in p["first_answer"]]), 3
        )
        p["imports"] = import_breakdown(index, backend)
        env = common.offline_env(ASSISTANT_EMBED_BACKEND=backend)
        common.progress(f"lean: {name}: memory after {questions} questions")
        p["memory"] = common.run_worker(SCRIPT, ["memory", str(index), str(questions)], env=env, log=log)
        common.progress(
            f"  {name}: cli ask median {p['cli_ask_median_s']}s, "
            f"open+first {p['open_plus_first_answer_median_s']}s, RSS {p['memory']['after_all']}"
        )
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        common.set_offline()
        kind, *rest = sys.argv[2:]
        if kind == "first":
            common.emit(worker_first_answer(rest[0]))
        else:
            common.emit(worker_memory(rest[0], int(rest[1])))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="cold `assistant ask` runs per path")
    parser.add_argument("--questions", type=int, default=100, help="questions before memory is read")
    a = parser.parse_args()
    result = run(a.runs, a.questions)
    result["command"] = "python benchmarks/bench_lean.py " + " ".join(sys.argv[1:])
    common.write_result("lean", result)


if __name__ == "__main__":
    main()
