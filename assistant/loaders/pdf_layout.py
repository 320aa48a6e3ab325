"""Reading order of a PDF page: rows of words, column gutters per region, column by column.

pdfplumber gives the characters and words with their boxes (``extract_words``), ruled tables
(``find_tables``) and 1-D clustering (``cluster_objects``); those are used. What neither it nor
pdfminer provides is written here by hand: pdfplumber's ``extract_text`` reads each row straight
across the page (two columns come out interleaved), and pdfminer's layout analysis (``LAParams``)
orders its text boxes by one page-wide heuristic (``boxes_flow``) with no notion of regions, so a
full-width title or table above or between columns is read out of place.

The model: words form *rows* (one baseline) and rows split into *segments* at wide gaps (a column
line, a table cell). A *gutter* is an x-strip that separates prose segments in many places on the
page. Consecutive rows that leave a gutter open form a *band* (a region of columns); a row that
crosses every gutter (a title, an abstract, a full-width table) is a band of its own. Bands are read
top to bottom, the columns of a band left to right, each column top to bottom.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.loaders.params import PdfParams


@dataclass
class Segment:
    """Words of one row with no wide gap between them."""

    x0: float
    x1: float
    top: float
    bottom: float
    text: str
    words: int


@dataclass
class TableBlock:
    """A table found on the page: its box and its lines (rows with their headers)."""

    x0: float
    top: float
    x1: float
    bottom: float
    lines: list[str]


@dataclass
class Row:
    """Segments on one baseline, left to right; or a table standing in for the rows it covers."""

    top: float
    bottom: float
    segments: list[Segment]
    table: TableBlock | None = None

    @classmethod
    def of_table(cls, table: TableBlock) -> Row:
        box = Segment(table.x0, table.x1, table.top, table.bottom, "", 10**6)
        return cls(table.top, table.bottom, [box], table)


@dataclass
class Line:
    """A line of running text in reading order, with the extent of the column it belongs to."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    col_x0: float
    col_x1: float
    column: int  # lines of one column of one band share this number


Item = Line | TableBlock


@dataclass
class Gutter:
    """An x-strip between columns of prose, and the segment pairs on either side of it."""

    x0: float
    x1: float
    pairs: list[tuple[Segment, Segment]] = field(default_factory=list)

    @property
    def mid(self) -> float:
        return (self.x0 + self.x1) / 2

    def crossed_by(self, seg: Segment) -> bool:
        # the strip is where most pairs leave a gap: its right end is where the next column's
        # lines start, its left part may hold the ends of ragged lines; a segment crosses the
        # gutter when it covers the point three quarters across
        x = self.x0 + 0.75 * (self.x1 - self.x0)
        return seg.x0 < x < seg.x1


def make_rows(words: Sequence[dict[str, Any]], body: float, p: PdfParams) -> list[Row]:
    """Words (pdfplumber ``extract_words`` dicts) grouped into rows, each split into segments."""
    from pdfplumber.utils import cluster_objects

    if not words:
        return []
    rows: list[Row] = []
    gap = p.segment_gap * body
    for group in cluster_objects(list(words), "bottom", p.row_tolerance * body):
        group.sort(key=lambda w: w["x0"])
        segments: list[Segment] = []
        run = [group[0]]
        for w in group[1:]:
            if w["x0"] - run[-1]["x1"] > gap:
                segments.append(_segment(run))
                run = [w]
            else:
                run.append(w)
        segments.append(_segment(run))
        rows.append(Row(min(s.top for s in segments), max(s.bottom for s in segments), segments))
    rows.sort(key=lambda r: (r.top, r.segments[0].x0))
    return rows


def _segment(words: list[dict[str, Any]]) -> Segment:
    return Segment(
        min(w["x0"] for w in words),
        max(w["x1"] for w in words),
        min(w["top"] for w in words),
        max(w["bottom"] for w in words),
        " ".join(w["text"] for w in words),
        len(words),
    )


def _neighbour_pairs(rows: Sequence[Row], gap: float) -> list[tuple[Segment, Segment]]:
    """Horizontally adjacent segments that overlap vertically (the same row, or lines of two
    columns whose baselines do not align), at least ``gap`` apart."""
    segs = sorted((s for r in rows if r.table is None for s in r.segments), key=lambda s: s.top)
    if not segs:
        return []
    tops = [s.top for s in segs]
    tallest = max(s.bottom - s.top for s in segs)
    pairs = []
    for a in segs:
        best: Segment | None = None
        for j in range(bisect.bisect_left(tops, a.top - tallest), bisect.bisect_left(tops, a.bottom)):
            b = segs[j]
            if b is a or b.x0 < a.x1 + gap or b.bottom <= a.top:
                continue
            overlap = min(a.bottom, b.bottom) - max(a.top, b.top)
            if overlap >= 0.3 * min(a.bottom - a.top, b.bottom - b.top) and (best is None or b.x0 < best.x0):
                best = b
        if best is not None:
            pairs.append((a, best))
    return pairs


def find_gutters(rows: Sequence[Row], body: float, p: PdfParams) -> list[Gutter]:
    """Column gutters of the page: x-strips free between prose segments in many places."""
    pairs = _neighbour_pairs(rows, p.segment_gap * body)
    if len(pairs) < p.gutter_min_rows:
        return []
    width = int(max(b.x1 for _a, b in pairs)) + 2
    diff = [0] * (width + 1)
    for a, b in pairs:
        lo, hi = int(a.x1) + 1, int(b.x0)
        if hi > lo:
            diff[lo] += 1
            diff[hi] -= 1
    counts, run = [], 0
    for d in diff:
        run += d
        counts.append(run)
    gutters: list[Gutter] = []
    x = 0
    while x < width:
        if counts[x] < p.gutter_min_rows:
            x += 1
            continue
        end = x
        while end < width and counts[end] >= p.gutter_min_rows:
            end += 1
        peak = max(counts[x:end])
        s0 = next(i for i in range(x, end) if counts[i] == peak)
        s1 = s0
        while s1 + 1 < end and counts[s1 + 1] == peak:
            s1 += 1
        g = Gutter(float(s0), float(s1 + 1))
        g.pairs = [(a, b) for a, b in pairs if a.x1 <= g.x0 and b.x0 >= g.x1]
        if _is_prose_gutter(g, p):
            gutters.append(g)
        x = end
    return gutters


def _is_prose_gutter(g: Gutter, p: PdfParams) -> bool:
    """A gutter between columns of prose, not the gap between table columns: both sides hold
    lines of several words, and the lines on its left mostly run up to it."""
    if len(g.pairs) < p.gutter_min_rows:
        return False
    lefts = [a for a, _b in g.pairs]
    rights = [b for _a, b in g.pairs]
    if statistics.median(s.words for s in lefts) < p.gutter_min_words:
        return False
    if statistics.median(s.words for s in rights) < p.gutter_min_words:
        return False
    col_left = min(s.x0 for s in lefts)
    reach = g.x0 - 0.25 * (g.x0 - col_left)
    return sum(s.x1 >= reach for s in lefts) >= p.gutter_fill * len(lefts)


def _bands(
    rows: Sequence[Row], gutters: Sequence[Gutter], p: PdfParams
) -> list[tuple[list[Row], list[Gutter]]]:
    """Consecutive rows that leave the same gutters open; a gutter with no line on one side in
    the band is dropped (a band without gutters is read as one column)."""
    bands: list[tuple[list[Row], set[int]]] = []
    for row in rows:
        open_ = {i for i, g in enumerate(gutters) if not any(g.crossed_by(s) for s in row.segments)}
        if bands and (bands[-1][1] & open_ or (not bands[-1][1] and not open_)):
            bands[-1][0].append(row)
            bands[-1] = (bands[-1][0], bands[-1][1] & open_)
        else:
            bands.append(([row], open_))
    out: list[tuple[list[Row], list[Gutter]]] = []
    for band_rows, open_ in bands:
        kept = []
        for i in sorted(open_, key=lambda i: gutters[i].mid):
            g = gutters[i]
            left = sum(1 for r in band_rows for s in r.segments if s.x1 <= g.x0)
            right = sum(1 for r in band_rows for s in r.segments if s.x0 >= g.x1)
            if min(left, right) >= 1:
                kept.append(g)
        if out and not kept and not out[-1][1]:
            out[-1][0].extend(band_rows)
        else:
            out.append((list(band_rows), kept))
    return out


def reading_order(
    rows: Sequence[Row],
    body: float,
    p: PdfParams,
    column_tables: Callable[[list[Row]], list[Row]] | None = None,
) -> list[Item]:
    """The page's lines and tables in reading order. ``column_tables`` finds tables among the
    rows of one column (a table set inside a column, beside prose in the other)."""
    text_segs = [s for r in rows if r.table is None for s in r.segments]
    if not text_segs and not rows:
        return []
    page_x0 = min((s.x0 for s in text_segs), default=0.0)
    page_x1 = max((s.x1 for s in text_segs), default=1.0)
    gutters = find_gutters(rows, body, p)
    items: list[Item] = []
    column = 0
    for band_rows, band_gutters in _bands(rows, gutters, p):
        if not band_gutters:
            column += 1
            items.extend(_lines(band_rows, page_x0, page_x1, column))
            continue
        mids = [g.mid for g in band_gutters]
        cols: list[list[Row]] = [[] for _ in range(len(mids) + 1)]
        for row in band_rows:
            by_col: dict[int, list[Segment]] = {}
            for s in row.segments:
                by_col.setdefault(bisect.bisect(mids, (s.x0 + s.x1) / 2), []).append(s)
            for c, segs in by_col.items():
                cols[c].append(Row(min(s.top for s in segs), max(s.bottom for s in segs), segs, row.table))
        for col_rows in cols:
            if not col_rows:
                continue
            column += 1
            segs = [s for r in col_rows if r.table is None for s in r.segments]
            x0 = min((s.x0 for s in segs), default=page_x0)
            x1 = max((s.x1 for s in segs), default=page_x1)
            if column_tables is not None:
                col_rows = column_tables(col_rows)
            items.extend(_lines(col_rows, x0, x1, column))
    return items


def _lines(rows: Sequence[Row], x0: float, x1: float, column: int) -> list[Item]:
    out: list[Item] = []
    for r in rows:
        if r.table is not None:
            out.append(r.table)
        else:
            text = " ".join(s.text for s in r.segments)
            out.append(Line(text, r.segments[0].x0, r.segments[-1].x1, r.top, r.bottom, x0, x1, column))
    return out
