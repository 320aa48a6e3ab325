"""Query latency, extractive ``ask`` latency and start-up time (benchmark row 3).

Indexes: the ~1k-chunk index built by ``bench_ingest.py`` (``results/tmp/ingest/ours-1000``), and
10k/100k-chunk indexes grown from it *without embedding anything*: every chunk is copied under a new
doc id (``xNNN/<doc_id>``) with its stored embedding plus small Gaussian noise (cosine ~0.97 to the
original), written through LlamaIndex's ``ChromaVectorStore``, with a docstore and the BM25 snapshot
written by ``assistant.store.write_bm25``: the same layout ``assistant ingest`` leaves.

Latency is measured in a fresh interpreter per index on the eval-set questions, each asked once per
mode, with the query-embedding cache disabled (``open_embedder(settings, cache_size=0)``), so every
number includes embedding the question. The default (ONNX Runtime) query path runs first;
with ``--backends onnx torch`` the torch path is measured in the same run, side by side.
``ask`` (extractive) runs the same questions twice: with the sentence-embedding cache cleared
before every question ("cold", a question about passages never seen) and in one pass with the
caches kept ("warm", a server that has answered the earlier questions).

    python benchmarks/bench_query.py --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

SCRIPT = "bench_query.py"
NOISE_COS = 0.97  # cosine between a synthetic copy's embedding and its source chunk's


# ============================================================================= large indexes


def source_index() -> Path:
    return common.TMP / "ingest" / "ours-1000"


def grown_index(size: int) -> Path:
    return common.TMP / "query" / f"grown-{size}"


def build_grown(src: Path, dest: Path, size: int, seed: int = 0) -> dict[str, Any]:
    """Grow the index at ``src`` to ``size`` chunks at ``dest`` from its stored embeddings."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    from assistant.config import Settings
    from assistant.store import load_docstore, persist_docstore, vector_store, write_bm25

    stamp = dest / ".grown"
    key = json.dumps({"src": str(src), "src_mtime": (src / "docstore.json").stat().st_mtime_ns, "size": size})
    if stamp.exists() and stamp.read_text() == key:
        return {"reused": True, **store_sentences(dest)}
    common.fresh_dir(dest)
    started = time.perf_counter()
    client = chromadb.PersistentClient(
        path=str(src / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    col = client.get_collection(Settings().collection)
    got = col.get(include=["embeddings", "documents", "metadatas"])
    ids, texts, metas = got["ids"], got["documents"], got["metadatas"]
    embs = np.asarray(got["embeddings"], dtype=np.float32)
    src_nodes = [metadata_dict_to_node(m, text=t) for m, t in zip(metas, texts, strict=True)]
    src_docs = load_docstore(src)
    src_hashes = src_docs.get_all_document_hashes()  # hash -> doc_id
    hash_of = {doc_id: h for h, doc_id in src_hashes.items()}
    rng = np.random.default_rng(seed)
    sigma = math.sqrt((1 / NOISE_COS**2 - 1) / embs.shape[1])
    copies = math.ceil(size / len(ids))
    store = vector_store(Settings(index_dir=dest), dest)
    docstore = SimpleDocumentStore()
    all_nodes: list[TextNode] = []
    written = 0
    for r in range(copies):
        prefix = f"x{r:03d}/"
        take = min(len(ids), size - written)
        noisy = embs[:take] + rng.normal(0.0, sigma, size=(take, embs.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        nodes = []
        doc_ids = set()
        for i in range(take):
            src_node = src_nodes[i]
            meta = dict(src_node.metadata)
            meta["doc_id"] = prefix + meta["doc_id"]
            doc_ids.add(meta["doc_id"])
            node = TextNode(
                id_=prefix + src_node.node_id,
                text=src_node.get_content(),
                metadata=meta,
                start_char_idx=src_node.start_char_idx,
                end_char_idx=src_node.end_char_idx,
                excluded_embed_metadata_keys=list(src_node.excluded_embed_metadata_keys),
                excluded_llm_metadata_keys=list(src_node.excluded_llm_metadata_keys),
                embedding=noisy[i].tolist(),
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=meta["doc_id"])
            nodes.append(node)
        for start in range(0, len(nodes), 2000):
            store.add(nodes[start : start + 2000])
        for doc_id in sorted(doc_ids):
            src_id = doc_id[len(prefix) :]
            doc = src_docs.get_document(src_id, raise_error=False)
            if doc is None:
                continue
            copy = doc.model_copy(update={"id_": doc_id})
            docstore.add_documents([copy])
            docstore.set_document_hash(doc_id, hash_of.get(src_id, copy.hash))
        for node in nodes:
            node.embedding = None
        all_nodes.extend(nodes)
        written += take
    chroma_s = time.perf_counter() - started
    persist_docstore(docstore, dest)
    from assistant.ingest import _fingerprint

    t = time.perf_counter()
    all_nodes.sort(key=lambda n: (n.metadata.get("doc_id", ""), n.metadata.get("chunk_index", 0)))
    write_bm25(all_nodes, dest, _fingerprint(docstore.get_all_document_hashes()))
    bm25_s = time.perf_counter() - t
    sentences = store_sentences(dest)
    stamp.write_text(key)
    return {
        "reused": False,
        **sentences,
        "chunks": written,
        "copies": copies,
        "noise_sigma": round(sigma, 5),
        "chroma_and_docstore_s": round(chroma_s, 1),
        "bm25_s": round(bm25_s, 1),
    }


def store_sentences(index: Path) -> dict[str, Any]:
    """The sentence store ``Assistant.ingest`` would leave (``Settings.sentence_vectors``)."""
    from assistant import Assistant, Settings
    from assistant.sentence_store import STORE_DIR

    if (index / STORE_DIR / "meta.json").exists():
        return {}
    t = time.perf_counter()
    added = Assistant.open(index, Settings(index_dir=index)).store_sentences()
    return {"sentences_added": added, "sentences_s": round(time.perf_counter() - t, 1)}


# ============================================================================= workers


def worker_latency(index: Path, n_questions: int, ask: bool, filtered: bool) -> dict[str, Any]:
    from assistant import Assistant, Settings
    from assistant.embedding import open_embedder

    settings = Settings(index_dir=index)  # ASSISTANT_EMBED_BACKEND from the driver picks the path
    t = time.perf_counter()
    embedder = open_embedder(settings, cache_size=0)  # every question embedded: no query cache
    assistant = Assistant.open(index_dir=index, settings=settings, embedder=embedder)
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    chunks = assistant.retriever.chunk_count()  # loads the BM25 snapshot
    snapshot_s = time.perf_counter() - t
    questions = common.eval_questions(n_questions)
    for q in ("critical minerals supply chain", "rare earth production in China", "Section 232"):
        assistant.retrieve(q, k=5, mode="hybrid")
        assistant.retrieve(q, k=5, mode="dense")
    modes = ["hybrid", "dense", "bm25"]
    times: dict[str, list[float]] = {m: [] for m in modes}
    if filtered:
        times["hybrid+date"] = []
        times["hybrid+doc"] = []
    doc_filter = sorted({d["doc_id"] for d in assistant.documents()})[:2] if filtered else []
    for i, q in enumerate(questions):
        order = modes[i % 3 :] + modes[: i % 3]
        for mode in order:
            t = time.perf_counter()
            hits = assistant.retrieve(q, k=5, mode=mode)  # type: ignore[arg-type]
            times[mode].append(time.perf_counter() - t)
            assert hits or mode == "bm25", f"no hit for {q!r} ({mode})"
        if filtered:
            t = time.perf_counter()
            assistant.retrieve(q, k=5, date_from="2025-01", date_to="2025-12")
            times["hybrid+date"].append(time.perf_counter() - t)
            t = time.perf_counter()
            assistant.retrieve(q, k=5, doc_ids=doc_filter)
            times["hybrid+doc"].append(time.perf_counter() - t)
    out: dict[str, Any] = {
        "index": str(index),
        "backend": embedder.backend,
        "chunks": chunks,
        "open_s": round(open_s, 3),
        "snapshot_load_s": round(snapshot_s, 3),
        "questions": len(questions),
        "retrieve": {m: common.summary_ms(v) for m, v in times.items()},
    }
    if ask:
        cold: list[float] = []
        warm: list[float] = []
        refused = 0
        for q in questions:  # warm pass first: caches build up as in a running server
            t = time.perf_counter()
            answer = assistant.ask(q)
            warm.append(time.perf_counter() - t)
            refused += answer.refused
        for q in questions:
            embedder.clear_caches()  # cold: no sentence seen before
            t = time.perf_counter()
            assistant.ask(q)
            cold.append(time.perf_counter() - t)
        out["ask_extractive"] = {
            "warm": common.summary_ms(warm),
            "cold": common.summary_ms(cold),
            "refused": refused,
            "cold_cache_cleared": True,
            "sentence_store": settings.sentence_vectors,
        }
        # the same cold questions without the sentence vectors stored at ingest (before this change)
        plain = Assistant.open(
            index_dir=index,
            settings=settings.model_copy(update={"sentence_vectors": False}),
            embedder=embedder,
        )
        cold_plain: list[float] = []
        for q in questions:
            embedder.clear_caches()
            t = time.perf_counter()
            plain.ask(q)
            cold_plain.append(time.perf_counter() - t)
        out["ask_extractive"]["cold_without_store"] = common.summary_ms(cold_plain)
    return out


STARTUP_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
from assistant import Assistant, Settings
t1 = time.perf_counter()
a = Assistant.open(index_dir=sys.argv[1], settings=Settings(index_dir=sys.argv[1]))
t2 = time.perf_counter()
answer = a.ask("What was China's rare earth mine production in 2024?")
t3 = time.perf_counter()
print("@@ANSWER " + json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "first_ask_s": t3 - t2,
                                "refused": answer.refused, "citations": len(answer.citations)}), flush=True)
"""


def measure_startup(index: Path) -> dict[str, Any]:
    """Spawn a fresh interpreter that opens ``index`` and answers one question; wall time until the
    answer is printed (interpreter start, imports, model and index load, first answer)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", STARTUP_CODE, str(index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=common.offline_env(),
        cwd=common.REPO,
    )
    assert proc.stdout is not None
    result: dict[str, Any] = {}
    for line in proc.stdout:
        if line.startswith("@@ANSWER "):
            result = json.loads(line[len("@@ANSWER ") :])
            result["to_first_answer_s"] = time.perf_counter() - started
            break
    proc.stdout.close()
    proc.wait(timeout=120)
    result["exit_s"] = time.perf_counter() - started
    if "to_first_answer_s" not in result:
        raise RuntimeError(f"start-up probe failed with exit code {proc.returncode}")
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}


IMPORTS_CODE = r"""
import json, sys, time
steps = {}
t = time.perf_counter()
def step(name):
    global t
    now = time.perf_counter(); steps[name] = round(now - t, 3); t = now
import assistant; step("assistant (types)")
from assistant import Assistant, Settings
s = Settings(index_dir=sys.argv[1]); step("assistant.config (pydantic-settings)")
import chromadb; step("chromadb")
import onnxruntime, tokenizers; step("onnxruntime, tokenizers")
import bm25s, Stemmer; step("bm25s (scipy), PyStemmer")
a = Assistant.open(index_dir=sys.argv[1], settings=s); step("Assistant.open (Chroma client)")
a.embedder.encode(["warm"]); step("ONNX session load + probe validation")
a.retriever.chunk_count(); step("BM25 snapshot load")
a.retrieve("What was China's rare earth mine production in 2024?"); step("first retrieve")
a.ask("What was China's rare earth mine production in 2024?"); step("first ask (same question)")
print("@@IMPORTS " + json.dumps(steps), flush=True)
"""


def measure_imports(index: Path) -> dict[str, float]:
    """Where start-up time goes: cumulative import and load steps in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_CODE, str(index)],
        capture_output=True,
        text=True,
        env=common.offline_env(),
        cwd=common.REPO,
        timeout=600,
    )
    for line in done.stdout.splitlines():
        if line.startswith("@@IMPORTS "):
            return json.loads(line[len("@@IMPORTS ") :])
    raise RuntimeError(f"import probe failed: {done.stderr[-2000:]}")


def measure_help(runs: int = 5) -> dict[str, Any]:
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            [*common.assistant_cli(), "--help"],
            capture_output=True,
            check=True,
            env=common.offline_env(),
            cwd=common.REPO,
        )
        walls.append(time.perf_counter() - t)
    return {"runs": [round(w, 3) for w in walls], "median_s": round(common.median(walls), 3)}


def worker_main(argv: list[str]) -> None:
    common.set_offline()
    parser = argparse.ArgumentParser()
    parser.add_argument("index", type=Path)
    parser.add_argument("--questions", type=int, default=0)
    parser.add_argument("--ask", action="store_true")
    parser.add_argument("--filtered", action="store_true")
    a = parser.parse_args(argv)
    common.emit(worker_latency(a.index, a.questions or None, a.ask, a.filtered))  # type: ignore[arg-type]


# ============================================================================= driver


def run(
    sizes: list[int],
    n_questions: int | None,
    startup_runs: int,
    ask_size: int,
    src: Path | None = None,
    passive_sizes: list[int] | None = None,
    backends: list[str] | None = None,
) -> dict[str, Any]:
    log = common.TMP / "logs" / "query.log"
    src = src or source_index()
    if not (src / "bm25").exists():
        raise SystemExit(f"{src} is missing: run bench_ingest.py --sizes 1000 first")
    out: dict[str, Any] = {"sizes": {}, "builds": {}}
    indexes: dict[int, Path] = {}
    for size in sizes:
        if size <= 1500:  # the source index itself
            indexes[size] = src
            continue
        common.progress(f"query: growing {src.name} to {size} chunks")
        common.set_offline()
        out["builds"][str(size)] = build_grown(src, grown_index(size), size)
        common.progress(f"  {out['builds'][str(size)]}")
        indexes[size] = grown_index(size)
    for size, index in indexes.items():
        args = [str(index), "--filtered"]
        if n_questions:
            args += ["--questions", str(n_questions)]
        if size == ask_size:
            args.append("--ask")
        variants: dict[str, dict[str, str]] = {"": {}}
        if "torch" in (backends or []):
            variants["torch"] = {"ASSISTANT_EMBED_BACKEND": "torch"}
        if size in (passive_sizes or []):
            variants["passive"] = {"OMP_WAIT_POLICY": "PASSIVE", "ASSISTANT_EMBED_BACKEND": "torch"}
        for label, extra in variants.items():
            common.progress(f"query latency at {size} chunks {label}")
            res = common.run_worker(SCRIPT, args, log=log, env=common.offline_env(**extra))
            common.progress(
                "  "
                + ", ".join(f"{m} p50 {v['p50_ms']} p95 {v['p95_ms']} ms" for m, v in res["retrieve"].items())
            )
            if "ask_extractive" in res:
                ae = res["ask_extractive"]
                common.progress(
                    f"  ask warm p50 {ae['warm']['p50_ms']} ms, cold p50 {ae['cold']['p50_ms']} ms"
                )
            if label:
                res["env"] = extra
                out["sizes"][str(size)][label] = res
            else:
                out["sizes"][str(size)] = res
    if ask_size in indexes:
        common.progress(f"start-up to first answer at {ask_size} chunks ({startup_runs} runs)")
        runs = [measure_startup(indexes[ask_size]) for _ in range(startup_runs)]
        out["startup"] = {
            "index_chunks": out["sizes"][str(ask_size)]["chunks"],
            "runs": runs,
            "median_to_first_answer_s": round(common.median([r["to_first_answer_s"] for r in runs]), 3),
        }
        common.progress(f"  median {out['startup']['median_to_first_answer_s']} s")
        out["startup"]["breakdown"] = measure_imports(indexes[ask_size])
        common.progress(f"  breakdown {out['startup']['breakdown']}")
    common.progress("assistant --help")
    out["help"] = measure_help()
    common.progress(f"  median {out['help']['median_s']} s")
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--questions", type=int, default=0, help="first N eval questions (default: all)")
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--ask-size", type=int, default=10000, help="index size for ask and start-up")
    parser.add_argument(
        "--source", type=Path, help="index to grow from (default results/tmp/ingest/ours-1000)"
    )
    parser.add_argument(
        "--passive-sizes",
        type=int,
        nargs="*",
        default=[],
        help="sizes measured again on torch with OMP_WAIT_POLICY=PASSIVE",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["onnx", "torch"],
        choices=["onnx", "torch"],
        help="query paths measured side by side (onnx = the default, torch = sentence-transformers)",
    )
    parser.add_argument("--name", default="query")
    a = parser.parse_args()
    result = run(
        a.sizes, a.questions or None, a.startup_runs, a.ask_size, a.source, a.passive_sizes, a.backends
    )
    result["command"] = "python benchmarks/bench_query.py " + " ".join(sys.argv[1:])
    common.write_result(a.name, result)


if __name__ == "__main__":
    main()
