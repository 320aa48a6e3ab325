"""CSV files: one table whose rows carry their column headers (the first row, when it holds no
figures, also leads the text once); the delimiter (comma, semicolon, tab, bar) is detected. CSV
has no pages; without a manifest title the file name is the title."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from assistant.loaders.base import TABLE, Extracted, LoadError, TextBuilder, file_title
from assistant.loaders.cleaning import decode_text, normalise_chars
from assistant.loaders.tables import grid_lines


def load_csv(path: Path) -> Extracted:
    """Read a ``.csv`` file (see the module docstring)."""
    text = decode_text(path.read_bytes(), path)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        grid = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise LoadError(f"not a readable CSV file ({exc}); check its quoting") from exc
    builder = TextBuilder()
    rows = grid_lines(grid, header_line=True)
    builder.add("\n".join(normalise_chars(r) for r in rows), None, TABLE)
    return Extracted(builder.text, builder.sections, tables=1 if rows else 0, title=file_title(path))
