"""The index on disk: Chroma (embedded or server), the ingestion docstore and the BM25 snapshot.

Layout of an index folder::

    chroma/            embedded Chroma database (absent in server mode)
    docstore.json      LlamaIndex docstore: one entry and content hash per document
    bm25               symlink to the BM25 snapshot of every committed chunk (``.bm25-*/``,
                       LlamaIndex BM25Retriever.persist, plus the document catalogue
                       ``catalogue.json``, see catalogue.py); swapped atomically, so a reader always
                       finds a complete snapshot
    pending.json       while an ingest changes Chroma: the documents it rewrites (see ingest.py)
    embedder.json      the embedder that built the index: model_id, dim, backend (queries with
                       an embedder of another model_id or dim are refused)
    .lock              held by the one ingest that may write at a time
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from assistant.config import Settings
from assistant.types import AssistantError

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from llama_index.vector_stores.chroma import ChromaVectorStore

DOCSTORE_FILE = "docstore.json"
BM25_DIR = "bm25"
STATE_FILE = "state.json"
PENDING_FILE = "pending.json"
EMBEDDER_FILE = "embedder.json"
_BM25_VERSION_PREFIX = ".bm25-"


class IndexBusyError(AssistantError):
    """Another ingest holds the index lock."""


@contextlib.contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive, non-blocking lock on the index folder for the length of an ingest."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = open(index_dir / ".lock", "a+")  # noqa: SIM115 - held for the duration of the block
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(
                f"another ingest is writing to {index_dir}; wait for it to finish and run again"
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def chroma_client(settings: Settings, index_dir: Path) -> Any:
    """An embedded ``PersistentClient`` under ``index_dir/chroma``, or an ``HttpClient`` when
    ``settings.chroma_url`` is set. Telemetry is off either way."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise AssistantError(
                f"cannot reach the Chroma server at {settings.chroma_url} ({exc.__class__.__name__}); "
                "start it with `chroma run --path DIR --host 127.0.0.1 --port N` "
                "or unset ASSISTANT_CHROMA_URL"
            ) from exc
        return client
    (index_dir / "chroma").mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(index_dir / "chroma"), settings=chroma_settings)


def chroma_collection(settings: Settings, index_dir: Path) -> Any:
    """Our Chroma collection, created when missing (cosine space; we always pass our own
    embeddings, so Chroma's downloading default embedding function is never used)."""
    client = chroma_client(settings, index_dir)
    return client.get_or_create_collection(
        settings.collection, metadata={"hnsw:space": "cosine"}, embedding_function=None
    )


def vector_store(settings: Settings, index_dir: Path) -> ChromaVectorStore:
    """LlamaIndex's ``ChromaVectorStore`` over :func:`chroma_collection` (for ingestion; queries
    read the collection directly and never import LlamaIndex)."""
    from llama_index.vector_stores.chroma import ChromaVectorStore

    return ChromaVectorStore(chroma_collection=chroma_collection(settings, index_dir))


def read_embedder_record(index_dir: Path) -> dict[str, Any] | None:
    """What the index recorded about the embedder that built it (``embedder.json``), or None."""
    try:
        data = json.loads((index_dir / EMBEDDER_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AssistantError(
            f"{index_dir / EMBEDDER_FILE} is damaged ({exc.__class__.__name__}); "
            "run `assistant ingest --rebuild` to rebuild the index"
        ) from exc
    return data if isinstance(data, dict) else None


def write_embedder_record(index_dir: Path, identity: dict[str, Any]) -> None:
    """Record which embedder and model build this index (``{"model_id", "dim", "backend"}``)."""
    atomic_write_text(index_dir / EMBEDDER_FILE, json.dumps(identity, indent=1, sort_keys=True))


def load_docstore(index_dir: Path) -> SimpleDocumentStore:
    """The persisted docstore, or an empty one. A damaged file is reported, never overwritten."""
    from llama_index.core.storage.docstore import SimpleDocumentStore

    path = index_dir / DOCSTORE_FILE
    if not path.exists():
        return SimpleDocumentStore()
    try:
        return SimpleDocumentStore.from_persist_path(str(path))
    except (json.JSONDecodeError, KeyError, ValueError) as exc:
        raise AssistantError(
            f"{path} is damaged ({exc.__class__.__name__}); "
            "run `assistant ingest --rebuild` to rebuild the index"
        ) from exc


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def persist_docstore(docstore: SimpleDocumentStore, index_dir: Path) -> None:
    """Persist the docstore atomically: written beside the old file, then renamed over it."""
    target = index_dir / DOCSTORE_FILE
    fd, tmp = tempfile.mkstemp(dir=index_dir, prefix=f".{DOCSTORE_FILE}.")
    os.close(fd)
    try:
        docstore.persist(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def all_chunks(
    collection: Any, page: int = 5000, *, texts: bool = True
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every ``(id, text, metadata)`` of a Chroma collection, read in pages (``texts=False``:
    the text is ``""``, not read)."""
    offset = 0
    include = ["documents", "metadatas"] if texts else ["metadatas"]
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        ids = got["ids"]
        if not ids:
            return
        yield from zip(ids, got["documents"] if texts else [""] * len(ids), got["metadatas"], strict=True)
        offset += len(ids)


def nodes_from_chroma(collection: Any) -> list[TextNode]:
    """Rebuild the LlamaIndex nodes stored in Chroma (text plus metadata)."""
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    nodes = []
    for _id, text, meta in all_chunks(collection):
        node = metadata_dict_to_node(meta, text=text)
        nodes.append(node)
    nodes.sort(key=lambda n: (n.metadata.get("doc_id", ""), n.metadata.get("chunk_index", 0)))
    return nodes


def write_bm25(
    nodes: list[TextNode], index_dir: Path, fingerprint: str, extra_files: Mapping[str, str] | None = None
) -> None:
    """Build LlamaIndex's ``BM25Retriever`` over ``nodes`` in a new ``.bm25-*`` folder and point
    the ``bm25`` symlink at it in one rename: a reader never finds the snapshot missing or half
    written. The previous snapshot is kept until the next ingest for readers still loading it.
    ``extra_files`` (name -> text, e.g. the document catalogue) are written into the same folder,
    so they are swapped in with it."""
    target = index_dir / BM25_DIR
    tmp = Path(tempfile.mkdtemp(dir=index_dir, prefix=_BM25_VERSION_PREFIX))
    link = index_dir / f".bm25-link-{os.getpid()}"
    try:
        if nodes:
            from llama_index.retrievers.bm25 import BM25Retriever

            retriever = BM25Retriever(nodes=nodes, similarity_top_k=min(10, len(nodes)))
            retriever.persist(str(tmp), show_progress=False)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        (tmp / STATE_FILE).write_text(json.dumps({"fingerprint": fingerprint, "chunks": len(nodes)}))
        link.unlink(missing_ok=True)
        link.symlink_to(tmp.name)
        previous = os.readlink(target) if target.is_symlink() else None
        if target.is_dir() and not target.is_symlink():  # a snapshot written before they were versioned
            os.replace(target, index_dir / f"{_BM25_VERSION_PREFIX}legacy-{os.getpid()}")
        os.replace(link, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        link.unlink(missing_ok=True)
        raise
    remove_stale_files(index_dir, keep={tmp.name, previous or ""})


def remove_stale_files(index_dir: Path, keep: set[str] | None = None) -> None:
    """Delete what an interrupted ingest left behind: temporary docstore and pending files, and
    BM25 snapshot folders the ``bm25`` symlink no longer points at (except names in ``keep``).
    Call it only while holding :func:`index_lock`."""
    target = index_dir / BM25_DIR
    keep = set(keep or ())
    if target.is_symlink():
        keep.add(os.readlink(target))
    for path in index_dir.glob(".*"):
        name = path.name
        if name in keep:
            continue
        if name.startswith((_BM25_VERSION_PREFIX, ".sentences-")) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)  # a snapshot or sentence store half written
        elif name.startswith((".bm25-link-", f".{DOCSTORE_FILE}.", f".{PENDING_FILE}.")):
            with contextlib.suppress(OSError):
                path.unlink()


def read_pending(index_dir: Path) -> set[str]:
    """Documents an interrupted ingest was rewriting in Chroma (empty when the last one finished)."""
    try:
        data = json.loads((index_dir / PENDING_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {"*"}  # unreadable: treat every document as possibly damaged
    return {str(d) for d in data} if isinstance(data, list) else {"*"}


def write_pending(index_dir: Path, doc_ids: set[str]) -> None:
    """Record, before Chroma is changed, which documents this ingest rewrites."""
    atomic_write_text(index_dir / PENDING_FILE, json.dumps(sorted(doc_ids)))


def clear_pending(index_dir: Path) -> None:
    """The ingest committed (docstore persisted): nothing is pending any more."""
    (index_dir / PENDING_FILE).unlink(missing_ok=True)


def bm25_state(index_dir: Path) -> dict[str, Any]:
    """The BM25 snapshot's state (fingerprint, chunk count), or ``{}``."""
    try:
        return json.loads((index_dir / BM25_DIR / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
