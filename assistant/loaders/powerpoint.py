"""PowerPoint files (``.pptx``, python-pptx): per slide its title, the text of its shapes top to
bottom, its tables as rows with their headers, and its speaker notes; the slide number is the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.loaders.base import TABLE, Extracted, LoadError, TextBuilder
from assistant.loaders.cleaning import normalise_chars
from assistant.loaders.tables import grid_lines


def _shapes(shapes: Any) -> Iterator[Any]:
    """Shapes top to bottom, left to right; the shapes inside a group in its place."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _text_lines(text: str) -> list[str]:
    return [" ".join(ln.split()) for ln in normalise_chars(text).split("\n") if ln.strip()]


def load_pptx(path: Path) -> Extracted:
    """Read a ``.pptx`` file (see the module docstring)."""
    from pptx import Presentation

    try:
        deck = Presentation(str(path))
    except Exception as exc:  # python-pptx raises zip, XML and package errors of many kinds
        raise LoadError(
            f"not a readable PowerPoint .pptx file ({type(exc).__name__}: {str(exc).strip()[:200]}); "
            "open it in PowerPoint or LibreOffice and save it as .pptx again"
        ) from exc
    builder = TextBuilder()
    tables = 0
    title: str | None = None
    slides = list(deck.slides)
    for number, slide in enumerate(slides, start=1):
        lines: list[str] = []
        heading = slide.shapes.title
        if heading is not None and heading.has_text_frame:
            lines += _text_lines(heading.text_frame.text)
            title = title or (" ".join(lines) or None)
        for shape in _shapes(slide.shapes):
            if heading is not None and shape.shape_id == heading.shape_id:
                continue
            if shape.has_table:
                builder.add("\n".join(lines), number)
                lines = []
                grid = [[None if c.is_spanned else c.text for c in row.cells] for row in shape.table.rows]
                rows = grid_lines(grid)
                if rows:
                    tables += 1
                    builder.add("\n".join(normalise_chars(r) for r in rows), number, TABLE)
            elif shape.has_text_frame:
                lines += _text_lines(shape.text_frame.text)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = _text_lines(slide.notes_slide.notes_text_frame.text)
            if notes:
                lines += [f"Notes: {notes[0]}", *notes[1:]]
        builder.add("\n".join(lines), number)
    return Extracted(builder.text, builder.sections, pages=len(slides), tables=tables, title=title)
