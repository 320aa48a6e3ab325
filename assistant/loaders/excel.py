"""Excel workbooks (``.xlsx``, openpyxl): each sheet a table whose rows carry their column headers,
led by the sheet's name; the sheet's position in the workbook is the page. Values are the ones
Excel saved (formulas as their last computed result), figures as the cell's number format shows them.
The title is the workbook's own, else the file name."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from assistant.loaders.base import TABLE, Extracted, LoadError, TextBuilder, file_title
from assistant.loaders.cleaning import normalise_chars
from assistant.loaders.tables import grid_lines


def _decimals(fmt: str) -> int:
    m = re.search(r"\.(0+)", fmt)
    return len(m.group(1)) if m else 0


def cell_text(value: Any, number_format: str = "General") -> str:
    """A cell's value as its number format shows it (``#,##0`` -> ``21,000,000``, ``0.0%`` -> ``12.5%``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ", "minutes")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float):
        fmt = number_format or "General"
        if "%" in fmt:
            return f"{value * 100:.{_decimals(fmt)}f}%"
        if fmt == "General" or not re.search(r"[0#]", fmt):
            return str(int(value)) if float(value).is_integer() else f"{value:.10g}"
        comma = "," if "#,#" in fmt or "0,0" in fmt else ""
        return f"{value:{comma}.{_decimals(fmt)}f}"
    return str(value)


def _grid(ws: Any) -> list[list[str | None]]:
    """The sheet's cells; within a merged range the cells below the first take its value (a label
    merged down several rows labels each), the cells to its right are None (merged)."""
    fill: dict[tuple[int, int], str | None] = {}
    for rng in ws.merged_cells.ranges:
        origin = ws.cell(rng.min_row, rng.min_col)
        text = cell_text(origin.value, origin.number_format)
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                if (r, c) != (rng.min_row, rng.min_col):
                    fill[(r, c)] = text if c == rng.min_col else None
    grid: list[list[str | None]] = []
    for row in ws.iter_rows():
        cells: list[str | None] = []
        for cell in row:
            key = (cell.row, cell.column)
            cells.append(fill[key] if key in fill else cell_text(cell.value, cell.number_format))
        grid.append(cells)
    # drop empty leading columns (a sheet often starts in column B)
    while any(grid) and all(not (r[0] or "").strip() for r in grid if r):
        grid = [r[1:] for r in grid]
    return grid


def load_xlsx(path: Path) -> Extracted:
    """Read an ``.xlsx`` workbook (see the module docstring)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(str(path), data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and value errors of many kinds
        raise LoadError(
            f"not a readable Excel .xlsx file ({type(exc).__name__}: {str(exc).strip()[:200]}); "
            "open it in Excel or LibreOffice and save it as .xlsx again"
        ) from exc
    builder = TextBuilder()
    warnings: list[str] = []
    tables = 0
    sheets = workbook.worksheets
    for number, ws in enumerate(sheets, start=1):
        rows = grid_lines(_grid(ws))
        if not rows:
            warnings.append(f"sheet {number} ({ws.title!r}) is empty")
            continue
        tables += 1
        builder.add("\n".join(normalise_chars(r) for r in [f"Sheet: {ws.title}", *rows]), number, TABLE)
    title = (workbook.properties.title or "").strip() or file_title(path)
    workbook.close()
    return Extracted(
        builder.text, builder.sections, pages=len(sheets), tables=tables, warnings=warnings, title=title
    )
