"""The loader registry: file suffix -> the function that reads such a file.

A new format is one module with a loader (``def load(path: Path) -> Extracted``, importing its
library inside the function so that importing the package stays fast) and one registration
line below. Ingestion (:func:`assistant.loaders.discover`, :func:`assistant.loaders.load_document`)
and the UI's upload read this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.loaders import csvfile, excel, pdf, powerpoint, text, word
from assistant.loaders.base import Extracted

Loader = Callable[[Path], Extracted]
LOADERS: dict[str, Loader] = {}


def register(suffix: str, loader: Loader) -> None:
    """Read files ending in ``suffix`` (``".docx"``; case-insensitive) with ``loader``."""
    LOADERS[suffix.lower()] = loader


def supported_suffixes() -> tuple[str, ...]:
    """Every registered suffix, in registration order."""
    return tuple(LOADERS)


register(".txt", text.load_plain)
register(".md", text.load_markdown)
register(".markdown", text.load_markdown)
register(".html", text.load_html)
register(".htm", text.load_html)
register(".pdf", pdf.load_pdf)
register(".docx", word.load_docx)
register(".pptx", powerpoint.load_pptx)
register(".xlsx", excel.load_xlsx)
register(".csv", csvfile.load_csv)
