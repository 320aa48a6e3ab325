"""Loading and cleaning, without the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.chunking import chunk_document, count_tokens, sentence_spans
from assistant.loaders import LoadError, load_document, read_manifest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture(scope="module")
def docs():
    manifest = read_manifest(CORPUS)
    assert not manifest.warnings
    return {
        p.stem: load_document(p, CORPUS, manifest)
        for p in sorted(CORPUS.iterdir())
        if p.name != "manifest.yaml"
    }


def test_all_thirteen_documents_load_with_manifest_metadata(docs):
    assert len(docs) == 13
    usgs = docs["usgs_mcs2025_rare_earths"]
    assert usgs.metadata["publisher"].startswith("U.S. Geological Survey")
    assert usgs.metadata["date"] == "2025-01"


def test_web_boilerplate_is_removed(docs):
    text = docs["reex_china_two_rare_earth_bases"].text
    for junk in ("Spread the word", "CATEGORIES", "Leave a Reply", "required fields", "opens in a new tab"):
        assert junk.lower() not in text.lower()
    assert text.rstrip().endswith("China-dominated value chain.")


def test_markup_is_removed_from_markdown(docs):
    for doc_id, doc in docs.items():
        if doc_id.startswith("wh_"):
            for junk in ("<span", "</u>", "<sup>", "&nbsp;", "**", "<!--", "\u2060"):
                assert junk not in doc.text, (doc_id, junk)


def test_pdf_pages_headers_and_glued_footnotes(docs):
    usgs = docs["usgs_mcs2025_rare_earths"]
    assert sorted({s.page for s in usgs.sections}) == [1, 2] and usgs.pages == 2
    # table rows carry their column headers; footnote marks are not glued onto the figures
    assert "China — Mine production 2023: 255,000; 2024: 270,000; Reserves: 44,000,000" in usgs.text
    assert "Australia — Mine production 2023: 16,000; 2024: 13,000; Reserves: 5,700,000" in usgs.text
    assert (
        "Imports: Metals: Ferrocerium, alloys — 2020: 270; 2021: 330; 2022: 395; 2023: 259; 2024: 220"
        in usgs.text
    )
    assert usgs.tables == 4 and [s.kind for s in usgs.sections].count("table") == 4
    assert "14270,000" not in usgs.text and "\n145\n" not in usgs.text
    assert "RARE EARTHS" not in usgs.text  # the running header


def test_chunks_are_exact_spans_within_token_budget(docs):
    for doc in docs.values():
        chunks = chunk_document(doc.doc_id, doc.text, doc.sections, 200, 32)
        assert chunks
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert count_tokens(c.text) <= 220
        again = chunk_document(doc.doc_id, doc.text, doc.sections, 200, 32)
        assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]


def test_sentence_spans_keep_abbreviations():
    text = "The U.S. Department of Energy said so. Daniel J. Cordier wrote it. E.O. 14017 was signed."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "The U.S. Department of Energy said so.",
        "Daniel J. Cordier wrote it.",
        "E.O. 14017 was signed.",
    ]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"   \n\t\n", "no text"),
        ("binary.txt", b"\x00\x01\x02PNG\x00" * 50, "binary"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj <<>> garbage", "PDF"),
        ("notes.docx", b"PK\x03\x04", "not a readable Word .docx file"),
        ("deck.pptx", b"PK\x03\x04garbage", "not a readable PowerPoint .pptx file"),
        ("book.xlsx", b"not a zip", "not a readable Excel .xlsx file"),
        ("macro.docm", b"PK\x03\x04", "unsupported file type .docm"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load_document(tmp_path / name, tmp_path)


def test_legacy_encodings_are_decoded(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Café production in Québec rose.".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("Ærø produced ore.".encode("utf-16"))
    assert "Café" in load_document(tmp_path / "latin.txt", tmp_path).text
    assert "Ærø" in load_document(tmp_path / "utf16.txt", tmp_path).text


def test_malformed_manifest_entries_warn_but_do_not_stop(tmp_path):
    (tmp_path / "manifest.yaml").write_text(
        "documents:\n- file: a.txt\n  title: A\n  date: yesterday\n  colour: red\n- title: no file\n"
    )
    (tmp_path / "a.txt").write_text("First heading\n\nSome text here.")
    (tmp_path / "b.txt").write_text("Untitled report\n\nBody text.")
    m = read_manifest(tmp_path)
    assert any("date" in w for w in m.warnings) and any("colour" in w for w in m.warnings)
    assert any("'file'" in w for w in m.warnings)
    assert load_document(tmp_path / "a.txt", tmp_path, m).metadata["title"] == "A"
    assert load_document(tmp_path / "b.txt", tmp_path, m).metadata["title"] == "Untitled report"
