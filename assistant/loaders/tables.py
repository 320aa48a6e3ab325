"""Table rows as lines that carry their column headers, the same for every format.

A row becomes ``<row label> — <column header>: <value>; <column header>: <value>`` (empty cells
left out), for example ``Brazil — Mine production 2024: 20; Reserves: 21,000,000``: a question
naming the row and the column finds the cell, and a quote of the line says what the number
measures. Multi-row headers are joined top to bottom ("Mine production" over "2024"); a header
spanning several columns is stated once, before the first of them
(``Brazil — Mine production 2023: 140; 2024: 20; Reserves: 21,000,000``). A table without
headers keeps its cells in a plain line (``Brazil 140 20 21,000,000``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LABEL_SEP = " — "
CELL_SEP = "; "
_NUMBER = re.compile(
    r"[-–—−+±>≥<≤~≈$€£¥(]*\d[\d,.]*(?:%|[kKmMbB]n?)?\)?%?|[—–-]|n/?a|N/?A|W|E|\.\.|nil",
)
_YEAR = re.compile(r"(?:FY|CY|Q[1-4]|H[12])?\s?(?:19|20)\d\d(?:\s?[–-]\s?\d{2,4})?[a-z*]?", re.IGNORECASE)


def clean_cell(text: str | None) -> str:
    """One line of cell text: whitespace collapsed."""
    return re.sub(r"\s+", " ", text or "").strip()


def is_number(text: str) -> bool:
    """A cell holding only figures or a data mark: ``39,000``, ``>95``, ``5%``, ``—``, ``NA``."""
    tokens = text.split()
    return 0 < len(tokens) <= 3 and all(_NUMBER.fullmatch(t) for t in tokens)


def is_year(text: str) -> bool:
    """A column heading that is a year or period: ``2024``, ``FY 2025``, ``2020–23``."""
    return bool(_YEAR.fullmatch(text.strip()))


def _label(text: str) -> str:
    # a label or heading ending in "." would end a sentence before " — " and split the row
    return clean_cell(text).rstrip(".").rstrip()


Name = tuple[str, ...]  # a column's header cells, top to bottom


def name_of(parts: Sequence[str]) -> Name:
    """A column name from its header cells, top to bottom: cleaned, empty and repeated cells
    (a merged header reads in each row it spans) left out."""
    out: list[str] = []
    for part in parts:
        cell = _label(part)
        if cell and (not out or out[-1] != cell):
            out.append(cell)
    return tuple(out)


def column_names(header_rows: Sequence[Sequence[str]], width: int) -> list[Name]:
    """Per column, its header cells top to bottom."""
    return [name_of([row[col] if col < len(row) else "" for row in header_rows]) for col in range(width)]


def row_line(label: str, names: Sequence[Name], values: Sequence[str]) -> str:
    """One row as a line: ``label — name: value; name: value`` (see the module docstring)."""
    label = _label(label)
    values = [clean_cell(v) for v in values]
    if not any(names):
        return " ".join(x for x in (label, *values) if x)
    pairs: list[str] = []
    shown: Name = ()
    for name, value in zip(names, values, strict=False):
        if not value:
            continue
        shared = 0  # leading header cells stated by the column before (a spanning header)
        while shared < min(len(name), len(shown)) and name[shared] == shown[shared]:
            shared += 1
        if shared == len(name):  # the same name again: say it
            shared = 0
        text = " ".join(name[shared:])
        pairs.append(f"{text}: {value}" if text else value)
        shown = name
    if not pairs:
        return label
    body = CELL_SEP.join(pairs)
    return f"{label}{LABEL_SEP}{body}" if label else body


def is_row_line(line: str) -> bool:
    """Whether ``line`` reads as :func:`row_line` writes a labelled row: a label, then cells
    ``name: value`` of which most values are figures (``Kell — Output 2024: 3,100; Reserves: NA``)."""
    label, sep, body = line.strip().partition(LABEL_SEP)
    if not sep or not label or "\n" in line.strip():
        return False
    cells = [c.rpartition(": ") for c in body.split(CELL_SEP)]
    named = [value for name, colon, value in cells if colon and name]
    return sum(is_number(v) for v in named) >= max(1, 0.5 * len(cells))


def row_label(line: str) -> str:
    """The label of a line :func:`is_row_line` accepts ("Kell" of "Kell — Reserves: 60,000"), else ""."""
    return line.strip().partition(LABEL_SEP)[0] if is_row_line(line) else ""


def header_row_count(grid: Sequence[Sequence[str]], max_rows: int = 3) -> int:
    """Leading rows of ``grid`` that are headers: rows before the first row holding a figure
    (years count as headings), at most ``max_rows``. A table without figures has one header
    row (its first); a table whose first row holds figures has none."""
    count = 0
    for row in grid[:max_rows]:
        cells = [clean_cell(c) for c in row]
        if any(c and is_number(c) and not is_year(c) for c in cells):
            break
        count += 1
    if count == len(grid):  # no figures anywhere: the first row names the columns
        return 1 if len(grid) > 1 else 0
    return count


def grid_lines(
    grid: Sequence[Sequence[str | None]], max_header_rows: int = 3, header_line: bool = False
) -> list[str]:
    """The lines of a table given as cells (Word, PowerPoint, spreadsheets, CSV, ruled PDF
    tables): header rows found by :func:`header_row_count`, the first column as the row label.
    A ``None`` cell in a header row is part of a merged cell to its left. ``header_line``: the
    column names lead, once, as one line (for a file that is nothing but the table)."""
    raw = [list(row) for row in grid if any(clean_cell(c) for c in row)]
    if not raw:
        return []
    width = max(len(r) for r in raw)
    raw = [r + [""] * (width - len(r)) for r in raw]
    rows = [[clean_cell(c) for c in row] for row in raw]
    if width == 1:
        return [r[0] for r in rows]
    n_header = header_row_count(rows, max_header_rows)
    for raw_row, row in zip(raw[:n_header], rows[:n_header], strict=True):
        for c in range(1, width):
            if raw_row[c] is None:  # a merged header cell (None) spans the columns to its right
                row[c] = row[c - 1]
    names = column_names(rows[:n_header], width)
    lines = []
    if header_line and n_header:
        lines.append(CELL_SEP.join(" ".join(n) for n in names if n))
    elif n_header and not any(names[1:]):  # headers name no value column: keep them as they read
        lines += [" ".join(c for c in r if c) for r in rows[:n_header]]
    for row in rows[n_header:]:
        line = row_line(row[0], names[1:], row[1:])
        if line:
            lines.append(line)
    return lines
