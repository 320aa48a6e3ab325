"""Read corpus files into clean text with sections, plus manifest metadata.

Formats are registered in :mod:`assistant.loaders.registry` (suffix -> loader): plain text,
markdown, HTML, PDF (reading order by columns, tables, OCR of scanned pages), Word, PowerPoint,
Excel and CSV. Cleaning removes what a reader would not call content (web boilerplate, markup,
hard line wraps, PDF running headers, page numbers, hyphenation, footnote marks glued onto
figures); a table row becomes a line that carries its column headers. Offsets of every chunk
refer to the cleaned text returned here.
"""

from __future__ import annotations

from pathlib import Path

from assistant.loaders.base import OCR, TABLE, Extracted, LoadedDocument, LoadError, Section
from assistant.loaders.cleaning import clean_html, clean_markdown, clean_plain_text, decode_text
from assistant.loaders.manifest import MANIFEST_NAME, Manifest, date_range, parse_date_bound, read_manifest
from assistant.loaders.registry import LOADERS, register, supported_suffixes

# Bump when loaders read the same file differently: ingestion re-reads every file then.
LOADER_VERSION = "2"
SUPPORTED_SUFFIXES = supported_suffixes()

__all__ = [
    "LOADERS",
    "LOADER_VERSION",
    "MANIFEST_NAME",
    "OCR",
    "SUPPORTED_SUFFIXES",
    "TABLE",
    "Extracted",
    "LoadError",
    "LoadedDocument",
    "Manifest",
    "Section",
    "clean_html",
    "clean_markdown",
    "clean_plain_text",
    "date_range",
    "decode_text",
    "discover",
    "doc_id_for",
    "load_document",
    "parse_date_bound",
    "read_manifest",
    "register",
    "supported_suffixes",
]


def _unsupported(suffix: str) -> str:
    return f"unsupported file type {suffix or '(none)'}; use {', '.join(supported_suffixes())}"


def doc_id_for(path: Path, corpus_dir: Path) -> str:
    """``doc_id`` = path relative to the corpus folder, without extension, with ``/``."""
    rel = path.relative_to(corpus_dir)
    return rel.with_suffix("").as_posix()


def _first_line_title(text: str, fallback: str) -> str:
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


def load_document(
    path: Path, corpus_dir: Path, manifest: Manifest | None = None, max_bytes: int | None = None
) -> LoadedDocument:
    """Load and clean one file with its registered loader; raises :class:`LoadError` with the
    reason when it cannot."""
    suffix = path.suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise LoadError(_unsupported(suffix))
    size = path.stat().st_size
    if size == 0:
        raise LoadError("empty file (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise LoadError(
            f"file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit "
            "(ASSISTANT_MAX_FILE_MB); split it or raise the limit"
        )
    got = loader(path)
    if not got.text.strip():
        raise LoadError("no text content (empty or whitespace only)")
    doc_id = doc_id_for(path, corpus_dir)
    meta = dict((manifest.entries if manifest else {}).get(path.relative_to(corpus_dir).as_posix(), {}))
    meta.setdefault("title", got.title or _first_line_title(got.text, doc_id))
    meta.setdefault("publisher", "")
    return LoadedDocument(
        doc_id=doc_id,
        path=path,
        text=got.text,
        metadata=meta,
        sections=got.sections,
        pages=got.pages,
        tables=got.tables,
        ocr_pages=got.ocr_pages,
        warnings=got.warnings,
    )


def discover(corpus_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to ingest under ``corpus_dir`` (sorted), and files skipped with the reason.

    Hidden files, the manifest and types without a registered loader are skipped; a symlink
    pointing outside the corpus folder is refused.
    """
    root = corpus_dir.resolve()
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts) or path.name == MANIFEST_NAME:
            continue
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling, or a loop (RuntimeError before Python 3.13)
                skipped.append((path, "broken symlink (its target is missing or loops); refused"))
                continue
            if not target.is_relative_to(root):
                skipped.append((path, f"symlink points outside the corpus folder ({target}); refused"))
                continue
        if not path.is_file():
            continue
        if path.suffix.lower() not in LOADERS:
            skipped.append((path, _unsupported(path.suffix)))
            continue
        files.append(path)
    return files, skipped
