"""Incremental ingestion: load, clean, chunk, embed and upsert into Chroma.

LlamaIndex's ``IngestionPipeline`` with a persisted docstore and ``UPSERTS_AND_DELETE`` decides
what changed: an unchanged document is skipped (nothing embedded), a changed one has its old
chunks deleted and is re-embedded, a document gone from the corpus has its chunks deleted.
What the pipeline lacks is written here: per-file failures that keep the stored copy, an atomic
docstore, recovery from a crash, and the BM25 snapshot.

Crash safety. The docstore is persisted (atomically) only after Chroma holds every chunk, and it
is the commit point. Before Chroma is touched, ``pending.json`` lists the documents this run
rewrites; an ingest that finds it (the previous one died) forgets those documents and embeds them
again, and first deletes every chunk whose document the docstore does not hold (Chroma's ``add``
keeps an existing id's old metadata, so leftovers must go before anything is added).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.chunking import chunk_document
from assistant.config import Settings
from assistant.loaders import (
    LOADER_VERSION,
    LoadError,
    date_range,
    discover,
    doc_id_for,
    load_document,
    read_manifest,
)
from assistant.store import (
    DOCSTORE_FILE,
    all_chunks,
    bm25_state,
    clear_pending,
    index_lock,
    load_docstore,
    nodes_from_chroma,
    persist_docstore,
    read_pending,
    remove_stale_files,
    vector_store,
    write_bm25,
    write_pending,
)
from assistant.types import AssistantError, FailedDocument, IngestReport

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode

    from assistant.embedding import Embedder

# metadata kept on chunks but not embedded nor shown to a model
_HIDDEN_KEYS = [
    "doc_id",
    "publisher",
    "date",
    "url",
    "page",
    "start_char",
    "end_char",
    "chunk_index",
    "date_start",
    "date_end",
    "kind",
    "licence",
    "sections",
    "path",
]


def _progress(iterable: Sequence[Any], desc: str, enabled: bool) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="doc", file=sys.stderr)


def make_chunker(settings: Settings) -> Any:
    """A LlamaIndex ``TransformComponent`` turning our Documents into chunk ``TextNode``s."""
    from llama_index.core.schema import NodeRelationship, TextNode, TransformComponent

    class CorpusChunker(TransformComponent):
        """Sentence-aware token chunking with exact spans (see :mod:`assistant.chunking`)."""

        chunk_tokens: int = settings.chunk_tokens
        overlap_tokens: int = settings.chunk_overlap

        def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
            out: list[BaseNode] = []
            for doc in nodes:
                meta = {k: v for k, v in doc.metadata.items() if k not in ("sections", "path")}
                sections = [tuple(s) for s in json.loads(doc.metadata["sections"])]
                text = doc.get_content()
                lo, hi = date_range(meta.get("date"))
                for chunk in chunk_document(
                    doc.id_,
                    text,
                    sections,
                    self.chunk_tokens,
                    self.overlap_tokens,  # type: ignore[arg-type]
                ):
                    node_meta = dict(meta)
                    node_meta.update(
                        doc_id=doc.id_,
                        start_char=chunk.start,
                        end_char=chunk.end,
                        chunk_index=chunk.index,
                        date_start=lo,
                        date_end=hi,
                    )
                    if chunk.page is not None:
                        node_meta["page"] = chunk.page
                    if chunk.kind:  # "ocr": True (text read by OCR), "table": True (table rows)
                        node_meta[chunk.kind] = True
                    node = TextNode(
                        id_=chunk.chunk_id,
                        text=chunk.text,
                        metadata=node_meta,
                        start_char_idx=chunk.start,
                        end_char_idx=chunk.end,
                        excluded_embed_metadata_keys=[k for k in node_meta if k != "title"],
                        excluded_llm_metadata_keys=list(node_meta),
                    )
                    node.relationships[NodeRelationship.SOURCE] = doc.as_related_node_info()
                    out.append(node)
            return out

    return CorpusChunker()


def _fingerprint(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()


def _doc_hashes(docstore: Any) -> dict[str, str]:
    """``doc_id -> content hash`` of every stored document. (The docstore's own
    ``get_all_document_hashes`` maps hash -> id, so two documents with equal text and metadata
    collide and one of them is lost.)"""
    return {doc_id: h for doc_id in docstore.docs if (h := docstore.get_document_hash(doc_id))}


FILE_CACHE = "files.json"


def _file_key(path: Path, corpus_dir: Path, entries: dict[str, dict[str, Any]]) -> str | None:
    """What a loaded document depends on: the file's bytes, its manifest entry and the loader
    version. ``None`` when the file cannot be read (the loader then reports why)."""
    from assistant import __version__

    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    entry = entries.get(path.relative_to(corpus_dir).as_posix(), {})
    digest.update(json.dumps([__version__, LOADER_VERSION, entry], sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _read_file_cache(index_dir: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((index_dir / FILE_CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_file_cache(index_dir: Path, data: dict[str, dict[str, str]]) -> None:
    """Written after the docstore commit; an entry counts only while its ``hash`` equals the
    stored document's, so a stale file (a crash in between) just means a re-parse."""
    tmp = index_dir / f".{FILE_CACHE}.tmp"
    tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    tmp.replace(index_dir / FILE_CACHE)


def _delete_chunks(collection: Any, ids: list[str]) -> None:
    for start in range(0, len(ids), 5000):
        collection.delete(ids=ids[start : start + 5000])


def ingest(
    corpus_dir: Path,
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Bring the index at ``index_dir`` in line with ``corpus_dir``; see the module docstring."""
    from llama_index.core import Document
    from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline

    started = time.perf_counter()
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise AssistantError(
            f"corpus folder {corpus_dir} does not exist; pass the folder that holds your documents"
        )
    report = IngestReport()
    with index_lock(index_dir):
        remove_stale_files(index_dir)
        store = vector_store(settings, index_dir)
        collection = store._collection
        if rebuild:
            # docstore first: if the deletes below are interrupted, every chunk left is an orphan
            (index_dir / DOCSTORE_FILE).unlink(missing_ok=True)
            _delete_chunks(collection, [i for i, _t, _m in all_chunks(collection)])
        docstore = load_docstore(index_dir)
        before_by_id = _doc_hashes(docstore)

        manifest = read_manifest(corpus_dir)
        for warning in manifest.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for name in sorted(manifest.entries):
            if not (corpus_dir / name).exists():
                print(
                    f"warning: {corpus_dir / 'manifest.yaml'}: entry {name!r} names no file in the corpus; "
                    "entry ignored",
                    file=sys.stderr,
                )
        files, skipped = discover(corpus_dir)
        for path, reason in skipped:
            report.failed.append(FailedDocument(str(path), reason))
        # names that differ only in the extension would be one document: refuse them all (a stored
        # copy is kept) rather than let the order of the files pick one
        by_id: dict[str, list[Path]] = {}
        for path in files:
            by_id.setdefault(doc_id_for(path, corpus_dir), []).append(path)
        for doc_id, paths in by_id.items():
            if len(paths) > 1:
                names = " and ".join(p.name for p in paths)
                for path in paths:
                    report.failed.append(
                        FailedDocument(
                            str(path), f"{names} would be the same document {doc_id!r}; rename all but one"
                        )
                    )
        files = [p for p in files if len(by_id[doc_id_for(p, corpus_dir)]) == 1]
        max_bytes = int(settings.max_file_mb * 2**20)
        documents: list[Any] = []
        seen_files = _read_file_cache(index_dir)
        file_keys: dict[str, str] = {}
        for path in _progress(files, "loading", progress):
            doc_id = doc_id_for(path, corpus_dir)
            key = _file_key(path, corpus_dir, manifest.entries)
            if key is not None:
                file_keys[doc_id] = key
            # the same bytes and manifest entry as when the stored copy was made: reuse it, no
            # re-parse (a PDF takes seconds); the pipeline then sees an unchanged document
            cached = seen_files.get(doc_id)
            if (
                key is not None
                and cached
                and cached.get("key") == key
                and cached.get("hash") == before_by_id.get(doc_id)
            ):
                stored_doc = docstore.get_document(doc_id, raise_error=False)
                if stored_doc is not None:
                    documents.append(stored_doc)
                    continue
            try:
                loaded = load_document(path, corpus_dir, manifest, max_bytes=max_bytes)
            except LoadError as exc:
                report.failed.append(FailedDocument(str(path), str(exc)))
                continue
            except (OSError, ValueError, RuntimeError) as exc:
                report.failed.append(FailedDocument(str(path), f"{exc.__class__.__name__}: {exc}"))
                continue
            meta = dict(loaded.metadata)
            meta["sections"] = json.dumps(loaded.sections)
            documents.append(
                Document(
                    id_=loaded.doc_id,
                    text=loaded.text,
                    metadata=meta,
                    excluded_embed_metadata_keys=list(meta),
                    excluded_llm_metadata_keys=list(meta),
                )
            )
        loaded_ids = {d.id_ for d in documents}
        # A stored document that failed to load this time keeps its stored copy: nothing is lost.
        failed_ids = set()
        for failure in report.failed:
            path = Path(failure.path)
            try:
                failed_ids.add(path.relative_to(corpus_dir).with_suffix("").as_posix())
            except ValueError:
                continue
        for doc_id in sorted(failed_ids - loaded_ids):
            if doc_id in before_by_id:
                stored = docstore.get_document(doc_id, raise_error=False)
                if stored is not None:
                    documents.append(stored)

        for doc in documents:
            old = before_by_id.get(doc.id_)
            if old is None:
                report.added += 1
            elif old != doc.hash:
                report.updated += 1
            else:
                report.unchanged += 1
        current = {d.id_ for d in documents}
        report.removed = len(set(before_by_id) - current)
        report.unchanged -= len([d for d in documents if d.id_ in failed_ids])

        # An ingest that died while changing Chroma left pending.json: its documents are embedded again.
        pending = read_pending(index_dir)
        pending = set(before_by_id) if "*" in pending else pending
        for doc_id in pending:
            docstore.delete_document(doc_id, raise_error=False)
        stored = _doc_hashes(docstore)
        gone = set(stored) - current
        rewritten = {d.id_ for d in documents if stored.get(d.id_) != d.hash} | gone | pending
        if rewritten:
            write_pending(index_dir, rewritten)  # before the first change to Chroma
        for doc_id in gone:  # removed here, not by the pipeline, which misses documents of equal hash
            docstore.delete_document(doc_id, raise_error=False)
        # Chunks of documents the docstore does not hold: removed ones, and orphans of a crash.
        keep = set(stored) - gone
        orphans = [i for i, _t, meta in all_chunks(collection, texts=False) if meta.get("doc_id") not in keep]
        _delete_chunks(collection, orphans)

        pipeline = IngestionPipeline(
            transformations=[make_chunker(settings), embedder.model],
            docstore=docstore,
            vector_store=store,
            docstore_strategy=DocstoreStrategy.UPSERTS_AND_DELETE,
        )
        nodes = pipeline.run(documents=documents, show_progress=progress)
        report.chunks_written = len(nodes)
        persist_docstore(docstore, index_dir)
        clear_pending(index_dir)
        stored_now = _doc_hashes(docstore)
        _write_file_cache(
            index_dir,
            {
                d: {"key": k, "hash": stored_now[d]}
                for d, k in file_keys.items()
                if d in stored_now and d not in failed_ids
            },
        )

        fingerprint = _fingerprint(_doc_hashes(docstore))
        stale = bm25_state(index_dir).get("fingerprint") != fingerprint
        if report.chunks_written or orphans or report.removed or stale:
            write_bm25(nodes_from_chroma(collection), index_dir, fingerprint)
    report.seconds = time.perf_counter() - started
    return report
