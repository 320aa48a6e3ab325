"""A small synthetic corpus in two versions, a real PDF writer, and a snapshot of an index's state.

Used by the reliability, crash-safety and concurrency tests: three or four short documents (a
few chunks each) keep every ingest to a second or two with the session's embedder.

Version 1: ``alpha.txt``, ``beta.md``, ``gamma.pdf``. Version 2: ``alpha.txt`` changed in its
second half, ``beta.md`` removed, ``delta.txt`` added, ``gamma.pdf`` unchanged.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_ENTRIES = {
    "alpha.txt": "  title: Zorbium refinery shipments\n  publisher: Ganzhou Mining Bureau\n  date: 2024-03\n",
    "beta.md": "  title: Quillon magnet plant\n  date: 2023\n",
    "gamma.pdf": "  title: Terbium stockpile of Ruritania\n  date: 2022-11-05\n",
    "delta.txt": "  title: Vandrel lithium brine\n",
}


def sentences(place: str, facility: str, mineral: str, buyer: str, n: int, start: int = 0) -> str:
    """``n`` distinct sentences about one facility (about 20 tokens each)."""
    return " ".join(
        f"In {1990 + i}, the {place} {facility} shipped {100 + 7 * i} tonnes of {mineral} concentrate "
        f"to {buyer} under contract number {1000 + 13 * i}."
        for i in range(start, start + n)
    )


ALPHA_V1 = "Zorbium refinery shipments\n\n" + sentences(
    "Ganzhou", "Zorbium refinery", "dysprosium", "Ostrava magnet works", 14
)
ALPHA_V2 = (
    "Zorbium refinery shipments\n\n"
    + sentences("Ganzhou", "Zorbium refinery", "dysprosium", "Ostrava magnet works", 7)
    + " "
    + sentences("Ganzhou", "Zorbium refinery", "praseodymium", "Kelowna foundry", 7, start=40)
)
BETA = "# Quillon magnet plant\n\n" + sentences(
    "Baotou", "Quillon magnet plant", "neodymium", "Turku motor factory", 10
)
GAMMA_PAGES = [
    "Terbium stockpile of Ruritania\n"
    + sentences("Ruritania", "terbium stockpile", "terbium", "Sapporo lamp makers", 5),
    # another buyer on page 2: lines that recur on every page (modulo digits) are dropped as headers
    sentences("Ruritania", "terbium stockpile", "terbium", "Lyon phosphor plant", 5, start=5),
]
DELTA = "Vandrel lithium brine\n\n" + sentences(
    "Atacama", "Vandrel brine field", "lithium", "Nagoya battery cells", 10
)

# A query per document that finds it (used by the query loops).
QUERIES = {
    "alpha": "Zorbium refinery dysprosium shipments to Ostrava",
    "beta": "Quillon magnet plant neodymium for Turku",
    "gamma": "terbium stockpile Ruritania Sapporo lamp makers",
    "delta": "Vandrel brine lithium for Nagoya battery cells",
}


def make_pdf(path: Path, pages: list[str]) -> None:
    """A real text PDF: reportlab when installed, else built with pypdf (Helvetica text operators)."""
    lines_per_page = [_wrap(text, 90) for text in pages]
    try:
        from reportlab.lib.pagesizes import letter
        from reportlab.pdfgen import canvas
    except ImportError:
        _pypdf_pdf(path, lines_per_page)
        return
    c = canvas.Canvas(str(path), pagesize=letter)
    for lines in lines_per_page:
        text = c.beginText(72, 720)
        text.setFont("Helvetica", 11)
        for line in lines:
            text.textLine(line)
        c.drawText(text)
        c.showPage()
    c.save()


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            if line and len(line) + 1 + len(word) > width:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        out.append(line)
    return out


def _pypdf_pdf(path: Path, lines_per_page: list[list[str]]) -> None:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for lines in lines_per_page:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        ops = ["BT", "/F1 11 Tf", "72 720 Td", "14 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    with path.open("wb") as fh:
        writer.write(fh)


def write_corpus(corpus: Path, version: int) -> Path:
    """Make ``corpus`` hold exactly version 1 or 2 (files of the other version are removed)."""
    corpus.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | list[str]] = {
        "alpha.txt": ALPHA_V1 if version == 1 else ALPHA_V2,
        "gamma.pdf": GAMMA_PAGES,
        **({"beta.md": BETA} if version == 1 else {"delta.txt": DELTA}),
    }
    for old in corpus.iterdir():
        if old.name not in files and old.name != "manifest.yaml":
            old.unlink()
    manifest = "documents:\n" + "".join(f"- file: {name}\n{MANIFEST_ENTRIES[name]}" for name in sorted(files))
    (corpus / "manifest.yaml").write_text(manifest, encoding="utf-8")
    for name, content in files.items():
        path = corpus / name
        if isinstance(content, list):
            if not path.exists():  # unchanged bytes across versions: the PDF is written once
                make_pdf(path, content)
        elif not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    return corpus


@dataclass(frozen=True)
class IndexState:
    """What an index holds: Chroma's chunks, the BM25 snapshot's chunk ids, the docstore's hashes,
    the catalogue written with the snapshot (its JSON; empty when none was written)."""

    chroma: dict[str, tuple[str, str, str, str]]  # chunk id -> (doc_id, text, title, date)
    chroma_count: int
    bm25_ids: list[str]
    docstore: dict[str, str]  # doc_id -> content hash
    leftovers: list[str]  # files an interrupted ingest left behind
    catalogue: str = ""
    catalogue_ids: tuple[str, ...] = ()  # every chunk id the catalogue lists

    def doc_chunks(self) -> dict[str, set[str]]:
        """doc_id -> its chunk ids (from Chroma)."""
        out: dict[str, set[str]] = {}
        for chunk_id, (doc_id, *_rest) in self.chroma.items():
            out.setdefault(doc_id, set()).add(chunk_id)
        return out

    def assert_equals_clean(self, clean: IndexState, context: str = "") -> None:
        """Same chunks (ids, text, metadata) in Chroma and BM25, no duplicates, no orphans."""
        where = f" ({context})" if context else ""
        assert len(self.bm25_ids) == len(set(self.bm25_ids)), f"duplicate chunks in BM25{where}"
        assert self.chroma_count == len(self.chroma), f"Chroma count differs from its ids{where}"
        extra = sorted(set(self.chroma) - set(clean.chroma))
        missing = sorted(set(clean.chroma) - set(self.chroma))
        assert not extra and not missing, f"Chroma ids differ from a clean build{where}: {extra=} {missing=}"
        assert self.chroma == clean.chroma, f"Chroma chunk text or metadata differ from a clean build{where}"
        assert sorted(self.bm25_ids) == sorted(clean.bm25_ids), f"BM25 chunk ids differ{where}"
        assert set(self.bm25_ids) == set(self.chroma), f"BM25 and Chroma disagree (orphans){where}"
        assert self.docstore == clean.docstore, f"docstore differs from a clean build{where}"
        assert self.catalogue, f"no catalogue in the snapshot{where}"
        assert self.catalogue == clean.catalogue, f"catalogue differs from a clean build{where}"
        assert sorted(self.catalogue_ids) == sorted(self.bm25_ids), f"catalogue and BM25 disagree{where}"
        assert not self.leftovers, f"files left behind{where}: {self.leftovers}"


def index_state(index_dir: Path) -> IndexState:
    """Read an index's state in this process (open it only after every other writer has stopped)."""
    from llama_index.retrievers.bm25 import BM25Retriever

    from assistant.catalogue import CATALOGUE_FILE, Catalogue
    from assistant.config import Settings
    from assistant.store import all_chunks, chroma_collection, load_docstore

    collection = chroma_collection(Settings(index_dir=index_dir), index_dir)
    chroma = {
        i: (str(m.get("doc_id")), text, str(m.get("title", "")), str(m.get("date", "")))
        for i, text, m in all_chunks(collection)
    }
    bm25_dir = index_dir / "bm25"
    bm25_ids = (
        [c["node_id"] for c in BM25Retriever.from_persist_dir(str(bm25_dir)).corpus]
        if (bm25_dir / "params.index.json").exists()
        else []
    )
    docstore = load_docstore(index_dir)
    hashes = {doc_id: docstore.get_document_hash(doc_id) or "" for doc_id in docstore.docs}
    current = bm25_dir.readlink().name if bm25_dir.is_symlink() else ""
    leftovers = sorted(p.name for p in index_dir.glob(".*") if p.name not in (".lock", current))
    snapshots = [
        n
        for n in leftovers
        if n.startswith(".bm25-") and (index_dir / n).is_dir() and not (index_dir / n).is_symlink()
    ]
    if len(snapshots) == 1:  # the previous BM25 snapshot, kept for readers still loading it
        leftovers.remove(snapshots[0])
    if (index_dir / "pending.json").exists():
        leftovers.append("pending.json")
    written = bm25_dir / CATALOGUE_FILE
    catalogue = written.read_text(encoding="utf-8") if written.exists() else ""
    entries = Catalogue.from_json(catalogue).entries() if catalogue else []
    ids = tuple(c.chunk_id for d in entries for c in d.chunks)
    return IndexState(chroma, collection.count(), bm25_ids, hashes, leftovers, catalogue, ids)


def clean_build(corpus: Path, index_dir: Path, embedder: Any) -> IndexState:
    """Ingest ``corpus`` into a fresh ``index_dir`` in this process and return its state."""
    from assistant import Assistant, Settings

    shutil.rmtree(index_dir, ignore_errors=True)
    report = Assistant.open(index_dir, Settings(index_dir=index_dir), embedder=embedder).ingest(corpus)
    assert report.ok, report.failed
    return index_state(index_dir)


def cli_report(stdout: str) -> dict[str, Any]:
    """The ``ingest --json`` report: the last line of stdout."""
    return json.loads(stdout.strip().splitlines()[-1])
