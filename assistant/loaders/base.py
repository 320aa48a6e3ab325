"""What every format loader returns, and the helper that assembles text with its sections."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from assistant.types import AssistantError

# Section kinds (``Section.kind``); the chunker reads them and every chunk carries its section's kind.
TABLE = "table"  # the rows of one table, one row a line: chunks split only between rows
OCR = "ocr"  # text read by OCR from a page image


class LoadError(AssistantError):
    """A document that cannot be loaded; the message says why."""


class Section(NamedTuple):
    """A ``[start, end)`` range of a document's text on one ``page`` (PDF page, slide or sheet
    number; None for unpaged formats). ``kind`` is None for running text, :data:`TABLE` for the
    rows of one table, :data:`OCR` for text read by OCR. Chunks never cross a section."""

    start: int
    end: int
    page: int | None
    kind: str | None = None


@dataclass
class Extracted:
    """What a format loader read from one file (see :mod:`assistant.loaders.registry`).

    ``pages``: PDF pages, slides or sheets (None when the format has no pages); ``tables``: tables
    found; ``ocr_pages``: 1-based pages read by OCR; ``warnings``: what the reader should know
    ("2 pages had no text"); ``title``: the file's own title, when it states one.
    """

    text: str
    sections: list[Section]
    pages: int | None = None
    tables: int = 0
    ocr_pages: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    title: str | None = None


@dataclass
class LoadedDocument:
    """A cleaned document.

    ``sections`` are :class:`Section` ``(start_char, end_char, page, kind)`` ranges of ``text``;
    chunks never cross a section boundary, so every chunk of a PDF belongs to exactly one page
    (``page`` is None outside paged formats; the slide or sheet number in other paged formats).

    What the ingest report shows per file: ``pages`` (None for unpaged formats), ``tables``
    found, ``ocr_pages`` (1-based pages read by OCR; their sections have kind ``"ocr"``) and
    ``warnings`` ("3 pages had no text").
    """

    doc_id: str
    path: Path
    text: str
    metadata: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    pages: int | None = None
    tables: int = 0
    ocr_pages: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        """Hash of the cleaned text and metadata: a change of either re-ingests the document."""
        h = hashlib.sha256(self.text.encode())
        h.update(repr(sorted(self.metadata.items())).encode())
        return h.hexdigest()


class TextBuilder:
    """Joins blocks of text with blank lines and records a :class:`Section` for each; consecutive
    running-text blocks of the same page share one section."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pos = 0
        self.sections: list[Section] = []

    def add(self, text: str, page: int | None, kind: str | None = None) -> None:
        """Append ``text`` (stripped; nothing when empty) as a block of ``page``."""
        text = text.strip()
        if not text:
            return
        if self._parts:
            self._parts.append("\n\n")
            self._pos += 2
        start = self._pos
        self._parts.append(text)
        self._pos += len(text)
        last = self.sections[-1] if self.sections else None
        if last is not None and kind is None and last.kind is None and last.page == page:
            self.sections[-1] = Section(last.start, self._pos, page, None)
        else:
            self.sections.append(Section(start, self._pos, page, kind))

    @property
    def text(self) -> str:
        return "".join(self._parts)


def page_ranges(pages: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"pages 1-3, 5"``; ``[4]`` -> ``"page 4"``."""
    nums = sorted(set(pages))
    runs: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        runs.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ("page " if len(nums) == 1 else "pages ") + ", ".join(runs)


def file_title(path: Path) -> str:
    """A title from a file's name (``orvin_rain-2024.csv`` -> ``orvin rain 2024``): for formats
    whose first line is a table row, which makes a poor title."""
    return " ".join(path.stem.replace("_", " ").replace("-", " ").split()) or path.name
