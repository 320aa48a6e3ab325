"""Torch threading of the embedder: query latency and batch throughput per configuration.

Each configuration runs in a fresh interpreter (the OpenMP wait policy is read when torch loads),
in rotating order, ``--repeats`` times; medians are reported:

* ``default``: libgomp's own default (``OMP_WAIT_POLICY`` empty: threads spin-wait a while), what the
  package did before it set PASSIVE;
* ``passive``: ``OMP_WAIT_POLICY=PASSIVE`` set before torch is imported (idle threads sleep): what
  the package sets now (``assistant.embedding.set_offline_env``);
* ``1-thread``: ``Settings(embed_threads=1)``, libgomp's default policy;
* ``1-thread+passive``.

Query latency: the first ``--questions`` eval questions, each embedded once (no cache). Throughput:
the first ``--texts`` chunk texts of the shipped corpus as the pipeline embeds them.

    python benchmarks/bench_threads.py --repeats 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

SCRIPT = "bench_threads.py"
CONFIGS: dict[str, dict[str, str]] = {
    "default": {"OMP_WAIT_POLICY": ""},  # empty = unset for libgomp; the package's setdefault keeps it
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "1-thread": {"ASSISTANT_EMBED_THREADS": "1", "OMP_WAIT_POLICY": ""},
    "1-thread+passive": {"ASSISTANT_EMBED_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
}


def worker(n_questions: int, n_texts: int) -> dict[str, Any]:
    from bench_ingest import embed_texts

    texts = embed_texts(common.CORPUS)[:n_texts]
    from assistant import Settings
    from assistant.embedding import Embedder

    settings = Settings()  # reads ASSISTANT_EMBED_THREADS
    embedder = Embedder(settings, cache_size=0)
    import torch

    embedder.encode(["warm up"])
    lat = []
    for q in common.eval_questions(n_questions):
        t = time.perf_counter()
        embedder.query(q)
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    embedder.encode(texts)
    seconds = time.perf_counter() - t
    return {
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "query": common.summary_ms(lat),
        "texts": len(texts),
        "chunks_per_s": round(len(texts) / seconds, 2),
    }


def run(repeats: int, n_questions: int, n_texts: int) -> dict[str, Any]:
    names = list(CONFIGS)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    log = common.TMP / "logs" / "threads.log"
    for rep in range(repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            common.progress(f"threads: {name} (repeat {rep + 1}/{repeats})")
            res = common.run_worker(
                SCRIPT,
                ["--questions", str(n_questions), "--texts", str(n_texts)],
                env=common.offline_env(**CONFIGS[name]),
                log=log,
            )
            res["loadavg_1m"] = round(os.getloadavg()[0], 2)
            common.progress(f"  query p50 {res['query']['p50_ms']} ms, {res['chunks_per_s']} chunks/s")
            runs[name].append(res)
    summary = {
        name: {
            "env": CONFIGS[name],
            "query_p50_ms": round(common.median([r["query"]["p50_ms"] for r in rs]), 1),
            "query_p95_ms": round(common.median([r["query"]["p95_ms"] for r in rs]), 1),
            "chunks_per_s": round(common.median([r["chunks_per_s"] for r in rs]), 2),
        }
        for name, rs in runs.items()
    }
    base = summary["default"]
    for s in summary.values():
        s["query_p50_vs_default"] = round(s["query_p50_ms"] / base["query_p50_ms"], 3)
        s["throughput_vs_default"] = round(s["chunks_per_s"] / base["chunks_per_s"], 3)
    return {"summary": summary, "runs": runs, "repeats": repeats}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        common.set_offline()
        p = argparse.ArgumentParser()
        p.add_argument("--questions", type=int, default=20)
        p.add_argument("--texts", type=int, default=32)
        a = p.parse_args(sys.argv[2:])
        common.emit(worker(a.questions, a.texts))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--name", default="threads")
    a = parser.parse_args()
    result = run(a.repeats, a.questions, a.texts)
    result["command"] = "python benchmarks/bench_threads.py " + " ".join(sys.argv[1:])
    common.write_result(a.name, result)


if __name__ == "__main__":
    main()
