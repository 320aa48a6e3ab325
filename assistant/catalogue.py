"""The document catalogue: what the index holds, per document and per chunk.

Per document: doc_id, title, publisher, date, url, kind, the corpus file, pages, tables, OCRed
pages, loader warnings and its chunks; per chunk: id, index in the document, span (start/end
character in the cleaned text) and page. ``Assistant.documents()`` lists it, the ingest report
reads the stored figures of unchanged files from it, and context expansion finds a chunk's
neighbours in it.

Where it lives: ``catalogue.json`` inside the committed snapshot folder that the index's ``bm25``
symlink points at (see :mod:`assistant.store`). An ingest writes it into the new snapshot folder
before the one atomic rename that swaps the snapshot in, so a reader always finds the catalogue
and the BM25 index of the same commit, and a crash leaves the previous pair. An index built
before the catalogue existed has none: :meth:`Catalogue.load` derives it from the snapshot's
BM25 corpus (figures a loader reports, such as tables, are then unknown) and the next ingest
writes it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CATALOGUE_FILE = "catalogue.json"
SNAPSHOT_LINK = "bm25"  # the index folder's symlink to the committed snapshot (store.BM25_DIR)
FORMAT = 1
CHUNK_FIELDS = ("chunk_id", "chunk_index", "start_char", "end_char", "page")


@dataclass(frozen=True)
class ChunkEntry:
    """One chunk: its id, its index in the document (0, 1, ...), its span and page."""

    chunk_id: str
    chunk_index: int
    start_char: int
    end_char: int
    page: int | None = None


@dataclass(frozen=True)
class FileFigures:
    """What the loader found in a document's file (shown per file by the ingest report)."""

    file: str | None = None  # path relative to the corpus folder
    pages: int | None = None  # None for formats without pages
    tables: int = 0
    ocr_pages: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentEntry:
    """One document of the catalogue; ``chunks`` are in ``chunk_index`` order."""

    doc_id: str
    title: str = ""
    publisher: str = ""
    date: str | None = None
    url: str | None = None
    kind: str | None = None
    figures: FileFigures = field(default_factory=FileFigures)
    chunks: tuple[ChunkEntry, ...] = ()

    def summary(self) -> dict[str, Any]:
        """``{"doc_id", "title", "publisher", "date", "url", "kind", "chunks": int, "pages"}``."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "publisher": self.publisher,
            "date": self.date,
            "url": self.url,
            "kind": self.kind,
            "chunks": len(self.chunks),
            "pages": self.figures.pages,
        }


class Catalogue:
    """The catalogue of one committed snapshot (read-only; build a new one to change it)."""

    def __init__(self, documents: Iterable[DocumentEntry] = ()) -> None:
        self._docs = {d.doc_id: d for d in sorted(documents, key=lambda d: d.doc_id)}
        self._positions = {
            doc_id: {c.chunk_index: i for i, c in enumerate(d.chunks)} for doc_id, d in self._docs.items()
        }

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Catalogue) and self._docs == other._docs

    def documents(self) -> list[dict[str, Any]]:
        """Every document's :meth:`DocumentEntry.summary`, sorted by doc_id."""
        return [d.summary() for d in self._docs.values()]

    def entries(self) -> list[DocumentEntry]:
        """Every document entry, sorted by doc_id."""
        return list(self._docs.values())

    def document(self, doc_id: str) -> DocumentEntry | None:
        """The entry of ``doc_id``, or None."""
        return self._docs.get(doc_id)

    def chunk_ids(self, doc_id: str) -> list[str]:
        """The chunk ids of ``doc_id`` in document order (empty for an unknown document)."""
        doc = self._docs.get(doc_id)
        return [c.chunk_id for c in doc.chunks] if doc else []

    def neighbour_ids(self, doc_id: str, chunk_index: int, radius: int = 1) -> list[str]:
        """Ids of the chunks of ``doc_id`` within ``radius`` of chunk ``chunk_index`` (the chunk
        itself excluded), in document order."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return []
        where = self._positions[doc_id]
        out = []
        for index in range(chunk_index - radius, chunk_index + radius + 1):
            i = where.get(index)
            if index != chunk_index and i is not None:
                out.append(doc.chunks[i].chunk_id)
        return out

    # ------------------------------------------------------------------ building

    @classmethod
    def from_chunks(
        cls, chunks: Iterable[Mapping[str, Any]], figures: Mapping[str, FileFigures] | None = None
    ) -> Catalogue:
        """Build from chunk metadata dicts (``node_id`` plus the metadata ingestion stores on every
        chunk: doc_id, title, publisher, date, url, kind, chunk_index, start_char, end_char, page)
        and the loader's figures per doc_id (unknown figures: pages from the chunks' pages)."""
        figures = figures or {}
        meta: dict[str, Mapping[str, Any]] = {}
        rows: dict[str, list[ChunkEntry]] = {}
        for c in chunks:
            doc_id = str(c.get("doc_id", ""))
            meta.setdefault(doc_id, c)
            page = c.get("page")
            rows.setdefault(doc_id, []).append(
                ChunkEntry(
                    chunk_id=str(c["node_id"]),
                    chunk_index=int(c.get("chunk_index", 0)),
                    start_char=int(c.get("start_char", 0)),
                    end_char=int(c.get("end_char", 0)),
                    page=int(page) if page is not None else None,
                )
            )
        docs = []
        for doc_id, m in meta.items():
            ordered = tuple(sorted(rows[doc_id], key=lambda r: r.chunk_index))
            known = figures.get(doc_id)
            if known is None:
                pages = [r.page for r in ordered if r.page is not None]
                known = FileFigures(pages=max(pages) if pages else None)
            docs.append(
                DocumentEntry(
                    doc_id=doc_id,
                    title=str(m.get("title") or ""),
                    publisher=str(m.get("publisher") or ""),
                    date=m.get("date") or None,
                    url=m.get("url") or None,
                    kind=m.get("kind") or None,
                    figures=known,
                    chunks=ordered,
                )
            )
        return cls(docs)

    def with_figures(self, figures: Mapping[str, FileFigures]) -> Catalogue:
        """The same documents and chunks with the figures of the documents named in ``figures``."""
        return Catalogue(
            replace(d, figures=figures[d.doc_id]) if d.doc_id in figures else d for d in self._docs.values()
        )

    # ------------------------------------------------------------------ storage

    def to_json(self) -> str:
        """The ``catalogue.json`` text (chunks as rows of :data:`CHUNK_FIELDS`)."""
        docs = []
        for d in self._docs.values():
            f = d.figures
            docs.append(
                {
                    "doc_id": d.doc_id,
                    "title": d.title,
                    "publisher": d.publisher,
                    "date": d.date,
                    "url": d.url,
                    "kind": d.kind,
                    "file": f.file,
                    "pages": f.pages,
                    "tables": f.tables,
                    "ocr_pages": list(f.ocr_pages),
                    "warnings": list(f.warnings),
                    "chunks": [
                        [c.chunk_id, c.chunk_index, c.start_char, c.end_char, c.page] for c in d.chunks
                    ],
                }
            )
        return json.dumps(
            {"format": FORMAT, "chunk_fields": list(CHUNK_FIELDS), "documents": docs},
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Catalogue:
        """Parse :meth:`to_json`'s text; ``ValueError`` when it is not a catalogue."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a catalogue of a known format")
        docs = []
        for d in data["documents"]:
            docs.append(
                DocumentEntry(
                    doc_id=d["doc_id"],
                    title=d.get("title") or "",
                    publisher=d.get("publisher") or "",
                    date=d.get("date"),
                    url=d.get("url"),
                    kind=d.get("kind"),
                    figures=FileFigures(
                        file=d.get("file"),
                        pages=d.get("pages"),
                        tables=int(d.get("tables") or 0),
                        ocr_pages=tuple(d.get("ocr_pages") or ()),
                        warnings=tuple(d.get("warnings") or ()),
                    ),
                    chunks=tuple(ChunkEntry(*row) for row in d["chunks"]),
                )
            )
        return cls(docs)

    @classmethod
    def from_snapshot(cls, snapshot_dir: Path) -> Catalogue:
        """The catalogue of one snapshot folder: its ``catalogue.json``, or (a snapshot written
        before catalogues existed) derived from its BM25 corpus; empty when it holds neither."""
        if not snapshot_dir.is_dir():
            raise FileNotFoundError(f"no snapshot folder {snapshot_dir}")
        try:
            return cls.from_json((snapshot_dir / CATALOGUE_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            pass  # none written (or unreadable): derive it from the BM25 corpus of the same snapshot
        corpus = snapshot_dir / "corpus.jsonl"  # bm25s' corpus file: one chunk's metadata a line
        if not corpus.exists():
            return cls()
        with corpus.open(encoding="utf-8") as fh:
            return cls.from_chunks(json.loads(line) for line in fh if line.strip())

    @classmethod
    def load(cls, index_dir: Path) -> Catalogue:
        """The catalogue of the index's committed snapshot (empty for an index never ingested)."""
        return _load_current(Path(index_dir))[1]


def has_catalogue(index_dir: Path) -> bool:
    """Whether the committed snapshot holds a written ``catalogue.json`` (not a derived one)."""
    return (Path(index_dir) / SNAPSHOT_LINK / CATALOGUE_FILE).is_file()


def _load_current(index_dir: Path) -> tuple[str | None, Catalogue]:
    """``(snapshot link target, its catalogue)``; a snapshot folder removed while it was being
    read (a newer one was swapped in meanwhile) is read again at the new target."""
    for attempt in range(3):
        target = _snapshot_target(index_dir)
        if target is None:
            return None, Catalogue()
        try:
            return target, Catalogue.from_snapshot(index_dir / target)
        except FileNotFoundError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _snapshot_target(index_dir: Path) -> str | None:
    link = index_dir / SNAPSHOT_LINK
    try:
        return os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError:  # a snapshot folder written before snapshots were versioned
        return SNAPSHOT_LINK if link.is_dir() else None


class CatalogueReader:
    """The catalogue of one index, reloaded only when an ingest swapped in a new snapshot."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self._target: str | None = None
        self._catalogue = Catalogue()
        self._lock = threading.Lock()

    def current(self) -> Catalogue:
        """The committed catalogue (empty for an index never ingested)."""
        target = _snapshot_target(self.index_dir)
        with self._lock:
            if target != self._target or target == SNAPSHOT_LINK:
                self._target, self._catalogue = _load_current(self.index_dir)
            return self._catalogue
