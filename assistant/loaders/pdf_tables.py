"""Tables on PDF pages, as rows that carry their column headers (:mod:`assistant.loaders.tables`).

Ruled tables come from pdfplumber's table finder (``Page.find_tables``, lines strategy). Its text
strategy, meant for tables without rules, treats a whole page of prose as one table, so tables
set with white space only (statistical summaries, booktabs-style papers) are found here by hand:
a run of rows whose cells after the first hold figures, the column headers in the rows above it,
and group headings ("Imports:") whose deeper-indented rows they apply to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.loaders.params import PdfParams
from assistant.loaders.pdf_layout import Gutter, Row, Segment, TableBlock
from assistant.loaders.tables import clean_cell, grid_lines, is_number, is_year, name_of, row_line


def ruled_tables(page: Any, p: PdfParams) -> list[TableBlock]:
    """Tables drawn with rules, by pdfplumber's table finder."""
    out = []
    for table in page.find_tables():
        grid = table.extract()
        if len(grid) < 2 or max(len(r) for r in grid) < 2:
            continue
        lines = grid_lines(grid, p.table_header_rows)
        if lines:
            x0, top, x1, bottom = table.bbox
            out.append(TableBlock(x0, top, x1, bottom, lines))
    return out


def _is_data(row: Row, p: PdfParams, gutters: Sequence[Gutter] = ()) -> bool:
    """A table row: two or more cells, the ones after the first short, at least one a figure;
    not a line of prose in one column beside table cells in the next (a prose segment that runs
    up to a column gutter)."""
    segs = row.segments
    if row.table is not None or len(segs) < 2:
        return False
    if any(s.words > p.table_cell_words for s in segs[1:]):
        return False
    if not any(is_number(s.text) for s in segs[1:]):
        return False
    return not any(_column_line(s, g, p) for g in gutters for s in segs)


def _column_line(seg: Segment, g: Gutter, p: PdfParams) -> bool:
    return seg.x1 <= g.x1 and seg.words >= p.gutter_min_words and seg.x1 >= g.x0 - 0.25 * (g.x0 - seg.x0)


def _values(row: Row) -> list[Segment]:
    first = row.segments[0]
    return row.segments if is_number(first.text) or is_year(first.text) else row.segments[1:]


def _is_year_row(row: Row) -> bool:
    """Column headings that are years ("2020 2021 2022", "Salient statistics: 2023 2024")."""
    vals = _values(row)
    return bool(vals) and all(is_year(s.text) for s in vals)


def _is_label_only(row: Row, data: list[Row], body: float, p: PdfParams) -> bool:
    """A group heading or wrapped label inside a table: one short segment that starts in the
    table's label column."""
    segs = row.segments
    if row.table is not None or len(segs) != 1 or segs[0].words > p.group_label_words:
        return False
    body_rows = [r for r in data if not _is_year_row(r)]  # not the year headings above the table
    left = min((r.segments[0].x0 for r in body_rows), default=segs[0].x0)
    return left - body <= segs[0].x0 < _label_x1(data)


def _label_x1(data: list[Row]) -> float:
    labels = [r.segments[0] for r in data if r.segments[0] not in _values(r)]
    return max((s.x1 for s in labels), default=min(r.segments[0].x0 for r in data))


def find_tables(rows: list[Row], body: float, p: PdfParams, gutters: Sequence[Gutter] = ()) -> list[Row]:
    """``rows`` with every borderless table replaced by one row standing for it. With the page's
    column ``gutters``, a row that is a column's line of prose beside table cells is no table row
    (that table is found among the rows of its column)."""
    out: list[Row] = []
    i = 0
    max_gap = p.table_row_gap * body
    while i < len(rows):
        if not _is_data(rows[i], p, gutters):
            out.append(rows[i])
            i += 1
            continue
        last = j = i
        while j + 1 < len(rows) and rows[j + 1].top - rows[j].bottom <= max_gap:
            nxt = rows[j + 1]
            if _is_data(nxt, p, gutters):
                last = j = j + 1
            elif _is_label_only(nxt, [r for r in rows[i : j + 1] if _is_data(r, p)], body, p):
                j += 1
            else:
                break
        members = rows[i : last + 1]
        k = 0
        while k < len(members) and _is_data(members[k], p) and _is_year_row(members[k]):
            k += 1
        header, body_rows = members[:k], members[k:]
        data = [r for r in body_rows if _is_data(r, p)]
        if len(data) < p.table_min_rows:
            out.append(rows[i])
            i += 1
            continue
        label_x1 = _label_x1(data)
        above: list[Row] = []
        nxt_top = members[0].top
        while out and len(above) + len(header) < p.table_header_rows:
            cand = out[-1]
            if cand.table is not None or nxt_top - cand.bottom > max_gap or not _is_header(cand, label_x1, p):
                break
            above.insert(0, out.pop())
            nxt_top = cand.top
        out.append(Row.of_table(_build(above + header, body_rows, label_x1, body, p)))
        i = last + 1
    return out


def _is_header(row: Row, label_x1: float, p: PdfParams) -> bool:
    segs = row.segments
    if any(s.words > p.table_cell_words for s in segs):
        return False
    return len(segs) >= 2 or segs[0].x0 >= label_x1


def _columns(data: list[Row]) -> list[tuple[float, float]]:
    """Value columns: the union of overlapping value-cell extents over the table's rows."""
    spans = sorted((s.x0, s.x1) for r in data for s in _values(r))
    cols: list[list[float]] = []
    for x0, x1 in spans:
        if cols and x0 <= cols[-1][1]:
            cols[-1][1] = max(cols[-1][1], x1)
        else:
            cols.append([x0, x1])
    return [(a, b) for a, b in cols]


def _distance(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, max(a0, b0) - min(a1, b1))


def _column_of(seg: Segment, cols: list[tuple[float, float]]) -> int:
    return min(
        range(len(cols)), key=lambda c: _distance(seg.x0, seg.x1, *cols[c]) - 1e-3 * _overlap(seg, cols[c])
    )


def _overlap(seg: Segment, col: tuple[float, float]) -> float:
    return max(0.0, min(seg.x1, col[1]) - max(seg.x0, col[0]))


def _build(header: list[Row], body_rows: list[Row], label_x1: float, body: float, p: PdfParams) -> TableBlock:
    data = [r for r in body_rows if _is_data(r, p)]
    cols = _columns(data)
    first_x0 = cols[0][0]
    # column names: per header row, the nearest header cell over each column (a heading centred
    # over two columns names both; one over a distant column names nothing there)
    names: list[list[str]] = [[] for _ in cols]
    label_header: list[str] = []
    # a column spans its figures and the header cells standing over it alone ("disposals" over "—")
    wide = list(cols)
    for hrow in reversed(header):
        for s in hrow.segments:
            over = [c for c, col in enumerate(wide) if _overlap(s, col) > 0]
            if len(over) == 1:
                c = over[0]
                wide[c] = (min(wide[c][0], s.x0), max(wide[c][1], s.x1))
    split = (min(label_x1, first_x0) + first_x0) / 2  # header cells left of it head the labels
    for hrow in header:
        cells = [s for s in hrow.segments if (s.x0 + s.x1) / 2 >= split]
        label_header += [s.text for s in hrow.segments if (s.x0 + s.x1) / 2 < split]
        if not cells:
            continue
        for c, (c0, c1) in enumerate(wide):
            cell = min(cells, key=lambda s: _distance(s.x0, s.x1, c0, c1))
            reach = max(0.5 * ((cell.x1 - cell.x0) + (c1 - c0)), 1.5 * body)
            if _distance(cell.x0, cell.x1, c0, c1) <= reach:
                names[c].append(cell.text)
    col_names = [name_of(parts) for parts in names]
    lines: list[str] = []
    if label_header:
        lines.append(clean_cell(" ".join(label_header)))
    indent = 0.3 * body
    groups: list[tuple[float, str]] = []  # group headings in force, outermost first
    for n, row in enumerate(body_rows):
        if not _is_data(row, p):
            seg = row.segments[0]
            following = next((r for r in body_rows[n + 1 :] if _is_data(r, p)), None)
            while groups and groups[-1][0] >= seg.x0 - indent:
                groups.pop()
            if following is not None and following.segments[0].x0 > seg.x0 + indent:
                groups.append((seg.x0, clean_cell(seg.text)))
            else:
                lines.append(clean_cell(seg.text))
            continue
        first = row.segments[0]
        while groups and groups[-1][0] >= first.x0 - indent:
            groups.pop()
        values = _values(row)
        label = " ".join([g for _x, g in groups] + ([] if first in values else [first.text]))
        cells = [""] * len(cols)
        for seg in values:
            c = _column_of(seg, cols)
            cells[c] = f"{cells[c]} {seg.text}".strip()
        lines.append(row_line(label, col_names, cells))
    segs = [s for r in header + body_rows for s in r.segments]
    return TableBlock(
        min(s.x0 for s in segs),
        min(s.top for s in segs),
        max(s.x1 for s in segs),
        max(s.bottom for s in segs),
        lines,
    )
