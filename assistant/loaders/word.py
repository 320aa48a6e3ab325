"""Word files (``.docx``, python-docx): paragraphs and headings in document order, tables as rows
with their headers. Pages come from the page breaks Word recorded when it last laid the document
out (``lastRenderedPageBreak``), or else from hard page and section breaks; a document holding
neither has no page numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.loaders.base import TABLE, Extracted, LoadError, TextBuilder
from assistant.loaders.cleaning import normalise_chars
from assistant.loaders.tables import grid_lines


def _breaks(paragraph: Any, rendered: bool) -> tuple[int, int]:
    """Page breaks before and after the text of one ``w:p`` element."""
    from docx.oxml.ns import qn

    before = after = 0
    seen_text = False
    for el in paragraph.iter():
        if el.tag == qn("w:t") and (el.text or "").strip():
            seen_text = True
            continue
        if rendered:
            hit = el.tag == qn("w:lastRenderedPageBreak")
        else:
            hit = (el.tag == qn("w:br") and el.get(qn("w:type")) == "page") or el.tag == qn(
                "w:pageBreakBefore"
            )
            if el.tag == qn("w:sectPr"):  # a section break starts a new page unless "continuous"
                kind = el.find(qn("w:type"))
                if kind is None or kind.get(qn("w:val")) != "continuous":
                    after += 1
                continue
        if hit:
            if seen_text:
                after += 1
            else:
                before += 1
    return before, after


def _table_grid(table: Any) -> list[list[str | None]]:
    grid: list[list[str | None]] = []
    for row in table.rows:
        cells: list[str | None] = []
        row_cells = row.cells
        i = 0
        while i < len(row_cells):
            cell = row_cells[i]
            span = max(1, cell.grid_span)
            cells.append(cell.text)
            cells.extend([None] * (span - 1))  # a merged cell spans the next grid columns
            i += span
        grid.append(cells)
    return grid


def load_docx(path: Path) -> Extracted:
    """Read a ``.docx`` file (see the module docstring)."""
    import docx
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises zip, XML and package errors of many kinds
        raise LoadError(
            f"not a readable Word .docx file ({type(exc).__name__}: {str(exc).strip()[:200]}); "
            "open it in Word or LibreOffice and save it as .docx again"
        ) from exc
    body = document.element.body
    rendered = bool(body.findall(".//" + qn("w:lastRenderedPageBreak")))
    paged = rendered or any(
        el.tag in (qn("w:pageBreakBefore"), qn("w:sectPr"))
        or (el.tag == qn("w:br") and el.get(qn("w:type")) == "page")
        for el in body.iter(qn("w:br"), qn("w:pageBreakBefore"), qn("w:sectPr"))
        if el.getparent() is not body  # the body's own final sectPr closes the last page
    )
    builder = TextBuilder()
    page = 1
    lines: list[str] = []
    tables = 0

    def flush() -> None:
        builder.add("\n".join(lines), page if paged else None)
        lines.clear()

    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            before, after = _breaks(child, rendered) if paged else (0, 0)
            if before:
                flush()
                page += before
            text = normalise_chars(Paragraph(child, document).text).strip()
            if text:
                lines.append(" ".join(text.split()))
            if after:
                flush()
                page += after
        elif child.tag == qn("w:tbl"):
            flush()
            rows = grid_lines(_table_grid(Table(child, document)))
            if rows:
                tables += 1
                builder.add("\n".join(normalise_chars(r) for r in rows), page if paged else None, TABLE)
            if rendered:
                page += len(child.findall(".//" + qn("w:lastRenderedPageBreak")))
    flush()
    title = (document.core_properties.title or "").strip() or None
    return Extracted(
        builder.text, builder.sections, pages=page if paged else None, tables=tables, title=title
    )
