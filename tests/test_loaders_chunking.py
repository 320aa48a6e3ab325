"""How the chunker treats table rows, pages and OCR text (no model)."""

from __future__ import annotations

from assistant.chunking import chunk_document, count_tokens
from assistant.loaders import OCR, TABLE, Section
from assistant.loaders.base import TextBuilder
from assistant.loaders.tables import grid_lines, row_line


def _rows(n: int) -> list[str]:
    return [
        row_line(
            f"Port number {i}",
            [("Cargo", "2023"), ("Cargo", "2024"), ("Berths",)],
            [f"{i},250", f"{i},310", "4"],
        )
        for i in range(n)
    ]


def test_row_line_states_a_spanning_header_once():
    assert row_line(
        "Brazil", [("Output", "2023"), ("Output", "2024"), ("Stocks",)], ["140", "20", "21,000"]
    ) == ("Brazil — Output 2023: 140; 2024: 20; Stocks: 21,000")
    assert (
        row_line("Brazil", [("Output", "2023"), ("Output", "2024")], ["", "20"]) == "Brazil — Output 2024: 20"
    )
    assert (
        row_line("Brazil", [(), ()], ["140", "20"]) == "Brazil 140 20"
    )  # no headers: the cells as they read


def test_grid_headers_are_the_rows_before_the_first_figures():
    grid = [["", "Output", None], ["Port", "2023", "2024"], ["North quay", "1,250", "1,310"]]
    assert grid_lines(grid) == ["North quay — Output 2023: 1,250; 2024: 1,310"]
    assert grid_lines([["North quay", "1,250"], ["Salt pier", "860"]]) == [
        "North quay 1,250",
        "Salt pier 860",
    ]


def test_table_chunks_hold_whole_rows_and_share_none():
    builder = TextBuilder()
    builder.add("The ports report their cargo every year.", 3)
    builder.add("\n".join(_rows(30)), 3, TABLE)
    text, sections = builder.text, builder.sections
    chunks = chunk_document("d", text, sections, chunk_tokens=120, overlap_tokens=32)
    rows = set(_rows(30))
    seen: list[str] = []
    for c in chunks:
        assert c.page == 3 and c.tokens <= 120 and text[c.start : c.end] == c.text
        lines = c.text.split("\n")
        table_lines = [ln for ln in lines if ln in rows]
        assert table_lines == [ln for ln in lines if ln.startswith("Port number")]  # no row cut
        seen += table_lines
        assert c.kind == (TABLE if table_lines else None)
    assert seen == _rows(30)  # every row once, in order: no overlap between table chunks


def test_a_table_that_fits_in_a_chunk_is_not_split():
    builder = TextBuilder()
    builder.add(" ".join(f"Sentence {i} about the harbour and its quays." for i in range(12)), 1)
    table = "\n".join(_rows(3))
    builder.add(table, 1, TABLE)
    chunks = chunk_document("d", builder.text, builder.sections, chunk_tokens=150, overlap_tokens=0)
    prose = count_tokens(builder.text[: builder.sections[1].start])
    assert prose < 150 < prose + count_tokens(table)  # packing rows after the prose would split it
    holding = [c for c in chunks if any(row in c.text for row in _rows(3))]
    assert [c.text for c in holding] == [table] and holding[0].kind == TABLE


def test_an_over_long_row_is_cut_between_cells():
    row = row_line("Port", [(f"Column {i}",) for i in range(60)], [f"{i},000" for i in range(60)])
    text = row
    chunks = chunk_document("d", text, [Section(0, len(text), 1, TABLE)], chunk_tokens=100, overlap_tokens=0)
    assert len(chunks) > 1
    for c in chunks:
        assert c.tokens <= 100
        assert c.text.startswith(("Port — Column 0", "Column")) and not c.text.endswith(";")
    assert "; ".join(c.text for c in chunks) == text


def test_chunks_never_cross_pages_and_ocr_pages_are_marked():
    builder = TextBuilder()
    builder.add("Text on the first page.", 1)
    builder.add("Text read from a scanned second page.", 2, OCR)
    chunks = chunk_document("d", builder.text, builder.sections)
    assert [(c.text, c.page, c.kind) for c in chunks] == [
        ("Text on the first page.", 1, None),
        ("Text read from a scanned second page.", 2, OCR),
    ]


def test_three_element_sections_still_work():
    text = "One sentence. Another sentence."
    chunks = chunk_document("d", text, [(0, len(text), None)])
    assert [c.text for c in chunks] == [text] and chunks[0].kind is None
