"""Run every benchmark and refresh the table in ``benchmarks/README.md`` (what ``make bench`` runs).

Profiles (the time is for an idle 2-core machine; a busy one takes longer, see the README):

* ``--quick``: a smoke run of every row on small sizes (~350-chunk ingest, 10k-chunk query index,
  30 eval cases, 5 UI questions, small load), about 10 minutes;
* default: the sizes of the issue: ingest ~1k chunks (raw encode, ours, LlamaIndex default) and
  ~5k chunks (ours: RSS and re-ingest), query latency at 1k/10k/100k on 40 questions (100k also with
  ``OMP_WAIT_POLICY=PASSIVE``), the full eval for ONNX vs torch, 20 UI questions, 50 + 200 concurrent
  questions. The 10k/100k indexes are cached in ``results/tmp`` and reused while the 1k index's
  content is unchanged (building the 100k one takes most of the first run's query step);
* ``--full``: all eval questions, raw encode and LlamaIndex (both splitters) at ~5k chunks, two
  repeats of the ingest comparison and of the threads/ONNX throughput (well over 30 minutes).

Each step runs in its own interpreter; a failing step is recorded and the others still run.
Indexes and logs are under ``benchmarks/results/tmp/`` (gitignored); results are
``benchmarks/results/*.json``.

    python benchmarks/run_all.py [--quick | --full] [--only ingest query ...] [--readme-only]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import report

STEPS = ("ingest", "query", "lean", "threads", "onnx", "ui", "load")


def plan(profile: str) -> dict[str, list[str]]:
    """The command line of every step for ``profile`` (quick, default or full)."""
    small = common.rel(common.TMP / "ingest" / "ours-350")
    quick = {
        "ingest": "bench_ingest.py --sizes 350 --methods raw ours li-default --reingest-repeats 1",
        "query": f"bench_query.py --source {small} --sizes 350 10000 --ask-size 10000 --questions 30 "
        "--startup-runs 1",
        "threads": "bench_threads.py --repeats 1 --questions 10 --texts 16",
        "lean": "bench_lean.py --runs 3 --questions 30",
        "onnx": "bench_onnx.py --repeats 1 --texts 64",
        "ui": "bench_ui.py --questions 5",
        "load": "bench_load.py --gradio 10 --api 40 --distinct 20",
    }
    default = {
        "ingest": "bench_ingest.py --sizes 1000 5000 --methods raw ours li-default --large-methods ours "
        "--reingest-repeats 2",
        "query": "bench_query.py --sizes 1000 10000 100000 --questions 40 --startup-runs 2",
        "lean": "bench_lean.py --runs 5 --questions 100",
        "threads": "bench_threads.py --repeats 1",
        "onnx": "bench_onnx.py --repeats 2",
        "ui": "bench_ui.py --questions 20",
        "load": "bench_load.py --gradio 50 --api 200",
    }
    full = {
        **default,
        "ingest": "bench_ingest.py --sizes 1000 5000 --repeats 2 --large-methods raw ours li-default li-200 "
        "--reingest-repeats 3",
        "query": "bench_query.py --sizes 1000 10000 100000",
        "threads": "bench_threads.py --repeats 2",
        "onnx": "bench_onnx.py --repeats 3",
    }
    chosen = {"quick": quick, "default": default, "full": full}[profile]
    return {name: cmd.split() for name, cmd in chosen.items()}


def run_step(name: str, argv: list[str]) -> dict[str, Any]:
    log = common.TMP / "logs" / f"run_all-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(common.BENCH / argv[0]), *argv[1:]]
    common.progress(f"run_all: {name}: {' '.join(['python', 'benchmarks/' + argv[0], *argv[1:]])}")
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        done = subprocess.run(
            cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=common.REPO, env=common.offline_env()
        )
    seconds = time.perf_counter() - started
    common.progress(f"run_all: {name} {'ok' if done.returncode == 0 else 'FAILED'} in {seconds / 60:.1f} min")
    if done.returncode != 0:
        print(log.read_text(encoding="utf-8")[-3000:], file=sys.stderr)
    return {
        "command": "python benchmarks/" + " ".join(argv),
        "exit_code": done.returncode,
        "seconds": round(seconds, 1),
        "log": common.rel(log),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="small sizes, about 10 minutes")
    group.add_argument("--full", action="store_true", help="also raw/LlamaIndex at 5k and repeats")
    parser.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps")
    parser.add_argument("--skip", nargs="+", choices=STEPS, default=[], help="skip these steps")
    parser.add_argument("--readme-only", action="store_true", help="only re-render the README table")
    a = parser.parse_args()
    if not a.readme_only:
        profile = "quick" if a.quick else "full" if a.full else "default"
        steps = plan(profile)
        chosen = [s for s in STEPS if (not a.only or s in a.only) and s not in a.skip]
        load_start = round(os.getloadavg()[0], 2)
        started = time.perf_counter()
        results = {name: run_step(name, steps[name]) for name in chosen}
        total = time.perf_counter() - started
        common.write_result(
            "run_all",
            {"profile": profile, "steps": results, "total_s": round(total, 1), "loadavg_start": load_start},
        )
        failed = [n for n, r in results.items() if r["exit_code"] != 0]
    else:
        failed = []
    path = report.update_readme()
    common.progress(f"updated {common.rel(path)}")
    if failed:
        common.progress(f"failed steps: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
