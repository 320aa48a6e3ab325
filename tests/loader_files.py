"""Documents the loader tests make: PDF pages laid out in columns (reportlab), tables, rotated and
scanned pages, and Office files (python-docx, python-pptx, openpyxl). All text is made up."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

FONT = "Helvetica"
WIDTH, HEIGHT = letter
MARGIN = 72.0


def wrap(text: str, width: float, size: float = 10, font: str = FONT) -> list[str]:
    """Greedy line breaking of ``text`` into lines no wider than ``width`` points."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and stringWidth(trial, font, size) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    if line:
        lines.append(line)
    return lines


class Flow:
    """Paragraphs set line by line into columns, filling each column before the next.

    ``columns`` are ``(x, width)``; every column starts at ``top`` and holds ``lines_per_column``
    lines (a paragraph break costs half a line of space and no line).
    """

    def __init__(self, c: canvas.Canvas, size: float = 10, leading: float = 12.5) -> None:
        self.c, self.size, self.leading = c, size, leading

    def set(
        self,
        paragraphs: Sequence[str],
        columns: Sequence[tuple[float, float]],
        top: float,
        lines_per_column: int,
    ) -> list[list[str]]:
        """Draw the paragraphs; returns the lines of each column as drawn."""
        width = min(w for _x, w in columns)
        items: list[str | None] = []
        for n, para in enumerate(paragraphs):
            if n:
                items.append(None)
            items.extend(wrap(para, width, self.size))
        drawn: list[list[str]] = []
        col, y, count = 0, top, 0
        self.c.setFont(FONT, self.size)
        for item in items:
            if count == lines_per_column:
                col, y, count = col + 1, top, 0
            if col == len(drawn):
                drawn.append([])
            if item is None:
                if count:
                    y -= self.leading / 2
                continue
            x, _w = columns[col]
            self.c.drawString(x, y, item)
            drawn[col].append(item)
            y -= self.leading
            count += 1
        return drawn


def text_pdf(path: Path, draw: Any, pages: int = 1, rotation: int = 0) -> Path:
    """A PDF of ``pages`` pages; ``draw(canvas, page_number)`` draws each page."""
    c = canvas.Canvas(str(path), pagesize=letter)
    for n in range(1, pages + 1):
        c.setPageRotation(rotation)
        draw(c, n)
        c.showPage()
    c.save()
    return path


def two_columns() -> list[tuple[float, float]]:
    gutter = 24.0
    w = (WIDTH - 2 * MARGIN - gutter) / 2
    return [(MARGIN, w), (MARGIN + w + gutter, w)]


def three_columns() -> list[tuple[float, float]]:
    gutter = 18.0
    w = (WIDTH - 2 * MARGIN - 2 * gutter) / 3
    return [(MARGIN + i * (w + gutter), w) for i in range(3)]


def borderless_table(
    c: canvas.Canvas, top: float, header: Sequence[Sequence[tuple[float, str]]], rows: Sequence[Sequence[Any]]
) -> float:
    """A table set with white space only: header rows of ``(x, text)`` cells, then rows of
    ``(indent, label, value, value...)`` with values right-aligned at fixed columns."""
    size, leading = 9, 11.5
    y = top
    c.setFont(FONT, size)
    for cells in header:
        for x, text in cells:
            c.drawString(x, y, text)
        y -= leading
    for indent, label, *values in rows:
        c.drawString(MARGIN + indent, y, label)
        for n, value in enumerate(values):
            c.drawRightString(330 + n * 90, y, value)
        y -= leading
    return y


def scanned_pdf(path: Path, tmp: Path, paragraphs: Sequence[str], dpi: int = 200) -> Path:
    """A scanned page: ``paragraphs`` typeset, rendered to an image, wrapped as an image-only PDF."""
    import pdfplumber
    from reportlab.lib.utils import ImageReader

    source = tmp / "typeset.pdf"

    def draw(c: canvas.Canvas, _n: int) -> None:
        y = HEIGHT - MARGIN
        c.setFont(FONT, 14)
        for para in paragraphs:
            for line in wrap(para, WIDTH - 2 * MARGIN, 14):
                c.drawString(MARGIN, y, line)
                y -= 19
            y -= 12

    text_pdf(source, draw)
    with pdfplumber.open(str(source)) as pdf:
        image = pdf.pages[0].to_image(resolution=dpi).original.convert("L")
    c = canvas.Canvas(str(path), pagesize=letter)
    c.drawImage(ImageReader(image), 0, 0, WIDTH, HEIGHT)
    c.showPage()
    c.save()
    return path


# --------------------------------------------------------------------------- Office files


def docx_file(path: Path, blocks: Sequence[Any]) -> Path:
    """A Word file; ``blocks``: ``("heading", text)``, ``("para", text)``, ``("page-break",)``,
    ``("table", rows)`` (the first row is the header)."""
    import docx

    document = docx.Document()
    for block in blocks:
        if block[0] == "heading":
            document.add_heading(block[1], level=1)
        elif block[0] == "para":
            document.add_paragraph(block[1])
        elif block[0] == "page-break":
            document.add_page_break()
        elif block[0] == "table":
            rows = block[1]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for col, value in enumerate(row):
                    table.cell(r, col).text = value
    document.save(str(path))
    return path


def pptx_file(path: Path, slides: Sequence[dict[str, Any]]) -> Path:
    """A PowerPoint file; each slide ``{"title", "bullets": [...], "table": rows, "notes"}``."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for spec in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
        slide.shapes.title.text = spec["title"]
        top = 1.6
        if spec.get("bullets"):
            box = slide.shapes.add_textbox(Inches(0.8), Inches(top), Inches(8), Inches(1.5))
            box.text_frame.text = spec["bullets"][0]
            for bullet in spec["bullets"][1:]:
                box.text_frame.add_paragraph().text = bullet
            top += 1.8
        if spec.get("table"):
            rows = spec["table"]
            shape = slide.shapes.add_table(
                len(rows), len(rows[0]), Inches(0.8), Inches(top), Inches(8), Inches(2)
            )
            for r, row in enumerate(rows):
                for col, value in enumerate(row):
                    shape.table.cell(r, col).text = value
        if spec.get("notes"):
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    deck.save(str(path))
    return path


def xlsx_file(path: Path, sheets: Sequence[tuple[str, Sequence[Sequence[Any]], dict[str, str]]]) -> Path:
    """An Excel workbook; each sheet ``(name, rows, {column letter: number format})``."""
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows, formats in sheets:
        ws = workbook.create_sheet(name)
        for row in rows:
            ws.append(list(row))
        for letter_, fmt in formats.items():
            for cell in ws[letter_][1:]:
                cell.number_format = fmt
    workbook.save(str(path))
    return path
