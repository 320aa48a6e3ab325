"""Load: concurrent questions through the Gradio API and the Python API (benchmark row 6).

* Gradio: ``assistant serve`` on the shipped-corpus index (default ``ui_concurrency`` 4). After one
  warm-up question, the first ``--gradio`` eval questions are sent all at once from as many threads
  (one shared ``Client``, ``api_name="/ask"``), then once more one at a time for the reference answers.
* Python API: in a fresh interpreter, ``--api`` asks (the first ``--distinct`` eval questions, cycled)
  started together from as many threads on a freshly opened ``Assistant``; then the reference: the
  distinct questions asked one at a time on a second, separately opened ``Assistant``.

Concurrent runs go first so they meet cold query and sentence caches, as a new server does.

Recorded: errors (must be 0), latency p50/p95 of each request (start to final answer), and whether
each concurrent answer equals the sequential one (text, refusal, cited doc ids and quotes).

    python benchmarks/bench_load.py --gradio 50 --api 200
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

SCRIPT = "bench_load.py"


def _concurrently(fn: Any, items: list[Any]) -> tuple[list[Any], list[float], list[str]]:
    """Call ``fn(item)`` for every item, all threads released together; results, seconds, errors."""
    n = len(items)
    results: list[Any] = [None] * n
    seconds = [0.0] * n
    errors: list[str] = []
    barrier = threading.Barrier(n)
    lock = threading.Lock()

    def one(i: int) -> None:
        barrier.wait()
        t = time.perf_counter()
        try:
            results[i] = fn(items[i])
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        seconds[i] = time.perf_counter() - t

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=3600)
    return results, seconds, errors


def _gradio_key(result: dict[str, Any]) -> tuple[Any, ...]:
    cites = tuple((c.get("doc_id"), c.get("quote")) for c in result.get("citations", []))
    return (result.get("answer"), result.get("refused"), cites)


def _answer_key(answer: Any) -> tuple[Any, ...]:
    return (answer.text, answer.refused, tuple((c.doc_id, c.quote) for c in answer.citations))


def worker_api(index: Path, n_distinct: int, n_total: int) -> dict[str, Any]:
    """Concurrent asks on a freshly opened assistant first (cold caches), then the sequential
    reference on a second, separately opened assistant (cold caches too)."""
    from assistant import Assistant, Settings

    settings = Settings(index_dir=index)
    questions = common.eval_questions(n_distinct)
    items = [questions[i % len(questions)] for i in range(n_total)]
    concurrent_assistant = Assistant.open(index_dir=index, settings=settings)
    concurrent_assistant.ask("What are rare earth elements used for?")  # loads model and snapshot
    t = time.perf_counter()
    results, seconds, errors = _concurrently(concurrent_assistant.ask, items)
    wall = time.perf_counter() - t
    sequential_assistant = Assistant.open(index_dir=index, settings=settings)
    sequential_assistant.ask("What are rare earth elements used for?")
    reference = {}
    seq = []
    for q in questions:
        t = time.perf_counter()
        reference[q] = _answer_key(sequential_assistant.ask(q))
        seq.append(time.perf_counter() - t)
    mismatches = [
        q for q, r in zip(items, results, strict=True) if r is not None and _answer_key(r) != reference[q]
    ]
    return {
        "requests": n_total,
        "distinct_questions": len(questions),
        "threads": n_total,
        "errors": len(errors),
        "error_samples": errors[:5],
        "sequential": common.summary_ms(seq),
        "concurrent": common.summary_ms(seconds),
        "concurrent_wall_s": round(wall, 2),
        "throughput_qps": round(n_total / wall, 2),
        "answers_equal_sequential": not mismatches and not errors,
        "mismatches": len(mismatches),
        "mismatch_samples": sorted(set(mismatches))[:5],
    }


def run_gradio(index: Path, n: int) -> dict[str, Any]:
    from gradio_client import Client

    questions = common.eval_questions(n)
    with common.Server(index, "load") as server:
        common.progress(
            f"load: serve ready after {server.ready_s:.1f}s; {len(questions)} concurrent via gradio_client"
        )
        client = Client(server.url, verbose=False, download_files=False)
        client.predict("What are rare earth elements used for?", api_name="/ask")  # warm-up
        t = time.perf_counter()
        results, seconds, errors = _concurrently(lambda q: client.predict(q, api_name="/ask"), questions)
        wall = time.perf_counter() - t
        common.progress(
            f"  concurrent p95 {common.summary_ms(seconds)['p95_ms']} ms; now sequential reference"
        )
        reference = {}
        seq = []
        for q in questions:
            t = time.perf_counter()
            reference[q] = _gradio_key(client.predict(q, api_name="/ask"))
            seq.append(time.perf_counter() - t)
        client.close()
    mismatches = [
        q for q, r in zip(questions, results, strict=True) if r is not None and _gradio_key(r) != reference[q]
    ]
    return {
        "requests": len(questions),
        "threads": len(questions),
        "server_concurrency": "Settings.ui_concurrency default (4)",
        "errors": len(errors),
        "error_samples": errors[:5],
        "sequential": common.summary_ms(seq),
        "concurrent": common.summary_ms(seconds),
        "concurrent_wall_s": round(wall, 2),
        "throughput_qps": round(len(questions) / wall, 2),
        "answers_equal_sequential": not mismatches and not errors,
        "mismatches": len(mismatches),
        "mismatch_samples": mismatches[:5],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        common.set_offline()
        p = argparse.ArgumentParser()
        p.add_argument("index", type=Path)
        p.add_argument("--distinct", type=int, default=108)
        p.add_argument("--api", type=int, default=200)
        a = p.parse_args(sys.argv[2:])
        common.emit(worker_api(a.index, a.distinct, a.api))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gradio", type=int, default=50, help="concurrent questions through gradio_client")
    parser.add_argument("--api", type=int, default=200, help="concurrent asks through the Python API")
    parser.add_argument(
        "--distinct",
        type=int,
        default=108,
        help="distinct questions behind the API asks (108: every eval question without history)",
    )
    parser.add_argument("--index", type=Path, help="index (default: results/tmp/base-index)")
    parser.add_argument("--name", default="load")
    a = parser.parse_args()
    common.set_offline()
    index = a.index or common.base_index()
    out: dict[str, Any] = {"index": str(index)}
    out["gradio"] = run_gradio(index, a.gradio)
    g = out["gradio"]
    common.progress(
        f"  gradio: {g['errors']} errors, p95 {g['concurrent']['p95_ms']} ms, "
        f"equal {g['answers_equal_sequential']}"
    )
    common.progress(f"load: {a.api} concurrent Python API asks")
    out["api"] = common.run_worker(
        SCRIPT,
        [str(index), "--distinct", str(a.distinct), "--api", str(a.api)],
        log=common.TMP / "logs" / "load.log",
    )
    p = out["api"]
    common.progress(
        f"  api: {p['errors']} errors, p95 {p['concurrent']['p95_ms']} ms, "
        f"equal {p['answers_equal_sequential']}"
    )
    out["command"] = "python benchmarks/bench_load.py " + " ".join(sys.argv[1:])
    common.write_result(a.name, out)


if __name__ == "__main__":
    main()
