"""The document catalogue and the per-file ingest report.

Unit tests build catalogues from made-up chunk metadata; the rest ingest the small synthetic
corpus (``small_corpus``) with the real model and Chroma and compare the catalogue with what
Chroma and the BM25 snapshot hold.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from small_corpus import index_state, write_corpus

import assistant.ingest as ingest_module
from assistant import Assistant, Settings
from assistant.catalogue import CATALOGUE_FILE, Catalogue, CatalogueReader, FileFigures


def _chunk(doc: str, index: int, page: int | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "node_id": f"{doc}#{index}",
        "doc_id": doc,
        "chunk_index": index,
        "start_char": 100 * index,
        "end_char": 100 * index + 120,
        **({"page": page} if page is not None else {}),
        **meta,
    }


# ----------------------------------------------------------------------------- unit


def test_chunks_are_ordered_and_neighbours_stay_in_their_document() -> None:
    chunks = [_chunk("ledger", i, title="Vostok ledger", publisher="Vostok smelter") for i in (3, 0, 2, 1)]
    chunks += [_chunk("memo", i, page=i + 1, title="Ostrava memo", date="2021-04") for i in (1, 0)]
    cat = Catalogue.from_chunks(chunks)
    assert cat.chunk_ids("ledger") == ["ledger#0", "ledger#1", "ledger#2", "ledger#3"]
    assert cat.neighbour_ids("ledger", 2, 1) == ["ledger#1", "ledger#3"]
    assert cat.neighbour_ids("ledger", 0, 2) == ["ledger#1", "ledger#2"]
    assert cat.neighbour_ids("ledger", 3, 0) == []
    assert cat.neighbour_ids("memo", 1, 5) == ["memo#0"]
    assert cat.neighbour_ids("nowhere", 0, 1) == [] and cat.chunk_ids("nowhere") == []
    assert cat.documents() == [
        {
            "doc_id": "ledger",
            "title": "Vostok ledger",
            "publisher": "Vostok smelter",
            "date": None,
            "url": None,
            "kind": None,
            "chunks": 4,
            "pages": None,
        },
        {
            "doc_id": "memo",
            "title": "Ostrava memo",
            "publisher": "",
            "date": "2021-04",
            "url": None,
            "kind": None,
            "chunks": 2,
            "pages": 2,  # unknown figures: the highest page a chunk is on
        },
    ]
    memo = cat.document("memo")
    assert memo is not None and [(c.start_char, c.end_char, c.page) for c in memo.chunks] == [
        (0, 120, 1),
        (100, 220, 2),
    ]


def test_json_round_trip_keeps_figures_and_chunks() -> None:
    figures = {"memo": FileFigures("memos/memo.pdf", 7, 2, (3, 4), ("2 pages had no text",))}
    cat = Catalogue.from_chunks([_chunk("memo", 0, page=3), _chunk("memo", 1, page=4)], figures)
    again = Catalogue.from_json(cat.to_json())
    assert again == cat
    assert again.document("memo").figures == figures["memo"]  # type: ignore[union-attr]
    changed = cat.with_figures({"memo": dataclasses.replace(figures["memo"], tables=5)})
    assert changed != cat and changed.chunk_ids("memo") == cat.chunk_ids("memo")
    with pytest.raises(ValueError):
        Catalogue.from_json('{"format": 99, "documents": []}')


def test_an_index_never_ingested_has_an_empty_catalogue(tmp_path: Path) -> None:
    assert len(Catalogue.load(tmp_path)) == 0
    assert CatalogueReader(tmp_path / "missing").current().documents() == []


# ----------------------------------------------------------------------------- with an index


def _open(index: Path, embedder: Any) -> Assistant:
    return Assistant.open(index, Settings(index_dir=index), embedder=embedder)


def test_catalogue_matches_chroma_and_bm25(tmp_path: Path, embedder: Any) -> None:
    index = tmp_path / "index"
    a = _open(index, embedder)
    assert a.ingest(write_corpus(tmp_path / "corpus", 1)).ok
    state = index_state(index)
    cat = Catalogue.load(index)
    by_doc = state.doc_chunks()
    assert {d: set(cat.chunk_ids(d)) for d in by_doc} == by_doc
    assert sorted(i for d in by_doc for i in cat.chunk_ids(d)) == sorted(state.bm25_ids)
    docs = {d["doc_id"]: d for d in a.documents()}
    assert {d: docs[d]["chunks"] for d in docs} == {d: len(ids) for d, ids in by_doc.items()}
    assert docs["alpha"]["title"] == "Zorbium refinery shipments" and docs["alpha"]["date"] == "2024-03"
    assert docs["gamma"]["pages"] == 2 and docs["alpha"]["pages"] is None
    # chunk spans and pages are those stored on the chunks
    for doc_id in by_doc:
        entry = cat.document(doc_id)
        assert entry is not None
        assert [c.chunk_index for c in entry.chunks] == list(range(len(entry.chunks)))
        for c in entry.chunks:
            _doc, text, _title, _date = state.chroma[c.chunk_id]
            assert c.end_char - c.start_char == len(text)
            assert (c.page is not None) == (doc_id == "gamma")


def test_file_report_for_new_changed_and_unchanged_files(
    tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report has one entry per ingested file; an unchanged file's entry comes from the
    stored catalogue (the file is not parsed again) and equals the first report's."""
    index, corpus = tmp_path / "index", write_corpus(tmp_path / "corpus", 1)
    a = _open(index, embedder)
    real = ingest_module.load_document

    def with_figures(path: Path, *args: Any, **kwargs: Any) -> Any:
        """The real loader; the PDF reports figures a scanned file would (what OCR'd loaders fill)."""
        doc = real(path, *args, **kwargs)
        if path.suffix == ".pdf":
            doc.tables, doc.ocr_pages, doc.warnings = 1, [2], ["page 2 was read by OCR"]
        return doc

    monkeypatch.setattr(ingest_module, "load_document", with_figures)
    first = a.ingest(corpus)
    chunks = {d: len(ids) for d, ids in index_state(index).doc_chunks().items()}
    assert [
        (Path(f.path).name, f.pages, f.chunks, f.tables, f.ocr_pages, f.warnings) for f in first.files
    ] == [
        ("alpha.txt", None, chunks["alpha"], 0, [], []),
        ("beta.md", None, chunks["beta"], 0, [], []),
        ("gamma.pdf", 2, chunks["gamma"], 1, [2], ["page 2 was read by OCR"]),
    ]
    assert all(Path(f.path).parent == corpus for f in first.files)

    def must_not_parse(path: Path, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{path.name} was parsed again")

    monkeypatch.setattr(ingest_module, "load_document", must_not_parse)
    again = a.ingest(corpus)
    assert again.unchanged == 3 and again.chunks_written == 0
    assert again.files == first.files
    assert again.to_dict()["files"][2] == {
        "path": str(corpus / "gamma.pdf"),
        "pages": 2,
        "chunks": chunks["gamma"],
        "tables": 1,
        "ocr_pages": [2],
        "warnings": ["page 2 was read by OCR"],
    }

    monkeypatch.setattr(ingest_module, "load_document", real)
    write_corpus(corpus, 2)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not a real PDF")
    update = a.ingest(corpus)
    names = [Path(f.path).name for f in update.files]
    assert names == ["alpha.txt", "delta.txt", "gamma.pdf"], "failed files are in .failed, not .files"
    assert [Path(f.path).name for f in update.failed] == ["broken.pdf"]
    gamma = update.files[2]
    assert (gamma.tables, gamma.ocr_pages) == (1, [2]), "an unchanged file keeps its stored figures"
    chunks = {d: len(ids) for d, ids in index_state(index).doc_chunks().items()}
    assert [f.chunks for f in update.files] == [chunks["alpha"], chunks["delta"], chunks["gamma"]]


def test_index_without_a_catalogue_still_opens_and_gets_one(tmp_path: Path, embedder: Any) -> None:
    """An index written before the catalogue existed (its snapshot has none): documents() are
    derived from the BM25 snapshot, and the next ingest writes the catalogue without embedding."""
    index, corpus = tmp_path / "index", write_corpus(tmp_path / "corpus", 1)
    assert _open(index, embedder).ingest(corpus).ok
    expected = _open(index, embedder).documents()
    written = (index / "bm25" / CATALOGUE_FILE).read_text(encoding="utf-8")
    old = tmp_path / "old"
    shutil.copytree(index, old, symlinks=True)
    (old / "bm25" / CATALOGUE_FILE).unlink()

    a = _open(old, embedder)
    assert a.documents() == expected
    report = a.ingest(corpus)
    assert (report.unchanged, report.chunks_written) == (3, 0)
    assert (old / "bm25" / CATALOGUE_FILE).read_text(encoding="utf-8") == written
    assert a.documents() == expected
    index_state(old).assert_equals_clean(index_state(index), "catalogue written on the next ingest")


def test_a_file_renamed_to_another_format_is_read_again(tmp_path: Path, embedder: Any) -> None:
    """Same bytes, same doc_id, another suffix: the other loader reads it (no stale reuse), and
    the report and catalogue name the new file."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    note = "# Vostok smelter note\n\nThe **Vostok** smelter shipped 40 tonnes of holmium in 2021.\n"
    (corpus / "note.txt").write_text(note, encoding="utf-8")
    a = _open(index, embedder)
    assert a.ingest(corpus).added == 1
    assert any("**Vostok**" in text for (_d, text, _t, _dt) in index_state(index).chroma.values())
    (corpus / "note.txt").rename(corpus / "note.md")
    report = a.ingest(corpus)
    assert (report.updated, report.unchanged) == (1, 0)
    assert [Path(f.path).name for f in report.files] == ["note.md"]
    texts = [text for (_d, text, _t, _dt) in index_state(index).chroma.values()]
    assert texts and not any("**" in t or "#" in t for t in texts), texts
    entry = Catalogue.load(index).document("note")
    assert entry is not None and entry.figures.file == "note.md"
