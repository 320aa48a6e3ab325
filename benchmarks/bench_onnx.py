"""The ONNX Runtime embedder against torch (benchmark row 4). Installs nothing: the package's own
export (``assistant.onnx_embedder``, made by ``make install``) is what is measured.

1. Export: a fresh export of the packaged model into a scratch cache (time, file size), then the
   load-time validation (cosine to the stored torch vectors on the probe set).
2. Throughput, side by side: ``TorchEmbedder.encode`` vs ``OnnxEmbedder.encode`` on the same chunk
   texts (title + chunk, as ingestion embeds them), fresh interpreters in alternating order,
   medians; the question-embedding latency of each; the largest cosine gap between the two.
   ``embed_backend="auto"`` ingests with ONNX only if its chunks/s is at least torch's
   (``assistant.embedding.AUTO_INGEST`` follows this row).
3. Quality on every eval set: an index built by each backend from the shipped corpus, then
   ``assistant eval run`` with queries on torch and on ONNX (and the default: torch-built index,
   ONNX queries); hit_rate/MRR, and whether answers, retrieved and cited documents are identical.
   The int8 variant (``embed_quantized``) is measured the same way: it is offered only while its
   hit@5 and MRR stay within 0.01 of torch's on every eval set.

    python benchmarks/bench_onnx.py [--repeats 3] [--texts 174]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

SCRIPT = "bench_onnx.py"
EVAL_SETS = ("rare_earths.yaml", "rare_earths_extra.yaml")
QUESTION = "What was China's rare earth mine production in 2024?"


# ============================================================================= workers


def chunk_texts(n: int) -> list[str]:
    """What ingestion embeds for the shipped corpus's chunks: ``title: <title>\\n\\n<chunk>``."""
    from assistant.config import Settings
    from assistant.store import chroma_collection

    index = common.base_index()
    got = chroma_collection(Settings(index_dir=index), index).get(include=["documents", "metadatas"])
    texts = [
        f"title: {m.get('title', '')}\n\n{d}" for d, m in zip(got["documents"], got["metadatas"], strict=True)
    ]
    return (texts * (1 + n // max(1, len(texts))))[:n]


def env_for(backend: str) -> dict[str, str]:
    """Settings of a backend name: torch, onnx, or int8 (ONNX with ``embed_quantized``)."""
    if backend == "int8":
        return common.offline_env(ASSISTANT_EMBED_BACKEND="onnx", ASSISTANT_EMBED_QUANTIZED="true")
    return common.offline_env(ASSISTANT_EMBED_BACKEND=backend)


def make(backend: str) -> Any:
    from assistant.config import Settings
    from assistant.embedding import TorchEmbedder
    from assistant.onnx_embedder import OnnxEmbedder

    if backend == "torch":
        return TorchEmbedder(Settings(), cache_size=0)
    e = OnnxEmbedder(Settings(embed_quantized=backend == "int8"), cache_size=0)
    e.load()
    return e


def worker_throughput(backend: str, n_texts: int) -> dict[str, Any]:
    import numpy as np

    texts = chunk_texts(n_texts)
    t = time.perf_counter()
    emb = make(backend)
    load_s = time.perf_counter() - t
    emb.encode(texts[:4])  # warm-up
    t = time.perf_counter()
    vecs = emb.encode(texts)
    seconds = time.perf_counter() - t
    q = []
    for _ in range(20):
        t = time.perf_counter()
        emb.encode_query(QUESTION)
        q.append(time.perf_counter() - t)
    np.save(common.TMP / "onnx" / f"vectors-{backend}.npy", vecs)
    return {
        "backend": backend,
        "texts": len(texts),
        "seconds": round(seconds, 3),
        "chunks_per_s": round(len(texts) / seconds, 2),
        "load_s": round(load_s, 3),
        "query": common.summary_ms(q),
    }


def worker_export(cache: Path) -> dict[str, Any]:
    """A fresh export into ``cache`` (what ``make install`` does once), then a validated load."""
    import numpy as np

    from assistant.config import Settings
    from assistant.onnx_embedder import META_FILE, ONNX_FILE, OnnxEmbedder, export

    settings = Settings(embed_cache_dir=cache)
    t = time.perf_counter()
    folder = export(settings, quiet=True)
    export_s = time.perf_counter() - t
    meta = json.loads((folder / META_FILE).read_text())
    emb = OnnxEmbedder(settings)
    t = time.perf_counter()
    emb.load()
    load_s = time.perf_counter() - t
    got = emb.encode(meta["probes"])
    want = np.asarray(meta["probe_vectors"], dtype=np.float32)
    return {
        "export_s": round(export_s, 2),
        "onnx_mib": round((folder / ONNX_FILE).stat().st_size / 2**20, 1),
        "validated_load_s": round(load_s, 3),
        "probe_min_cosine": float((got * want).sum(axis=1).min()),
        "model_id": emb.model_id,
    }


# ============================================================================= driver


def ingest(index: Path, backend: str, log: Path) -> dict[str, Any]:
    common.fresh_dir(index)
    t = time.perf_counter()
    done = subprocess.run(
        [*common.assistant_cli(), "ingest", str(common.CORPUS), "--index", str(index), "--json"],
        capture_output=True,
        text=True,
        env=env_for(backend),
        cwd=common.REPO,
        timeout=3600,
    )
    log.open("a").write(done.stderr[-4000:])
    if done.returncode != 0:
        raise RuntimeError(f"ingest with {backend} failed: {done.stderr[-2000:]}")
    return {"seconds": round(time.perf_counter() - t, 1), **json.loads(done.stdout.strip().splitlines()[-1])}


def evaluate(index: Path, backend: str, evalset: str, out: Path) -> dict[str, Any]:
    common.fresh_dir(out)
    done = subprocess.run(
        [
            *common.assistant_cli(),
            "eval",
            "run",
            str(common.REPO / "evals" / evalset),
            "--index",
            str(index),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env_for(backend),
        cwd=common.REPO,
        timeout=3600,
    )
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {"exit_code": done.returncode, "report": report}


def _same(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Which cases differ between two eval reports (answer text, retrieved or cited documents)."""
    keys = ("answer", "retrieved_doc_ids", "cited_doc_ids", "refused")
    differ = [x["id"] for x, y in zip(a["cases"], b["cases"], strict=True) if any(x[k] != y[k] for k in keys)]
    return {"cases": len(a["cases"]), "differ": differ}


def run(repeats: int, n_texts: int) -> dict[str, Any]:
    log = common.TMP / "logs" / "onnx.log"
    (common.TMP / "onnx").mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    common.progress("onnx: fresh export into a scratch cache")
    scratch = common.TMP / "onnx" / "export-cache"
    shutil.rmtree(scratch, ignore_errors=True)
    out["export"] = common.run_worker(SCRIPT, ["export", str(scratch)], log=log)
    common.progress(f"  {out['export']}")
    runs: dict[str, list[dict[str, Any]]] = {"onnx": [], "torch": [], "int8": []}
    for r in range(repeats):
        for backend in ("onnx", "torch", "int8") if r % 2 == 0 else ("int8", "torch", "onnx"):
            res = common.run_worker(SCRIPT, ["throughput", backend, str(n_texts)], log=log)
            runs[backend].append(res)
            common.progress(
                f"  {backend}: {res['chunks_per_s']} chunks/s, question p50 {res['query']['p50_ms']} ms"
            )
    import numpy as np

    a = np.load(common.TMP / "onnx" / "vectors-onnx.npy")
    b = np.load(common.TMP / "onnx" / "vectors-torch.npy")
    med = {k: round(common.median([x["chunks_per_s"] for x in v]), 2) for k, v in runs.items()}
    out["throughput"] = {
        "texts": n_texts,
        "runs": runs,
        "median_chunks_per_s": med,
        "onnx_over_torch": round(med["onnx"] / med["torch"], 3),
        "int8_over_torch": round(med["int8"] / med["torch"], 3),
        "query_p50_ms": {k: common.median([x["query"]["p50_ms"] for x in v]) for k, v in runs.items()},
        "min_cosine_onnx_torch": float((a * b).sum(axis=1).min()),
    }
    common.progress(f"  throughput {out['throughput']['median_chunks_per_s']}")
    indexes = {b: common.TMP / "onnx" / f"index-{b}" for b in ("torch", "onnx", "int8")}
    out["ingest"] = {}
    for backend, index in indexes.items():
        common.progress(f"onnx: ingest the shipped corpus with {backend}")
        out["ingest"][backend] = ingest(index, backend, log)
    configs = {  # name: (index built by, queries on)
        "torch/torch": ("torch", "torch"),
        "onnx/onnx": ("onnx", "onnx"),
        "torch/onnx (default)": ("torch", "onnx"),
        "int8/int8 (embed_quantized)": ("int8", "int8"),
    }
    out["eval"] = {}
    for evalset in EVAL_SETS:
        reports = {}
        for name, (built, queried) in configs.items():
            common.progress(f"onnx: eval {evalset}, index {built}, queries {queried}")
            res = evaluate(
                indexes[built], queried, evalset, common.TMP / "onnx" / f"eval-{evalset}-{built}-{queried}"
            )
            reports[name] = res["report"]
        ref = reports["torch/torch"]
        out["eval"][evalset] = {
            "n_cases": ref["n_cases"],
            "metrics": {
                n: {m: r["metrics"][m] for m in ("hit_rate", "mrr", "key_fact_recall")}
                for n, r in reports.items()
            },
            "identical_to_torch": {n: _same(ref, r) for n, r in reports.items() if n != "torch/torch"},
        }
        common.progress(f"  {out['eval'][evalset]['metrics']}")
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        common.set_offline()
        kind, *rest = sys.argv[2:]
        if kind == "throughput":
            common.emit(worker_throughput(rest[0], int(rest[1])))
        else:
            common.emit(worker_export(Path(rest[0])))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per backend")
    parser.add_argument("--texts", type=int, default=174, help="chunk texts embedded per run")
    a = parser.parse_args()
    result = run(a.repeats, a.texts)
    result["command"] = "python benchmarks/bench_onnx.py " + " ".join(sys.argv[1:])
    common.write_result("onnx", result)


if __name__ == "__main__":
    main()
