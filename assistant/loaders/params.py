"""The tunable numbers of PDF reading, in one place.

Lengths are in units of the page's body font size (the size that sets most of the page), so the
same numbers hold for a 9-point report and a 12-point memo.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PdfParams:
    """Thresholds of :mod:`assistant.loaders.pdf` and :mod:`assistant.loaders.pdf_layout`."""

    # footnote marks: characters under this share of the body size are dropped ("14" + "270,000")
    superscript_ratio: float = 0.72
    # words whose bottoms differ by less than this (x body size) sit on one row
    row_tolerance: float = 0.4
    # a horizontal gap wider than this (x body size) splits a row into segments: table cells or
    # column lines (word spaces are ~0.3, column gutters and table column gaps usually >= 1)
    segment_gap: float = 0.8
    # a column gutter: a gap that splits at least this many rows ...
    gutter_min_rows: int = 3
    # ... between segments of prose (median words on each side; table cells hold one or two) ...
    gutter_min_words: float = 3.0
    # ... whose left-hand lines mostly run up to it (share ending in the last quarter of their column)
    gutter_fill: float = 0.5
    # a line reaching this share of its column's width wraps into the next line
    wrap_fill: float = 0.7
    # a vertical step above this many usual line pitches ends a paragraph ...
    paragraph_gap: float = 1.3
    # ... and so does a line indented by this much (x its height) from its column's left edge
    paragraph_indent: float = 1.0
    # borderless tables: at least this many rows holding figures ...
    table_min_rows: int = 2
    # ... whose value cells hold at most this many words ...
    table_cell_words: int = 6
    # ... with at most this many header rows above them ...
    table_header_rows: int = 3
    # ... and rows at most this far apart (x body size)
    table_row_gap: float = 2.5
    # a label-only row inside a table (a group heading such as "Imports:") has at most this many words
    group_label_words: int = 12
    # a page with fewer characters than this and something drawn on it is a scanned page
    ocr_min_chars: int = 20
    # resolution of the page image given to Tesseract, and its language
    ocr_dpi: int = 300
    ocr_lang: str = "eng"
    # mean word confidence (0-100) under which an OCRed page gets a warning
    ocr_low_confidence: float = 60.0


PDF_PARAMS = PdfParams()
