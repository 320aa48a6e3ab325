"""The ONNX embedding path against torch (benchmark row 4).

1. ``Settings(embed_backend="onnx")`` as shipped: load the ``Embedder``, ``assistant ingest`` and
   ``assistant eval run`` with ``ASSISTANT_EMBED_BACKEND=onnx``; what happens is recorded verbatim.
2. Because that path does not load here, a stand-in (``ort_embedder.py``: the packaged weights exported
   with ``torch.onnx.export`` and run by onnxruntime) shows what an ONNX path would give:
   * throughput: torch ``SentenceTransformer.encode`` vs onnxruntime on the same chunk texts, fresh
     interpreters, alternating, medians; also the largest difference between the two embeddings;
   * quality: an index built by each backend from the shipped corpus, then the full eval set:
     torch with ``assistant eval run evals/rare_earths.yaml --index DIR``, onnxruntime through the same
     runner (``assistant.evals.runner.run_eval``) with the stand-in embedder; hit_rate and mrr compared.

    python benchmarks/bench_onnx.py [--install-deps] [--repeats 2] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

SCRIPT = "bench_onnx.py"
ONNX_PKGS = ["onnx==1.23.2", "ml_dtypes"]


# ============================================================================= workers


def worker_official() -> dict[str, Any]:
    """Try the shipped ONNX setting; report exactly what happens."""
    import traceback

    from assistant import Settings
    from assistant.embedding import Embedder

    started = time.perf_counter()
    try:
        emb = Embedder(Settings(embed_backend="onnx"))
        vec = emb.encode(["rare earth oxide production"])
        return {"loads": True, "dim": int(vec.shape[1]), "seconds": round(time.perf_counter() - started, 2)}
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        return {
            "loads": False,
            "error_type": type(exc).__name__,
            "error": str(exc)[:600],
            "raised_at": f"{tb[-1].filename.split('site-packages/')[-1]}:{tb[-1].lineno}" if tb else None,
            "seconds": round(time.perf_counter() - started, 2),
        }


def worker_throughput(backend: str, n_texts: int) -> dict[str, Any]:
    import numpy as np
    from bench_ingest import embed_texts

    texts = embed_texts(common.CORPUS)[:n_texts]
    t = time.perf_counter()
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(common.model_path(), device="cpu")

        def encode(xs: list[str]) -> Any:
            return model.encode(xs, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    else:
        import ort_embedder

        ort_embedder.ensure_onnx_importable()
        path = ort_embedder.onnx_path()
        export_info = ort_embedder.export(common.model_path(), path) if not path.exists() else None
        enc = ort_embedder.OrtEncoder(common.model_path(), path)
        encode = enc.encode
    load_s = time.perf_counter() - t
    encode(["warm up"])
    t = time.perf_counter()
    vecs = encode(texts)
    seconds = time.perf_counter() - t
    out_path = common.TMP / "onnx" / f"vectors-{backend}.npy"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(out_path, np.asarray(vecs, dtype=np.float32))
    res = {
        "backend": backend,
        "texts": len(texts),
        "seconds": round(seconds, 3),
        "chunks_per_s": round(len(texts) / seconds, 2),
        "load_s": round(load_s, 2),
    }
    if backend == "onnx" and export_info:
        res["export"] = export_info
    return res


def worker_eval_ort(index: Path, out_dir: Path, limit: int | None) -> dict[str, Any]:
    import ort_embedder

    from assistant import Assistant, Settings
    from assistant.evals.dataset import load_eval_sets, select_cases
    from assistant.evals.report import write_report
    from assistant.evals.runner import run_eval

    ort_embedder.ensure_onnx_importable()
    settings = Settings(index_dir=index)
    assistant = Assistant.open(
        index_dir=index, settings=settings, embedder=ort_embedder.make_embedder(settings)
    )
    t = time.perf_counter()
    report = assistant.ingest(common.CORPUS)
    ingest_s = time.perf_counter() - t
    cases = select_cases(load_eval_sets([str(common.EVALSET)]), tags=(), limit=limit)
    result = run_eval(assistant, cases, progress=False, eval_sets=[str(common.EVALSET)])
    write_report(result, str(out_dir))
    return {
        "ingest_s": round(ingest_s, 2),
        "chunks": report.chunks_written,
        "metrics": result["metrics"],
        "n_cases": result["n_cases"],
    }


# ============================================================================= driver


def install_deps() -> dict[str, Any]:
    """``pip install --target results/tmp/pydeps onnx`` (the exporter needs it; the project does not)."""
    try:
        sys.path.append(str(common.PYDEPS))
        import onnx  # noqa: F401

        return {"installed": False, "present": True}
    except ImportError:
        pass
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        str(common.PYDEPS),
        *ONNX_PKGS,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return {"installed": done.returncode == 0, "command": " ".join(cmd[2:]), "stderr": done.stderr[-500:]}


def cli(args: list[str], env: dict[str, str], timeout: float = 1800) -> dict[str, Any]:
    t = time.perf_counter()
    done = subprocess.run(
        [*common.assistant_cli(), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=common.REPO,
        timeout=timeout,
    )
    return {
        "command": "assistant " + " ".join(args),
        "exit_code": done.returncode,
        "seconds": round(time.perf_counter() - t, 2),
        "stdout_tail": done.stdout[-800:],
        "stderr_tail": "\n".join(line for line in done.stderr.splitlines() if "%|" not in line)[-1500:],
    }


def run(repeats: int, n_texts: int, limit: int | None, do_install: bool) -> dict[str, Any]:
    import numpy as np

    log = common.TMP / "logs" / "onnx.log"
    base = common.TMP / "onnx"
    base.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}

    common.progress("onnx: the shipped setting (embed_backend='onnx')")
    out["official"] = {"embedder": common.run_worker(SCRIPT, ["official"], log=log)}
    onnx_env = common.offline_env(ASSISTANT_EMBED_BACKEND="onnx")
    idx = common.fresh_dir(base / "index-official-onnx")
    out["official"]["ingest_cli"] = cli(
        ["ingest", str(common.CORPUS), "--index", str(idx), "--json"], onnx_env
    )
    out["official"]["eval_cli"] = cli(
        [
            "eval",
            "run",
            str(common.EVALSET),
            "--index",
            str(idx),
            "--out",
            str(base / "eval-official-onnx"),
            "--no-progress",
            *(["--limit", str(limit)] if limit else []),
        ],
        onnx_env,
    )
    common.progress(f"  {out['official']['embedder']}")

    if do_install:
        out["deps"] = install_deps()
    try:
        sys.path.append(str(common.PYDEPS))
        import onnx  # noqa: F401
    except ImportError:
        out["standin"] = {"skipped": "the onnx package is missing; run with --install-deps"}
        return out

    common.progress("onnx stand-in: throughput torch vs onnxruntime")
    runs: dict[str, list[dict[str, Any]]] = {"torch": [], "onnx": []}
    for rep in range(repeats):
        for backend in ["torch", "onnx"] if rep % 2 == 0 else ["onnx", "torch"]:
            res = common.run_worker(SCRIPT, ["throughput", backend, "--texts", str(n_texts)], log=log)
            common.progress(f"  {backend}: {res['chunks_per_s']} chunks/s")
            runs[backend].append(res)
    a = np.load(base / "vectors-torch.npy")
    b = np.load(base / "vectors-onnx.npy")
    med = {k: common.median([r["chunks_per_s"] for r in v]) for k, v in runs.items()}
    pairs = [o["chunks_per_s"] / t["chunks_per_s"] for t, o in zip(runs["torch"], runs["onnx"], strict=True)]
    standin: dict[str, Any] = {
        "throughput": {
            "runs": runs,
            "median_chunks_per_s": med,
            "onnx_over_torch": round(common.median(pairs), 3),
            "max_abs_diff": float(np.abs(a - b).max()),
            "min_cosine": float((a * b).sum(1).min()),
        }
    }

    common.progress("onnx stand-in: eval, torch index via the CLI")
    tidx = common.base_index()  # built with `assistant ingest corpus --index DIR` (shared with ui/load)
    env = common.offline_env()
    standin["torch_index"] = str(tidx)
    tout = base / "eval-torch"
    standin["torch_eval_cli"] = cli(
        [
            "eval",
            "run",
            str(common.EVALSET),
            "--index",
            str(tidx),
            "--out",
            str(tout),
            "--no-progress",
            *(["--limit", str(limit)] if limit else []),
        ],
        env,
    )
    torch_metrics = json.loads((tout / "report.json").read_text())["metrics"]
    common.progress("onnx stand-in: eval, onnxruntime index")
    oidx = common.fresh_dir(base / "index-onnx")
    res = common.run_worker(
        SCRIPT,
        ["eval-ort", str(oidx), str(base / "eval-onnx"), *(["--limit", str(limit)] if limit else [])],
        log=log,
    )
    keys = (
        "hit_rate",
        "mrr",
        "ndcg",
        "key_fact_recall",
        "citation_precision",
        "refusal_accuracy",
        "answer_similarity",
        "latency_ms_p50",
    )
    standin["eval"] = {
        "torch": {k: torch_metrics.get(k) for k in keys},
        "onnx": {k: res["metrics"].get(k) for k in keys},
        "onnx_ingest_s": res["ingest_s"],
        "n_cases": res["n_cases"],
    }
    standin["eval"]["drop"] = {
        k: round(torch_metrics[k] - res["metrics"][k], 4)
        for k in ("hit_rate", "mrr")
        if torch_metrics.get(k) is not None
    }
    common.progress(f"  torch {standin['eval']['torch']}\n  onnx {standin['eval']['onnx']}")
    out["standin"] = standin
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        common.set_offline()
        p = argparse.ArgumentParser()
        p.add_argument("what")
        p.add_argument("args", nargs="*")
        p.add_argument("--texts", type=int, default=174)
        p.add_argument("--limit", type=int, default=0)
        a = p.parse_args(sys.argv[2:])
        if a.what == "official":
            common.emit(worker_official())
        elif a.what == "throughput":
            common.emit(worker_throughput(a.args[0], a.texts))
        elif a.what == "eval-ort":
            common.emit(worker_eval_ort(Path(a.args[0]), Path(a.args[1]), a.limit or None))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--texts", type=int, default=174, help="chunk texts for the throughput comparison")
    parser.add_argument("--limit", type=int, default=0, help="first N eval cases only (default: all)")
    parser.add_argument(
        "--install-deps", action="store_true", help="pip install onnx into results/tmp/pydeps"
    )
    parser.add_argument("--name", default="onnx")
    a = parser.parse_args()
    result = run(a.repeats, a.texts, a.limit or None, a.install_deps)
    result["command"] = "python benchmarks/bench_onnx.py " + " ".join(sys.argv[1:])
    common.write_result(a.name, result)


if __name__ == "__main__":
    main()
