"""Ingestion throughput, peak memory and re-ingest time (benchmark rows 1 and 2).

For each corpus size (copies of the shipped corpus, see ``common.build_synthetic_corpus``) and each
repeat, four workers run one after the other in fresh interpreters, in rotating order:

* ``raw``: ``SentenceTransformer.encode`` (batch 32) of exactly the texts the pipeline embeds
  (title + chunk, as ``node.get_content(MetadataMode.EMBED)``): the hardware limit;
* ``ours``: ``Assistant.ingest`` into an empty index (load, clean, chunk, embed, Chroma, docstore, BM25);
* ``li-default``: LlamaIndex's ``VectorStoreIndex.from_documents`` into Chroma with its defaults
  (``SentenceSplitter`` 1024/200, ``HuggingFaceEmbedding`` batch 10) and the same model;
* ``li-200``: the same with ``SentenceSplitter(chunk_size=200, chunk_overlap=32)``, i.e. chunks as
  small as ours, so chunks/s compare like with like.

Both LlamaIndex baselines get the documents from our loaders (timed), since LlamaIndex's own
readers for PDF are not installed; documents carry the same metadata and embed only the title.
Times exclude interpreter start and model load (reported separately). Then ``ours`` runs again on
the unchanged corpus (``reingest``) and the time is compared with the full ingest.

    python benchmarks/bench_ingest.py --sizes 1000 5000 --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

METHODS = ("raw", "ours", "li-default", "li-200")
SCRIPT = "bench_ingest.py"


# ============================================================================= workers


class Timers:
    """Wall time spent inside wrapped functions, by name (benchmark instrumentation only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.text_digest = hashlib.sha256()
        self.texts = 0
        self.chars = 0

    def wrap(self, owner: Any, attr: str, name: str, *, generator: bool = False, texts: bool = False) -> None:
        original = getattr(owner, attr, None)
        if original is None:
            return
        timers = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                out = original(*args, **kwargs)
                if generator:
                    out = iter(list(out))
                return out
            finally:
                timers.seconds[name] = timers.seconds.get(name, 0.0) + time.perf_counter() - t
                timers.calls[name] = timers.calls.get(name, 0) + 1
                if texts:
                    batch = kwargs.get("inputs", kwargs.get("sentences", args[1] if len(args) > 1 else None))
                    if isinstance(batch, str):
                        batch = [batch]
                    for text in batch or []:
                        timers.text_digest.update(text.encode() + b"\0")
                        timers.texts += 1
                        timers.chars += len(text)

        setattr(owner, attr, wrapper)

    def report(self) -> dict[str, Any]:
        return {
            "phases_s": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
            "encode_calls": self.calls.get("embed", 0),
            "embedded_texts": self.texts,
            "mean_embedded_chars": round(self.chars / self.texts, 1) if self.texts else None,
        }


def _instrument_encode(timers: Timers) -> None:
    import sentence_transformers

    timers.wrap(sentence_transformers.SentenceTransformer, "encode", "embed", texts=True)


def _load_documents(corpus: Path, *, sections: bool) -> list[Any]:
    """The corpus as LlamaIndex Documents, loaded exactly as ``assistant.ingest`` loads them."""
    from llama_index.core import Document

    from assistant.loaders import discover, load_document, read_manifest

    manifest = read_manifest(corpus)
    files, _skipped = discover(corpus)
    docs = []
    for path in files:
        loaded = load_document(path, corpus, manifest)
        meta = dict(loaded.metadata)
        if sections:
            meta["sections"] = json.dumps(loaded.sections)
            excluded = list(meta)
        else:
            excluded = [k for k in meta if k != "title"]
        docs.append(
            Document(
                id_=loaded.doc_id,
                text=loaded.text,
                metadata=meta,
                excluded_embed_metadata_keys=excluded,
                excluded_llm_metadata_keys=list(meta),
            )
        )
    return docs


def embed_texts(corpus: Path) -> list[str]:
    """The exact strings ``Assistant.ingest`` hands to the model for ``corpus``."""
    from llama_index.core.schema import MetadataMode

    from assistant.config import Settings
    from assistant.ingest import make_chunker

    nodes = make_chunker(Settings())(_load_documents(corpus, sections=True))
    return [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]


def worker_raw(corpus: Path, batch_size: int) -> dict[str, Any]:
    texts = embed_texts(corpus)
    t = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(common.model_path(), device="cpu")
    load_s = time.perf_counter() - t
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode() + b"\0")
    t = time.perf_counter()
    model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - t
    return {
        "method": "raw",
        "chunks": len(texts),
        "seconds": round(seconds, 3),
        "model_load_s": round(load_s, 3),
        "batch_size": batch_size,
        "texts_sha256": digest.hexdigest(),
        "mean_embedded_chars": round(sum(map(len, texts)) / len(texts), 1),
        "torch_threads": __import__("torch").get_num_threads(),
    }


def worker_ours(corpus: Path, index: Path, method: str) -> dict[str, Any]:
    timers = Timers()
    t = time.perf_counter()
    from assistant import Assistant, Settings

    import_s = time.perf_counter() - t
    import assistant.ingest as ingest_mod

    timers.wrap(ingest_mod, "load_document", "load")
    timers.wrap(ingest_mod, "chunk_document", "chunk")
    timers.wrap(ingest_mod, "persist_docstore", "docstore_persist")
    timers.wrap(ingest_mod, "load_docstore", "docstore_load")
    timers.wrap(ingest_mod, "write_bm25", "bm25_write")
    timers.wrap(ingest_mod, "nodes_from_chroma", "chroma_read_all")
    timers.wrap(ingest_mod, "all_chunks", "chroma_scan", generator=True)
    _instrument_encode(timers)
    from llama_index.vector_stores.chroma import ChromaVectorStore

    timers.wrap(ChromaVectorStore, "add", "chroma_add")
    timers.wrap(ChromaVectorStore, "delete", "chroma_delete")
    t = time.perf_counter()
    settings = Settings(index_dir=index, corpus_dir=corpus)
    assistant = Assistant.open(index_dir=index, settings=settings)
    open_s = time.perf_counter() - t
    embedder = assistant.ingest_embedder()
    if embedder.backend != "torch":  # ONNX ingestion: time its encodes; the chunk texts come via LlamaIndex
        timers.wrap(type(embedder), "encode", "embed")
        timers.wrap(type(embedder.model), "_get_text_embeddings", "embed_chunks", texts=True)
    import assistant.sentence_store as sentence_store

    timers.wrap(sentence_store, "fill", "sentence_store")
    t = time.perf_counter()
    report = assistant.ingest(corpus)
    seconds = time.perf_counter() - t
    chunks = assistant.retriever.chunk_count()
    out = {
        "method": method,
        "chunks": chunks,
        "chunks_written": report.chunks_written,
        "seconds": round(seconds, 3),
        "open_s": round(open_s, 3),
        "import_s": round(import_s, 3),
        "failed": len(report.failed),
        "added": report.added,
        "unchanged": report.unchanged,
        "texts_sha256": timers.text_digest.hexdigest(),
        "embed_batch_size": settings.embed_batch_size,
        "embed_backend": embedder.backend,
        **timers.report(),
    }
    return out


def worker_llamaindex(corpus: Path, index: Path, splitter: str) -> dict[str, Any]:
    timers = Timers()
    _instrument_encode(timers)
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    t = time.perf_counter()
    embed_model = HuggingFaceEmbedding(model_name=common.model_path(), device="cpu")
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    docs = _load_documents(corpus, sections=False)
    load_docs_s = time.perf_counter() - t
    client = chromadb.PersistentClient(
        path=str(index / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection(
        "corpus", metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    kwargs: dict[str, Any] = {}
    if splitter != "default":
        from llama_index.core.node_parser import SentenceSplitter

        size, overlap = (int(x) for x in splitter.split("/"))
        kwargs["transformations"] = [SentenceSplitter(chunk_size=size, chunk_overlap=overlap)]
    VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=embed_model, **kwargs)
    seconds = time.perf_counter() - t
    return {
        "method": "li-default" if splitter == "default" else "li-200",
        "splitter": splitter,
        "chunks": collection.count(),
        "seconds": round(seconds, 3),
        "model_load_s": round(load_s, 3),
        "load_documents_s": round(load_docs_s, 3),
        "embed_batch_size": embed_model.embed_batch_size,
        **timers.report(),
    }


def worker_main(argv: list[str]) -> None:
    common.set_offline()
    parser = argparse.ArgumentParser()
    parser.add_argument("method")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--batch-size", type=int, default=32)
    a = parser.parse_args(argv)
    if a.method == "raw":
        result = worker_raw(a.corpus, a.batch_size)
    elif a.method in ("ours", "reingest"):
        result = worker_ours(a.corpus, a.index, a.method)
    elif a.method == "li-default":
        result = worker_llamaindex(a.corpus, a.index, "default")
    elif a.method == "li-200":
        result = worker_llamaindex(a.corpus, a.index, "200/32")
    else:
        raise SystemExit(f"unknown method {a.method}")
    common.emit(result)


# ============================================================================= driver


def ours_index(size: int) -> Path:
    """Where the last full ``ours`` ingest of ``size`` chunks is kept (the query benchmark reuses it)."""
    return common.TMP / "ingest" / f"ours-{size}"


def run(
    sizes: list[int],
    repeats: int,
    reingest_repeats: int,
    methods: list[str],
    large_methods: list[str] | None = None,
    on_size: Any = None,
) -> dict[str, Any]:
    """``methods`` run at sizes up to 1,500 chunks, ``large_methods`` (default: the same) above."""
    out: dict[str, Any] = {
        "sizes": {},
        "methods": methods,
        "large_methods": large_methods or methods,
        "repeats": repeats,
    }
    log = common.TMP / "logs" / "ingest.log"
    for size in sizes:
        copies = common.copies_for(size)
        corpus = common.build_synthetic_corpus(common.TMP / "corpora" / f"copies-{copies}", copies)
        todo = methods if size <= 1500 or not large_methods else large_methods
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in todo}
        reps = repeats
        for rep in range(reps):
            order = todo[rep % len(todo) :] + todo[: rep % len(todo)]
            for method in order:
                common.progress(f"ingest {size}: {method} (repeat {rep + 1}/{reps})")
                if method == "raw":
                    res = common.run_worker(SCRIPT, ["raw", str(corpus)], log=log)
                else:
                    index = (
                        ours_index(size) if method == "ours" else common.TMP / "ingest" / f"{method}-{size}"
                    )
                    common.fresh_dir(index)
                    res = common.run_worker(SCRIPT, [method, str(corpus), "--index", str(index)], log=log)
                res["repeat"] = rep
                res["chunks_per_s"] = round(res["chunks"] / res["seconds"], 2)
                res["loadavg_1m_after"] = round(__import__("os").getloadavg()[0], 2)
                common.progress(
                    f"  {res['chunks']} chunks in {res['seconds']:.1f}s = {res['chunks_per_s']} chunks/s,"
                    f" peak RSS {res['peak_rss_mib']:.0f} MiB"
                )
                runs[method].append(res)
        reingest: list[dict[str, Any]] = []
        if "ours" in todo:
            for rep in range(reingest_repeats):
                common.progress(f"re-ingest {size} (repeat {rep + 1}/{reingest_repeats})")
                res = common.run_worker(
                    SCRIPT, ["reingest", str(corpus), "--index", str(ours_index(size))], log=log
                )
                common.progress(f"  {res['seconds']:.2f}s, {res['chunks_written']} chunks written")
                reingest.append(res)
        out["sizes"][str(size)] = summarise(size, copies, runs, reingest)
        if on_size is not None:
            on_size(out)
    return out


def summarise(
    size: int, copies: int, runs: dict[str, list[dict[str, Any]]], reingest: list[dict[str, Any]]
) -> dict[str, Any]:
    med = {m: common.median([r["chunks_per_s"] for r in rs]) for m, rs in runs.items() if rs}
    s: dict[str, Any] = {"target_chunks": size, "copies": copies, "runs": runs, "median_chunks_per_s": med}
    ours = runs.get("ours") or []
    if ours:
        s["chunks"] = ours[0]["chunks"]
        s["peak_rss_mib"] = max(r["peak_rss_mib"] for r in ours)
        s["ingest_seconds_median"] = common.median([r["seconds"] for r in ours])
        by_rep = {r["repeat"]: r for r in ours}
        for other in ("raw", "li-default", "li-200"):
            pairs = [
                by_rep[r["repeat"]]["chunks_per_s"] / r["chunks_per_s"]
                for r in runs.get(other, [])
                if r["repeat"] in by_rep
            ]
            if pairs:
                s[f"ratio_vs_{other}"] = round(common.median(pairs), 3)
                s[f"ratio_vs_{other}_per_repeat"] = [round(p, 3) for p in pairs]
            # the same ratio in embedded characters per second (chunks of different sizes cost differently)
            char_pairs = [
                (by_rep[r["repeat"]]["chunks_per_s"] * by_rep[r["repeat"]]["mean_embedded_chars"])
                / (r["chunks_per_s"] * r["mean_embedded_chars"])
                for r in runs.get(other, [])
                if r["repeat"] in by_rep
                and r.get("mean_embedded_chars")
                and by_rep[r["repeat"]].get("mean_embedded_chars")
            ]
            if char_pairs:
                s[f"chars_ratio_vs_{other}"] = round(common.median(char_pairs), 3)
        wall_pairs = [
            r["seconds"] / by_rep[r["repeat"]]["seconds"]
            for r in runs.get("li-default", [])
            if r["repeat"] in by_rep
        ]
        if wall_pairs:
            s["corpus_time_ratio_li_default_over_ours"] = round(common.median(wall_pairs), 3)
        raw = runs.get("raw") or []
        if raw:
            s["same_texts"] = all(r.get("texts_sha256") == raw[0]["texts_sha256"] for r in ours)
    if reingest:
        secs = [r["seconds"] for r in reingest]
        s["reingest"] = {"runs": reingest, "seconds_median": round(common.median(secs), 3)}
        if ours:
            s["reingest"]["percent_of_full"] = round(
                100 * common.median(secs) / s["ingest_seconds_median"], 2
            )
    return s


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--reingest-repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--large-methods",
        nargs="+",
        choices=METHODS,
        help="methods for sizes over 1,500 chunks (default: --methods)",
    )
    parser.add_argument("--name", default="ingest", help="result file name (results/NAME.json)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the sizes of an existing results/NAME.json that this run does not measure",
    )
    a = parser.parse_args()
    command = "python benchmarks/bench_ingest.py " + " ".join(sys.argv[1:])
    previous = common.read_result(a.name) if a.merge else None

    def save(partial: dict[str, Any]) -> None:
        result = dict(partial)
        sizes = dict((previous or {}).get("sizes", {}))
        for key, value in partial["sizes"].items():
            value["command"] = command
            sizes[key] = value
        result["sizes"] = dict(sorted(sizes.items(), key=lambda kv: int(kv[0])))
        result["command"] = command
        common.write_result(a.name, result)

    run(a.sizes, a.repeats, a.reingest_repeats, list(a.methods), a.large_methods, on_size=save)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
