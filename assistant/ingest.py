"""Incremental ingestion in five stages: discover, load, reconcile, embed and write, commit.

LlamaIndex's ``IngestionPipeline`` with a persisted docstore and ``UPSERTS_AND_DELETE`` decides
what changed: an unchanged document is skipped (nothing embedded), a changed one has its old
chunks deleted and is re-embedded, a document gone from the corpus has its chunks deleted.
What the pipeline lacks is written here: per-file failures that keep the stored copy, an atomic
docstore, recovery from a crash, the BM25 snapshot and the document catalogue.

1. :func:`discover`: the corpus files, one per doc_id (refusals reported), and the manifest.
2. :func:`load`: each file read and cleaned, or its stored copy reused when its bytes and
   manifest entry are unchanged (``files.json``); a file that fails keeps its stored copy.
3. :func:`reconcile`: added/updated/unchanged/removed counted; ``pending.json`` written; chunks
   of removed documents and orphans of a crash deleted from Chroma.
4. :func:`embed_and_write`: the pipeline chunks and embeds what changed and writes it to Chroma.
5. :func:`commit`: the docstore persisted (the commit point), ``pending.json`` cleared, then the
   BM25 snapshot and the catalogue swapped in together.

Crash safety. The docstore is persisted (atomically) only after Chroma holds every chunk, and it
is the commit point. Before Chroma is touched, ``pending.json`` lists the documents this run
rewrites; an ingest that finds it (the previous one died) forgets those documents and embeds them
again, and first deletes every chunk whose document the docstore does not hold (Chroma's ``add``
keeps an existing id's old metadata, so leftovers must go before anything is added). The BM25
snapshot and the catalogue (:mod:`assistant.catalogue`) live in one folder swapped in by one
rename; a snapshot whose fingerprint differs from the docstore's is rebuilt by the next ingest.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.schema import TransformComponent
from pydantic import PrivateAttr

from assistant.catalogue import CATALOGUE_FILE, Catalogue, FileFigures, has_catalogue
from assistant.chunking import chunk_document
from assistant.config import Settings
from assistant.loaders import (
    LOADER_VERSION,
    LoadError,
    Manifest,
    date_range,
    doc_id_for,
    load_document,
    read_manifest,
)
from assistant.loaders import discover as discover_files
from assistant.progress import phase
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
from assistant.types import AssistantError, FailedDocument, FileReport, IngestReport

if TYPE_CHECKING:
    from llama_index.core import Document
    from llama_index.core.schema import BaseNode
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from assistant.embedding import Embedder

FILE_CACHE = "files.json"


# --------------------------------------------------------------------------- pipeline parts


def make_chunker(settings: Settings) -> Any:
    """A LlamaIndex ``TransformComponent`` turning our Documents into chunk ``TextNode``s."""
    from llama_index.core.schema import NodeRelationship, TextNode

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


class InSlices(TransformComponent):
    """Applies a transformation ``size`` nodes at a time and shows one progress display for it.

    LlamaIndex's pipeline shows a bar per list of transformations ("Applying transformations")
    and the embedding model one per call; a user wants one display per phase (chunking,
    embedding). Slicing by the model's ``embed_batch_size`` makes the same model calls as one
    call with every node.
    """

    _inner: Any = PrivateAttr()
    _size: int = PrivateAttr()
    _desc: str = PrivateAttr()
    _unit: str = PrivateAttr()
    _enabled: bool = PrivateAttr()

    def __init__(self, inner: Any, size: int, desc: str, unit: str, enabled: bool) -> None:
        super().__init__()
        self._inner, self._size, self._desc, self._unit, self._enabled = inner, size, desc, unit, enabled

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        if not nodes:
            return out
        with phase(self._desc, len(nodes), self._unit, self._enabled) as bar:
            for start in range(0, len(nodes), self._size):
                part = nodes[start : start + self._size]
                out.extend(self._inner(part, **kwargs))
                bar.update(len(part))
        return out


# --------------------------------------------------------------------------- small helpers


def _fingerprint(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()


def _doc_hashes(docstore: Any) -> dict[str, str]:
    """``doc_id -> content hash`` of every stored document. (The docstore's own
    ``get_all_document_hashes`` maps hash -> id, so two documents with equal text and metadata
    collide and one of them is lost.)"""
    return {doc_id: h for doc_id in docstore.docs if (h := docstore.get_document_hash(doc_id))}


def _file_key(path: Path, corpus_dir: Path, entries: dict[str, dict[str, Any]]) -> str | None:
    """What a loaded document depends on: the file's bytes, name (its suffix picks the loader),
    manifest entry and the loader version. ``None`` when the file cannot be read (the loader
    then reports why)."""
    from assistant import __version__

    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    name = path.relative_to(corpus_dir).as_posix()
    depends_on = [__version__, LOADER_VERSION, name, entries.get(name, {})]
    digest.update(json.dumps(depends_on, sort_keys=True, default=str).encode())
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


def _figures_from_sections(doc: Any, file: str | None) -> FileFigures:
    """A stored document's pages, from its page sections (what an index written before the
    catalogue still tells)."""
    try:
        pages = [s[2] for s in json.loads(doc.metadata.get("sections", "[]")) if s[2] is not None]
    except (ValueError, TypeError, IndexError):
        pages = []
    return FileFigures(file=file, pages=max(pages) if pages else None)


# --------------------------------------------------------------------------- the stages


@dataclass
class Discovered:
    """Stage 1's result: the files to load by doc_id (sorted by path) and the manifest."""

    files: dict[str, Path]
    manifest: Manifest


@dataclass
class Loaded:
    """Stage 2's result.

    ``documents``: what the index holds after this run (loaded, reused, or the stored copy of
    a file that failed); ``file_keys``: the cache key of every readable file; ``figures``: per
    doc_id of ``documents``, what its file gave; ``failed_ids``: doc_ids of the files that failed.
    """

    documents: list[Document] = field(default_factory=list)
    file_keys: dict[str, str] = field(default_factory=dict)
    figures: dict[str, FileFigures] = field(default_factory=dict)
    failed_ids: set[str] = field(default_factory=set)


@dataclass
class Reconciled:
    """Stage 3's result: the documents this run rewrites and the orphan chunks it deleted."""

    rewritten: set[str]
    orphans: int


def discover(corpus_dir: Path, report: IngestReport) -> Discovered:
    """Stage 1: the manifest (its problems printed as warnings) and the files to load, one per
    doc_id. Skipped files and files that would be the same document are added to
    ``report.failed`` (a stored copy of such a document is kept)."""
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
    files, skipped = discover_files(corpus_dir)
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
    return Discovered({doc_id: paths[0] for doc_id, paths in by_id.items() if len(paths) == 1}, manifest)


def load(
    found: Discovered,
    corpus_dir: Path,
    index_dir: Path,
    settings: Settings,
    docstore: SimpleDocumentStore,
    previous: Catalogue,
    report: IngestReport,
    progress: bool,
) -> Loaded:
    """Stage 2: every discovered file as a LlamaIndex ``Document``. A file whose bytes and
    manifest entry are those of its stored copy is not parsed again (the pipeline then sees an
    unchanged document); a file that fails is added to ``report.failed`` and its stored copy, if
    any, kept."""
    stored_hashes = _doc_hashes(docstore)
    seen_files = _read_file_cache(index_dir)
    max_bytes = int(settings.max_file_mb * 2**20)
    out = Loaded()
    with phase("files", len(found.files), "file", progress) as bar:
        for doc_id, path in found.files.items():
            key = _file_key(path, corpus_dir, found.manifest.entries)
            if key is not None:
                out.file_keys[doc_id] = key
            cached = seen_files.get(doc_id) or {}
            unchanged = key is not None and cached.get("key") == key
            if unchanged and cached.get("hash") == stored_hashes.get(doc_id):
                stored = docstore.get_document(doc_id, raise_error=False)
                if stored is not None:
                    entry = previous.document(doc_id)
                    file = path.relative_to(corpus_dir).as_posix()
                    out.documents.append(stored)  # type: ignore[arg-type]
                    out.figures[doc_id] = (
                        replace(entry.figures, file=file) if entry else _figures_from_sections(stored, file)
                    )
                    bar.update(1)
                    continue
            _load_file(doc_id, path, corpus_dir, found.manifest, max_bytes, out, report)
            bar.update(1)
    # A stored document that failed to load this time keeps its stored copy: nothing is lost.
    loaded_ids = {d.id_ for d in out.documents}
    for failure in report.failed:
        try:
            out.failed_ids.add(Path(failure.path).relative_to(corpus_dir).with_suffix("").as_posix())
        except ValueError:
            continue
    for doc_id in sorted(out.failed_ids - loaded_ids):
        if doc_id in stored_hashes:
            stored = docstore.get_document(doc_id, raise_error=False)
            if stored is not None:
                entry = previous.document(doc_id)
                out.documents.append(stored)  # type: ignore[arg-type]
                out.figures[doc_id] = entry.figures if entry else _figures_from_sections(stored, None)
    return out


def _load_file(
    doc_id: str,
    path: Path,
    corpus_dir: Path,
    manifest: Manifest,
    max_bytes: int,
    out: Loaded,
    report: IngestReport,
) -> None:
    """Parse one file into ``out`` (document and figures), or record in ``report`` why not."""
    from llama_index.core import Document

    try:
        loaded = load_document(path, corpus_dir, manifest, max_bytes=max_bytes)
    except LoadError as exc:
        report.failed.append(FailedDocument(str(path), str(exc)))
        return
    except (OSError, ValueError, RuntimeError) as exc:
        report.failed.append(FailedDocument(str(path), f"{exc.__class__.__name__}: {exc}"))
        return
    meta = dict(loaded.metadata)
    meta["sections"] = json.dumps(loaded.sections)
    out.documents.append(
        Document(
            id_=loaded.doc_id,
            text=loaded.text,
            metadata=meta,
            excluded_embed_metadata_keys=list(meta),
            excluded_llm_metadata_keys=list(meta),
        )
    )
    section_pages = [s[2] for s in loaded.sections if s[2] is not None]
    out.figures[doc_id] = FileFigures(
        file=path.relative_to(corpus_dir).as_posix(),
        pages=loaded.pages if loaded.pages is not None else max(section_pages, default=None),
        tables=loaded.tables,
        ocr_pages=tuple(loaded.ocr_pages),
        warnings=tuple(loaded.warnings),
    )


def reconcile(
    loaded: Loaded,
    docstore: SimpleDocumentStore,
    collection: Any,
    index_dir: Path,
    report: IngestReport,
) -> Reconciled:
    """Stage 3: count what changed, record in ``pending.json`` what this run rewrites (before the
    first change to Chroma), forget what an interrupted ingest left half-written, and delete the
    chunks of removed documents and of documents the docstore does not hold."""
    before = _doc_hashes(docstore)
    current = {d.id_ for d in loaded.documents}
    for doc in loaded.documents:
        old = before.get(doc.id_)
        if old is None:
            report.added += 1
        elif old != doc.hash:
            report.updated += 1
        else:
            report.unchanged += 1
    report.removed = len(set(before) - current)
    report.unchanged -= len([d for d in loaded.documents if d.id_ in loaded.failed_ids])

    # An ingest that died while changing Chroma left pending.json: its documents are embedded again.
    pending = read_pending(index_dir)
    pending = set(before) if "*" in pending else pending
    for doc_id in pending:
        docstore.delete_document(doc_id, raise_error=False)
    stored = _doc_hashes(docstore)
    gone = set(stored) - current
    rewritten = {d.id_ for d in loaded.documents if stored.get(d.id_) != d.hash} | gone | pending
    if rewritten:
        write_pending(index_dir, rewritten)  # before the first change to Chroma
    for doc_id in gone:  # removed here, not by the pipeline, which misses documents of equal hash
        docstore.delete_document(doc_id, raise_error=False)
    # Chunks of documents the docstore does not hold: removed ones, and orphans of a crash.
    keep = set(stored) - gone
    orphans = [i for i, _t, meta in all_chunks(collection, texts=False) if meta.get("doc_id") not in keep]
    _delete_chunks(collection, orphans)
    return Reconciled(rewritten, len(orphans))


def embed_and_write(
    documents: list[Document],
    docstore: SimpleDocumentStore,
    store: ChromaVectorStore,
    settings: Settings,
    embedder: Embedder,
    progress: bool,
) -> list[BaseNode]:
    """Stage 4: LlamaIndex's pipeline chunks and embeds the new and changed documents (the model
    is ``embedder.model``, a LlamaIndex ``BaseEmbedding``) and writes their chunks to Chroma;
    returns the chunks written."""
    from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline

    model = embedder.model
    pipeline = IngestionPipeline(
        transformations=[
            InSlices(make_chunker(settings), 1, "chunking", "doc", progress),
            InSlices(model, max(1, int(model.embed_batch_size)), "embedding", "chunk", progress),
        ],
        docstore=docstore,
        vector_store=store,
        docstore_strategy=DocstoreStrategy.UPSERTS_AND_DELETE,
        # its cache hashes the text of every node per transformation and keeps a copy of the
        # result: a new pipeline per ingest never hits it
        disable_cache=True,
    )
    return list(pipeline.run(documents=documents, show_progress=False))


def commit(
    loaded: Loaded,
    docstore: SimpleDocumentStore,
    collection: Any,
    index_dir: Path,
    previous: Catalogue,
    snapshot_changed: bool,
) -> Catalogue:
    """Stage 5: persist the docstore (the commit point), clear ``pending.json``, record the
    files' cache keys, then build the BM25 snapshot and the catalogue of every committed chunk
    and swap them in together. Returns the committed catalogue."""
    persist_docstore(docstore, index_dir)
    clear_pending(index_dir)
    stored = _doc_hashes(docstore)
    _write_file_cache(
        index_dir,
        {
            d: {"key": k, "hash": stored[d]}
            for d, k in loaded.file_keys.items()
            if d in stored and d not in loaded.failed_ids
        },
    )
    fingerprint = _fingerprint(stored)
    figures = {d: f for d, f in loaded.figures.items() if d in stored}
    stale = (
        snapshot_changed
        or bm25_state(index_dir).get("fingerprint") != fingerprint
        or not has_catalogue(index_dir)
    )
    if not stale:
        catalogue = previous.with_figures(figures)
        if catalogue == previous:
            return previous
    nodes = nodes_from_chroma(collection)
    catalogue = Catalogue.from_chunks(
        ({**n.metadata, "node_id": n.node_id} for n in nodes),
        figures,
    )
    write_bm25(nodes, index_dir, fingerprint, extra_files={CATALOGUE_FILE: catalogue.to_json()})
    return catalogue


def file_reports(found: Discovered, loaded: Loaded, catalogue: Catalogue) -> list[FileReport]:
    """One report per file ingested this run (loaded, or unchanged and reused), in path order;
    failed files are in ``IngestReport.failed`` instead."""
    out = []
    for doc_id, path in found.files.items():
        entry = catalogue.document(doc_id)
        if doc_id in loaded.failed_ids or entry is None:
            continue
        f = entry.figures
        out.append(
            FileReport(
                path=str(path),
                pages=f.pages,
                chunks=len(entry.chunks),
                tables=f.tables,
                ocr_pages=list(f.ocr_pages),
                warnings=list(f.warnings),
            )
        )
    return out


# --------------------------------------------------------------------------- the whole run


def ingest(
    corpus_dir: Path,
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Bring the index at ``index_dir`` in line with ``corpus_dir``; see the module docstring.

    ``progress`` shows one display per phase (files, chunking, embedding) on stderr.
    """
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
        collection = store.client  # ChromaVectorStore's public handle on its Chroma collection
        if rebuild:
            # docstore first: if the deletes below are interrupted, every chunk left is an orphan
            (index_dir / DOCSTORE_FILE).unlink(missing_ok=True)
            _delete_chunks(collection, [i for i, _t, _m in all_chunks(collection)])
        docstore = load_docstore(index_dir)
        previous = Catalogue.load(index_dir)

        found = discover(corpus_dir, report)
        loaded = load(found, corpus_dir, index_dir, settings, docstore, previous, report, progress)
        reconciled = reconcile(loaded, docstore, collection, index_dir, report)
        nodes = embed_and_write(loaded.documents, docstore, store, settings, embedder, progress)
        report.chunks_written = len(nodes)
        changed = bool(report.chunks_written or reconciled.orphans or report.removed)
        catalogue = commit(loaded, docstore, collection, index_dir, previous, changed)
        report.files = file_reports(found, loaded, catalogue)
    report.seconds = time.perf_counter() - started
    return report
