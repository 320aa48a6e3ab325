"""Plain text, markdown and HTML files: decoded, cleaned (:mod:`assistant.loaders.cleaning`), unpaged."""

from __future__ import annotations

from pathlib import Path

from assistant.loaders.base import Extracted, Section
from assistant.loaders.cleaning import clean_html, clean_markdown, clean_plain_text, decode_text


def _unpaged(text: str) -> Extracted:
    return Extracted(text=text, sections=[Section(0, len(text), None)])


def load_plain(path: Path) -> Extracted:
    """A ``.txt`` file."""
    return _unpaged(clean_plain_text(decode_text(path.read_bytes(), path)))


def load_markdown(path: Path) -> Extracted:
    """A ``.md`` / ``.markdown`` file."""
    return _unpaged(clean_markdown(decode_text(path.read_bytes(), path)))


def load_html(path: Path) -> Extracted:
    """An ``.html`` / ``.htm`` page (its visible text)."""
    return _unpaged(clean_html(decode_text(path.read_bytes(), path)))
