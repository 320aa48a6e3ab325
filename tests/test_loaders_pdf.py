"""PDF reading order, tables, rotated and scanned pages, on PDFs the tests make (no model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from loader_files import (
    HEIGHT,
    MARGIN,
    WIDTH,
    Flow,
    borderless_table,
    scanned_pdf,
    text_pdf,
    three_columns,
    two_columns,
    wrap,
)

from assistant.chunking import chunk_document
from assistant.loaders import LoadError, load_document

PARAS = [
    "The river delta of Norland holds three small ports that ship grain, timber and copper ore to the "
    "southern coast every spring, when the ice has gone.",
    "In the survey year the harbour authority counted four hundred and twelve vessels, of which most were "
    "coastal barges carrying less than two hundred tonnes, and the busiest month was May.",
    "A new breakwater, finished late in the autumn, protects the inner basin from storms that used to "
    "close the port for a week at a time.",
    "Plans for a rail spur to the copper mines were approved by the regional council after a long debate "
    "about its cost and its route through the marsh.",
]
# the sentence that the two-column page (9 lines a column) breaks between its columns
CROSSING = PARAS[2]


def _load(path: Path):
    return load_document(path, path.parent)


def _flow_pdf(path: Path, columns, lines_per_column: int, paragraphs=PARAS):
    drawn: list[list[list[str]]] = []

    def draw(c, _n):
        drawn.append(Flow(c).set(paragraphs, columns, HEIGHT - MARGIN, lines_per_column))

    text_pdf(path, draw)
    return drawn[0]


def test_one_column_page_reads_paragraph_by_paragraph(tmp_path):
    _flow_pdf(tmp_path / "one.pdf", [(MARGIN, WIDTH - 2 * MARGIN)], 50)
    doc = _load(tmp_path / "one.pdf")
    assert doc.text == "\n".join(PARAS)
    assert doc.pages == 1 and doc.tables == 0 and not doc.warnings
    assert [(s.page, s.kind) for s in doc.sections] == [(1, None)]


def test_two_columns_read_column_by_column_and_a_sentence_crossing_the_break_stays_whole(tmp_path):
    cols = _flow_pdf(tmp_path / "two.pdf", two_columns(), 9)
    # the layout really breaks a sentence between the columns
    width = two_columns()[0][1]
    crossing = [p for p in PARAS if cols[0][-1] in wrap(p, width) and cols[1][0] in wrap(p, width)]
    assert len(cols) == 2 and crossing == [CROSSING]
    doc = _load(tmp_path / "two.pdf")
    assert doc.text == "\n".join(PARAS)
    assert CROSSING in doc.text.split("\n")


def test_three_columns_read_left_to_right(tmp_path):
    cols = _flow_pdf(tmp_path / "three.pdf", three_columns(), 9)
    assert len(cols) == 3
    assert _load(tmp_path / "three.pdf").text == "\n".join(PARAS)


def test_full_width_title_and_abstract_above_two_columns(tmp_path):
    abstract = (
        "Abstract: This note describes how the small harbours of a northern delta are used through the "
        "year, and what the new works will change for the barges that call there."
    )

    def draw(c, _n):
        c.setFont("Helvetica-Bold", 16)
        c.drawCentredString(WIDTH / 2, HEIGHT - MARGIN, "Harbours of the Norland Delta")
        c.setFont("Helvetica", 10)
        y = HEIGHT - MARGIN - 30
        for line in wrap(abstract, WIDTH - 2 * MARGIN):
            c.drawString(MARGIN, y, line)
            y -= 12.5
        Flow(c).set(PARAS, two_columns(), y - 20, 9)

    text_pdf(tmp_path / "paper.pdf", draw)
    doc = _load(tmp_path / "paper.pdf")
    assert doc.text == "\n".join(["Harbours of the Norland Delta", abstract, *PARAS])


def test_full_width_table_between_two_column_regions(tmp_path):
    above, below = PARAS[:2], PARAS[2:]

    def draw(c, _n):
        flow = Flow(c)
        flow.set(above, two_columns(), HEIGHT - MARGIN, 5)
        y = HEIGHT - MARGIN - 5 * 12.5 - 30
        y = borderless_table(
            c,
            y,
            [[(300, "Cargo 2023"), (390, "Cargo 2024"), (480, "Berths")]],
            [(0, "North quay", "1,250", "1,310", "4"), (0, "Salt pier", "860", "905", "2")],
        )
        flow.set(below, two_columns(), y - 30, 5)

    text_pdf(tmp_path / "mixed.pdf", draw)
    doc = _load(tmp_path / "mixed.pdf")
    table = [
        "North quay — Cargo 2023: 1,250; Cargo 2024: 1,310; Berths: 4",
        "Salt pier — Cargo 2023: 860; Cargo 2024: 905; Berths: 2",
    ]
    assert doc.text == "\n".join(above) + "\n\n" + "\n".join(table) + "\n\n" + "\n".join(below)
    assert [s.kind for s in doc.sections] == [None, "table", None]
    assert doc.tables == 1


def test_borderless_table_with_spanning_headers_groups_and_footnote_marks(tmp_path):
    def draw(c, _n):
        c.setFont("Helvetica", 10)
        c.drawString(MARGIN, HEIGHT - MARGIN, "Freight handled at the delta ports, in tonnes.")
        y = borderless_table(
            c,
            HEIGHT - MARGIN - 30,
            [[(320, "Handled"), (470, "Capacity")], [(300, "2023"), (390, "2024")]],
            [
                (0, "Inbound:"),
                (6, "Grain", "12,400", "13,050", "20,000"),
                (6, "Timber", "8,100", "7,950", "9,000"),
                (0, "Outbound:"),
                (6, "Copper ore", "31,000", "30,200", "40,000"),
                (0, "Total", "51,500", "51,200", "69,000"),
            ],
        )
        c.setFont("Helvetica", 6)  # a footnote mark glued to a figure, as in statistical tables
        c.drawString(330 + 90 - 26, y + 11.5 * 3 + 4, "3")

    text_pdf(tmp_path / "freight.pdf", draw)
    doc = _load(tmp_path / "freight.pdf")
    assert doc.text == "\n".join(
        [
            "Freight handled at the delta ports, in tonnes.",
            "",
            "Inbound: Grain — Handled 2023: 12,400; 2024: 13,050; Capacity: 20,000",
            "Inbound: Timber — Handled 2023: 8,100; 2024: 7,950; Capacity: 9,000",
            "Outbound: Copper ore — Handled 2023: 31,000; 2024: 30,200; Capacity: 40,000",
            "Total — Handled 2023: 51,500; 2024: 51,200; Capacity: 69,000",
        ]
    )


def test_ruled_table_rows_carry_their_headers(tmp_path):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    def draw(c, _n):
        c.setFont("Helvetica", 10)
        c.drawString(MARGIN, HEIGHT - MARGIN, "Table 2. Stocks held by the cooperative at year end.")
        table = Table(
            [["Product", "Stock 2024 (t)", "Buyers"], ["Rye", "1,200", "Mill of Oss"], ["Barley", "640", "—"]]
        )
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
        _w, h = table.wrapOn(c, WIDTH, HEIGHT)
        table.drawOn(c, MARGIN, HEIGHT - MARGIN - 20 - h)

    text_pdf(tmp_path / "ruled.pdf", draw)
    doc = _load(tmp_path / "ruled.pdf")
    assert doc.text == (
        "Table 2. Stocks held by the cooperative at year end.\n\n"
        "Rye — Stock 2024 (t): 1,200; Buyers: Mill of Oss\n"
        "Barley — Stock 2024 (t): 640; Buyers: —"
    )
    assert doc.tables == 1 and [s.kind for s in doc.sections] == [None, "table"]


@pytest.mark.parametrize("how", ["page-rotated", "text-turned"])
def test_rotated_page_reads_upright(tmp_path, how):
    lines = [*wrap(PARAS[0], 400), "", *wrap(PARAS[2], 400)]

    def draw(c, _n):
        c.setFont("Helvetica", 10)
        if how == "text-turned":  # landscape text drawn sideways on a portrait page
            c.translate(WIDTH - MARGIN, MARGIN)
            c.rotate(90)
        y = 0 if how == "text-turned" else HEIGHT - MARGIN
        for line in lines:
            y -= 6 if not line else 0
            if line:
                c.drawString(MARGIN if how == "page-rotated" else 0, y, line)
                y -= 12.5

    text_pdf(tmp_path / "rot.pdf", draw, rotation=90 if how == "page-rotated" else 0)
    import pdfplumber

    with pdfplumber.open(str(tmp_path / "rot.pdf")) as pdf:  # the text really is sideways
        assert not pdf.pages[0].chars[0]["upright"]
    assert _load(tmp_path / "rot.pdf").text == PARAS[0] + "\n" + PARAS[2]


def test_running_headers_page_numbers_and_hyphenation_across_pages(tmp_path):
    def page_lines(n: int) -> tuple[list[str], list[str]]:
        # every line differs from page to page (a line repeated at the top of most pages is a header)
        trade, word = TRADES[n - 1], COLUMN_WORDS[n - 1]
        left = [
            f"The {trade} trade is the subject of this page,",
            f"which the {word} survey of the delta describes",
            f"in some detail, and its {word} long sentence",
            "runs down the column until it ends in the sec-",
        ]
        right = [
            f"ond column of the page, after the {word} break,",
            f"where the {trade} figures of the survey follow",
            f"in a few more lines of text about the {trade}",
            f"shipped from the three ports of the {word} part.",
        ]
        return left, right

    def draw(c, n):
        c.setFont("Helvetica", 9)
        c.drawString(MARGIN, HEIGHT - 40, "Delta Harbour Survey")
        c.drawCentredString(WIDTH / 2, 40, str(n))
        c.setFont("Helvetica", 10)
        for (x, _w), lines in zip(two_columns(), page_lines(n), strict=True):
            for k, line in enumerate(lines):
                c.drawString(x, HEIGHT - MARGIN - k * 12.5, line)

    text_pdf(tmp_path / "pages.pdf", draw, pages=3)
    doc = _load(tmp_path / "pages.pdf")
    assert [s.page for s in doc.sections] == [1, 2, 3]
    expected = []
    for n in (1, 2, 3):
        left, right = page_lines(n)
        expected.append(" ".join(left)[:-1] + " ".join(right))  # "sec-" + "ond" = "second"
    assert doc.text.split("\n\n") == expected
    assert "second column" in expected[0]


TRADES = ("copper", "timber", "grain")
COLUMN_WORDS = ("first", "second", "third")


# --------------------------------------------------------------------------- scanned pages

SCAN = [
    "Minutes of the harbour board meeting held on the fourth of March.",
    "The board agreed to dredge the inner basin before the grain season begins.",
]


def test_scanned_page_is_read_by_ocr(tmp_path):
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract is not installed: run `make ocr-deps` (make install does)")
    path = scanned_pdf(tmp_path / "scan.pdf", tmp_path, SCAN)
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:  # no text layer at all
        assert not pdf.pages[0].chars
    doc = _load(path)
    assert doc.text == "\n".join(SCAN)
    assert doc.ocr_pages == [1] and [(s.page, s.kind) for s in doc.sections] == [(1, "ocr")]
    chunks = chunk_document(doc.doc_id, doc.text, doc.sections)
    assert chunks and all(c.kind == "ocr" for c in chunks)


def test_without_tesseract_a_scan_is_refused_and_a_mixed_file_warns(tmp_path, monkeypatch):
    scan = scanned_pdf(tmp_path / "scan.pdf", tmp_path, SCAN)
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))  # tesseract cannot be found
    with pytest.raises(
        LoadError, match=r"no text layer on page 1: install tesseract-ocr to read scanned pages"
    ):
        _load(scan)

    from pypdf import PdfReader, PdfWriter

    _flow_pdf(tmp_path / "text.pdf", [(MARGIN, WIDTH - 2 * MARGIN)], 50)
    writer = PdfWriter()
    for part in ("text.pdf", "scan.pdf", "scan.pdf"):
        writer.add_page(PdfReader(str(tmp_path / part)).pages[0])
    with (tmp_path / "mixed.pdf").open("wb") as fh:
        writer.write(fh)
    doc = _load(tmp_path / "mixed.pdf")
    assert doc.text == "\n".join(PARAS) and doc.pages == 3
    assert doc.warnings == ["no text layer on pages 2-3: install tesseract-ocr to read scanned pages"]


def test_blank_pages_are_reported(tmp_path):
    def draw(c, n):
        if n == 2:
            c.setFont("Helvetica", 10)
            c.drawString(MARGIN, HEIGHT - MARGIN, "Only the second page has text.")

    text_pdf(tmp_path / "blank.pdf", draw, pages=3)
    doc = _load(tmp_path / "blank.pdf")
    assert doc.text == "Only the second page has text."
    assert doc.warnings == ["2 pages had no text (pages 1, 3)"]


def test_table_inside_one_column_beside_prose(tmp_path):
    (left_x, width), (right_x, _w) = two_columns()
    left = wrap(" ".join(PARAS[:2]), width)
    right_above = wrap(PARAS[2], width)
    right_below = wrap(PARAS[3], width)

    def draw(c, _n):
        c.setFont("Helvetica", 10)
        top = HEIGHT - MARGIN
        for k, line in enumerate(left):
            c.drawString(left_x, top - k * 12.5, line)
        y = top
        for line in right_above:
            c.drawString(right_x, y, line)
            y -= 12.5
        y -= 8
        c.setFont("Helvetica", 9)
        c.drawString(right_x + 90, y, "Barges")
        c.drawString(right_x + 160, y, "Tonnes")
        for label, barges, tonnes in (("North quay", "212", "31,400"), ("Salt pier", "96", "12,050")):
            y -= 11.5
            c.drawString(right_x, y, label)
            c.drawRightString(right_x + 122, y, barges)
            c.drawRightString(right_x + 200, y, tonnes)
        y -= 20
        c.setFont("Helvetica", 10)
        for line in right_below:
            c.drawString(right_x, y, line)
            y -= 12.5

    text_pdf(tmp_path / "inset.pdf", draw)
    doc = _load(tmp_path / "inset.pdf")
    assert doc.text == "\n\n".join(
        [
            "\n".join([PARAS[0] + " " + PARAS[1], PARAS[2]]),
            "North quay — Barges: 212; Tonnes: 31,400\nSalt pier — Barges: 96; Tonnes: 12,050",
            PARAS[3],
        ]
    )


def test_justified_two_column_paper_laid_out_in_frames(tmp_path):
    """A paper as typesetting tools make it: justified, indented paragraphs flowing through
    frames, a full-width title and abstract on the first page, two columns on every page."""
    from reportlab.lib.enums import TA_JUSTIFY
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        FrameBreak,
        NextPageTemplate,
        PageTemplate,
        Paragraph,
    )

    words = (
        "the port authority counted vessels barges grain timber copper harbour quay season river delta "
        "survey council marsh basin storm winter spring ice crew trade market price contract freight"
    ).split()

    def paragraph(n: int, seed: int) -> str:
        sentences = []
        for k in range(n):
            picked = [words[(seed * 7 + k * 5 + i * 3) % len(words)] for i in range(9 + (seed + k) % 7)]
            sentences.append(" ".join(picked).capitalize() + ".")
        return " ".join(sentences)

    paras = [paragraph(6, seed) for seed in range(12)]
    abstract = "Abstract. " + paragraph(4, 99)
    # paragraphs marked as typesetters do: by a first-line indent, no space between them
    body = ParagraphStyle(
        "body", fontName="Times-Roman", fontSize=10, leading=12, alignment=TA_JUSTIFY, firstLineIndent=12
    )
    title = ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=16, leading=20, alignment=1)
    margin, gutter = 54, 18
    col = (WIDTH - 2 * margin - gutter) / 2
    doc = BaseDocTemplate(str(tmp_path / "paper.pdf"))
    top = Frame(margin, HEIGHT - 200, WIDTH - 2 * margin, 140)
    first = [
        top,
        Frame(margin, margin, col, HEIGHT - 206 - margin),
        Frame(margin + col + gutter, margin, col, HEIGHT - 206 - margin),
    ]
    later = [
        Frame(margin, margin, col, HEIGHT - 2 * margin),
        Frame(margin + col + gutter, margin, col, HEIGHT - 2 * margin),
    ]
    doc.addPageTemplates([PageTemplate("first", frames=first), PageTemplate("later", frames=later)])
    story = [Paragraph("Harbours of a Northern Delta", title), Paragraph(abstract, body), FrameBreak()]
    doc.build([*story, NextPageTemplate("later"), *(Paragraph(p, body) for p in paras)])

    loaded = _load(tmp_path / "paper.pdf")
    assert loaded.pages == 2 and [s.page for s in loaded.sections] == [1, 2]
    # the paragraph running from page 1 into page 2 is split at the page (chunks never cross one)
    assert loaded.text.replace("\n\n", " ") == "\n".join(["Harbours of a Northern Delta", abstract, *paras])
