"""Read corpus files (.txt, .md, .html, .pdf) into clean text plus manifest metadata.

Cleaning removes what a reader would not call content: web boilerplate, HTML markup and
entities, markdown syntax, hard line wraps, PDF running headers, page numbers, hyphenation and
footnote marks glued onto figures. Offsets of every chunk refer to the cleaned text returned here.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import yaml

from assistant.types import AssistantError

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MANIFEST_NAME = "manifest.yaml"


class LoadError(AssistantError):
    """A document that cannot be loaded; the message says why."""


@dataclass
class LoadedDocument:
    """A cleaned document.

    ``sections`` are ``(start_char, end_char, page)`` ranges of ``text``; chunks never cross a
    section boundary, so every chunk of a PDF belongs to exactly one page (``page`` is None
    outside PDFs; the slide or sheet number in other paged formats).

    What the ingest report shows per file: ``pages`` (None for unpaged formats), ``tables``
    found, ``ocr_pages`` (1-based pages read by OCR) and ``warnings`` ("3 pages had no text").
    """

    doc_id: str
    path: Path
    text: str
    metadata: dict[str, Any]
    sections: list[tuple[int, int, int | None]] = field(default_factory=list)
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


# --------------------------------------------------------------------------- manifest


@dataclass
class Manifest:
    """``manifest.yaml``: per-file metadata, plus the problems found while reading it."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_MANIFEST_FIELDS = ("title", "publisher", "date", "url", "kind", "licence")
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def read_manifest(corpus_dir: Path) -> Manifest:
    """Read ``corpus_dir/manifest.yaml``; a missing, malformed or partial manifest never stops
    ingestion: bad entries are skipped with a warning naming the entry and field."""
    manifest = Manifest()
    path = corpus_dir / MANIFEST_NAME
    if not path.exists():
        return manifest
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        manifest.warnings.append(f"{path}: not valid YAML ({exc.__class__.__name__}); metadata ignored")
        return manifest
    docs = data.get("documents") if isinstance(data, dict) else None
    if not isinstance(docs, list):
        manifest.warnings.append(f"{path}: expected a top-level 'documents:' list; metadata ignored")
        return manifest
    for i, entry in enumerate(docs):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            manifest.warnings.append(f"{path}: documents[{i}] has no 'file' field; entry skipped")
            continue
        meta: dict[str, Any] = {}
        for key in _MANIFEST_FIELDS:
            value = entry.get(key)
            if value is None:
                continue
            value = str(value).strip()
            if key == "date" and not _DATE_RE.match(value):
                manifest.warnings.append(
                    f"{path}: documents[{i}] ({entry['file']}): date {value!r} is not YYYY, YYYY-MM or "
                    "YYYY-MM-DD; date ignored"
                )
                continue
            meta[key] = value
        extra = sorted(set(entry) - {"file", *_MANIFEST_FIELDS})
        if extra:
            manifest.warnings.append(
                f"{path}: documents[{i}] ({entry['file']}): unknown field(s) {', '.join(extra)} ignored"
            )
        manifest.entries[entry["file"]] = meta
    return manifest


def date_range(date: str | None) -> tuple[int, int]:
    """``'2025'`` -> ``(20250101, 20251231)``; used for date filters (0, 99999999 when unknown)."""
    if not date:
        return 0, 99999999
    parts = date.split("-")
    y = int(parts[0])
    if len(parts) == 1:
        return y * 10000 + 101, y * 10000 + 1231
    m = int(parts[1])
    if len(parts) == 2:
        return y * 10000 + m * 100 + 1, y * 10000 + m * 100 + 31
    d = int(parts[2])
    return y * 10000 + m * 100 + d, y * 10000 + m * 100 + d


def parse_date_bound(value: str | None, *, end: bool) -> int | None:
    """A user's ``YYYY[-MM[-DD]]`` as an inclusive bound for :func:`date_range` values."""
    if value in (None, ""):
        return None
    if not _DATE_RE.match(value):
        raise AssistantError(f"date {value!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    lo, hi = date_range(value)
    return hi if end else lo


# --------------------------------------------------------------------------- text cleaning

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"), None)
# Trailing web boilerplate: everything from the first of these lines on is dropped when it sits
# in the last part of the document (share buttons, comment forms, category lists).
_TAIL_BOILERPLATE = re.compile(
    r"^\s*(spread the word|share this|share on|leave a reply|leave a comment|categories\s*:|tags\s*:|"
    r"related posts|your email address will not be published|you may also like|"
    r"subscribe to our newsletter)\b",
    re.IGNORECASE | re.MULTILINE,
)
_INLINE_BOILERPLATE = re.compile(r"\s*\((?:opens in a new (?:tab|window))\)", re.IGNORECASE)
_BOILER_LINE = re.compile(
    r"^\s*(?:required fields are marked\s*\*?|(?:categories|tags)\s*:[\s,]*|skip to (?:main )?content|"
    r"print this page|back to top)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def _normalise_chars(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\t", " ")
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")


def _strip_boilerplate(text: str) -> str:
    text = _INLINE_BOILERPLATE.sub("", text)
    for m in _TAIL_BOILERPLATE.finditer(text):
        if m.start() >= len(text) * 0.6:
            text = text[: m.start()]
            break
    return _BOILER_LINE.sub("", text)


_BULLET = re.compile(r"^\s*(?:[-*+•●▪◦]|\d{1,3}[.)]|\([a-z0-9]{1,4}\))\s+")


def _unwrap(text: str) -> str:
    """Join hard-wrapped lines into paragraphs; keep list items and headings on their own lines."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines: list[str] = []
        for raw in block.split("\n"):
            line = re.sub(r"[ ]{2,}", " ", raw).strip()
            if not line:
                continue
            starts_item = bool(_BULLET.match(raw)) or line.startswith("#")
            if lines and not starts_item and not lines[-1].startswith("#"):
                lines[-1] = lines[-1] + " " + line
            else:
                lines.append(line)
        if lines:
            out.append("\n".join(lines))
    return "\n\n".join(out)


def _finish(text: str) -> str:
    text = _unwrap(_strip_boilerplate(text))
    text = re.sub(r"[ ]{2,}", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def clean_plain_text(text: str) -> str:
    """Clean a plain-text document (web boilerplate, wraps, odd characters)."""
    text = _normalise_chars(text)
    # bullets rendered as "•" stay as list items
    return _finish(text)


_MD_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPH = re.compile(r"(\*\*|__|\*(?=\S)|(?<=\S)\*)")


def clean_markdown(text: str) -> str:
    """Clean markdown: HTML tags/entities/comments, emphasis, links, escapes and hard wraps."""
    # Paragraphs whose first line is indented with no-break spaces, and markdown hard line
    # breaks (two trailing spaces), start a new paragraph.
    text = re.sub(r"^[ \t]*\u00a0[ \u00a0\t]*(?=\S)", "\n", text, flags=re.MULTILINE)
    text = re.sub(r"[ \u00a0]{2,}\n", "\n\n", text)
    text = _normalise_chars(text)
    text = _MD_COMMENT.sub("", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _MD_LINK.sub(r"\1", text)
    text = re.sub(r"^\s*[-*_]{3,}\s*$", "", text, flags=re.MULTILINE)  # horizontal rules
    text = _MD_EMPH.sub("", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!$|>])", r"\1", text)
    text = re.sub(r"^(\s*)[-*+]\s{2,}", r"\1- ", text, flags=re.MULTILINE)
    text = re.sub(r"^(#{1,6})\s*", "", text, flags=re.MULTILINE)  # headings become plain lines
    return _finish(_normalise_chars(text))


class _HTMLText(HTMLParser):
    _SKIP: ClassVar[set[str]] = {
        "script",
        "style",
        "nav",
        "footer",
        "header",
        "noscript",
        "form",
        "svg",
        "aside",
    }
    _BLOCK: ClassVar[set[str]] = {
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "section",
        "article",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "title",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")
            if tag == "li":
                self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def clean_html(text: str) -> str:
    """Visible text of an HTML page, without scripts, styles, navigation and footers."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return _finish(_normalise_chars("".join(parser.parts)))


# --------------------------------------------------------------------------- PDF

_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d(?: ?\d){0,3}(?:\s+of\s+\d{1,4})?\s*$", re.IGNORECASE)


def _repeated_lines(pages: list[list[str]]) -> set[str]:
    """Lines that recur at the top or bottom of most pages: running headers and footers."""
    if len(pages) < 2:
        return set()
    counts: dict[str, int] = {}
    for lines in pages:
        edge = {re.sub(r"\d+", "#", ln.strip()) for ln in lines[:3] + lines[-3:] if ln.strip()}
        for key in edge:
            counts[key] = counts.get(key, 0) + 1
    return {k for k, c in counts.items() if c >= max(2, (len(pages) + 1) // 2)}


_NUMBER_TOKEN = re.compile(r"^[-–—>$(]*\d[\d,.%]*\)?$|^[—–-]$|^NA$|^W$")


def _is_table_row(line: str) -> bool:
    tokens = line.split()
    numeric = sum(1 for t in tokens if _NUMBER_TOKEN.match(t))
    return numeric >= 2 and numeric >= 0.3 * len(tokens)


def _unwrap_pdf_lines(lines: list[str]) -> str:
    """Join wrapped prose lines into paragraphs; table rows and short lines keep their own line."""
    width = max((len(ln) for ln in lines), default=0)
    out: list[str] = []
    prev_joinable = False
    for line in lines:
        line = line.strip()
        if not line:
            prev_joinable = False
            continue
        table = _is_table_row(line)
        if out and prev_joinable and not table:
            if out[-1].endswith("-") and line[:1].islower():  # de-hyphenate "min-\neral"
                out[-1] = out[-1][:-1] + line
            else:
                out[-1] = out[-1] + " " + line
        else:
            out.append(line)
        # a line that runs to (nearly) the full width wraps into the next one
        prev_joinable = not table and len(line) >= 0.7 * width and not line.endswith(":")
    return "\n".join(out)


def _page_lines(page: Any) -> list[str]:
    """Text lines of a pdfplumber page without superscript footnote marks.

    Superscripts (footnote numbers, "e" for estimated) are set in a much smaller font than
    the text around them; glued to a figure they corrupt it ("14" + "270,000"), so characters
    under 72% of the page's dominant font size are dropped.
    """
    sizes: dict[float, int] = {}
    for ch in page.chars:
        key = round(float(ch["size"]), 1)
        sizes[key] = sizes.get(key, 0) + 1
    if not sizes:
        return []
    total = sum(sizes.values())
    # body text: the largest size that sets at least a fifth of the page
    body = max((s for s, n in sizes.items() if n >= 0.2 * total), default=max(sizes, key=sizes.__getitem__))
    small: set[int] = set()
    prev: Any = None
    for ch in page.chars:
        size = float(ch["size"])
        if size < 0.72 * body:
            small.add(id(ch))
        elif prev is not None and size < 0.72 * float(prev["size"]) and ch["bottom"] < prev["bottom"] - 0.5:
            small.add(id(ch))  # raised and smaller than the heading it follows
        else:
            prev = ch
            continue
    kept = page.filter(lambda o: o.get("object_type") != "char" or id(o) not in small)
    return (kept.extract_text() or "").split("\n")


def load_pdf(path: Path) -> tuple[str, list[tuple[int, int, int | None]]]:
    """Extract cleaned text per page with pdfplumber; returns the text and its page sections."""
    import pdfplumber

    try:
        with pdfplumber.open(str(path)) as pdf:
            raw_pages = [_page_lines(page) for page in pdf.pages]
    except Exception as exc:  # pdfminer raises many kinds on damaged or encrypted files
        # pdfplumber wraps pdfminer's error (PdfminerException(PDFPasswordIncorrect())): look inside
        causes = [exc, *(a for a in exc.args if isinstance(a, BaseException))]
        causes += [c for c in (exc.__cause__, exc.__context__) if c is not None]
        if any(
            "Password" in type(c).__name__ or "Encrypt" in type(c).__name__ or "encrypt" in str(c).lower()
            for c in causes
        ):
            raise LoadError("the PDF is encrypted with a password; decrypt it and ingest again") from exc
        detail = next(
            (f"{type(c).__name__}: {str(c).strip()[:200]}" for c in causes if str(c).strip()),
            type(exc).__name__,
        )
        raise LoadError(f"not a readable PDF, damaged or truncated ({detail})") from exc
    pages = [[_normalise_chars(line) for line in lines] for lines in raw_pages]
    repeated = _repeated_lines(pages)
    parts: list[str] = []
    sections: list[tuple[int, int, int | None]] = []
    pos = 0
    for number, lines in enumerate(pages, start=1):
        kept = [
            ln
            for i, ln in enumerate(lines)
            if not (
                (i < 3 or i >= len(lines) - 3)
                and (re.sub(r"\d+", "#", ln.strip()) in repeated or _PAGE_NUMBER.match(ln))
            )
        ]
        page_text = _unwrap_pdf_lines(kept)
        page_text = re.sub(r"[ ]{2,}", " ", page_text).strip()
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(page_text)
        sections.append((pos, pos + len(page_text), number))
        pos += len(page_text)
    return "".join(parts), sections


# --------------------------------------------------------------------------- entry points


def decode_text(data: bytes, path: Path) -> str:
    """Decode bytes as UTF-8 (with or without BOM), UTF-16 with BOM, or Latin-1/CP1252 text;
    binary data is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoadError(f"invalid UTF-16 text ({exc.reason} at byte {exc.start})") from exc
    if b"\x00" in data[:8192]:
        raise LoadError("binary data, not text (NUL bytes); convert it to .txt, .md, .html or .pdf")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    sample = data[:65536]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    if controls > len(sample) * 0.01:
        raise LoadError("binary data, not text; convert it to .txt, .md, .html or .pdf")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


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
    """Load and clean one file; raises :class:`LoadError` with the reason when it cannot."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}")
    size = path.stat().st_size
    if size == 0:
        raise LoadError("empty file (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise LoadError(
            f"file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit "
            "(ASSISTANT_MAX_FILE_MB); split it or raise the limit"
        )
    sections: list[tuple[int, int, int | None]]
    if suffix == ".pdf":
        text, sections = load_pdf(path)
    else:
        raw = decode_text(path.read_bytes(), path)
        if suffix in (".md", ".markdown"):
            text = clean_markdown(raw)
        elif suffix in (".html", ".htm"):
            text = clean_html(raw)
        else:
            text = clean_plain_text(raw)
        sections = [(0, len(text), None)]
    if not text.strip():
        if suffix == ".pdf":
            raise LoadError("no text content: a scanned PDF without a text layer, or a damaged one")
        raise LoadError("no text content (empty or whitespace only)")
    doc_id = doc_id_for(path, corpus_dir)
    meta = dict((manifest.entries if manifest else {}).get(path.relative_to(corpus_dir).as_posix(), {}))
    meta.setdefault("title", _first_line_title(text, doc_id))
    meta.setdefault("publisher", "")
    return LoadedDocument(doc_id=doc_id, path=path, text=text, metadata=meta, sections=sections)


def discover(corpus_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to ingest under ``corpus_dir`` (sorted), and files skipped with the reason.

    Hidden files, the manifest and unsupported types are skipped; a symlink pointing outside
    the corpus folder is refused.
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
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            suffix = path.suffix or "(none)"
            skipped.append((path, f"unsupported file type {suffix}; use {', '.join(SUPPORTED_SUFFIXES)}"))
            continue
        files.append(path)
    return files, skipped
