"""PDF files: text in reading order, tables as rows with their headers, scanned pages by OCR.

Per page: characters much smaller than the body text (footnote marks glued to figures) are
dropped; ruled tables are found by pdfplumber and borderless ones by :mod:`.pdf_tables`; the rest
is read column by column, region by region (:mod:`.pdf_layout`); a page whose text runs sideways
(a landscape table on a portrait page, a rotated page) is turned upright first. Across pages,
running headers and footers and page numbers are removed; wrapped lines are joined into
paragraphs (also across a column break) and hyphenation undone. A page without a text layer is
read by Tesseract (:mod:`.ocr`) when it is installed.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.loaders import ocr as ocr_mod
from assistant.loaders.base import OCR, TABLE, Extracted, LoadError, TextBuilder, page_ranges
from assistant.loaders.cleaning import normalise_chars
from assistant.loaders.params import PDF_PARAMS, PdfParams
from assistant.loaders.pdf_layout import Item, Line, Row, TableBlock, find_gutters, make_rows, reading_order
from assistant.loaders.pdf_tables import find_tables, ruled_tables

_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d(?: ?\d){0,3}(?:\s+of\s+\d{1,4})?\s*$", re.IGNORECASE)
_NUMBER_TOKEN = re.compile(r"^[-–—>$(]*\d[\d,.%]*\)?$|^[—–-]$|^NA$|^W$")
# text direction of a page -> pdfplumber's direction of characters and of lines for it
_ROTATED = {"ttb": ("ttb", "rtl"), "btt": ("btt", "ltr")}


@dataclass
class _Page:
    number: int
    items: list[Item] = field(default_factory=list)
    ocr: ocr_mod.OcrText | None = None
    scanned: bool = False  # no text layer


def _is_table_row(line: str) -> bool:
    tokens = line.split()
    numeric = sum(1 for t in tokens if _NUMBER_TOKEN.match(t))
    return numeric >= 2 and numeric >= 0.3 * len(tokens)


def _size(ch: dict[str, Any]) -> float:
    """A character's font size (pdfminer's ``size`` of sideways text is the glyph's advance)."""
    return float(ch["size"]) if ch.get("upright", True) else float(ch["x1"] - ch["x0"])


def _body_size(chars: list[dict[str, Any]]) -> float:
    """The largest font size that sets at least a fifth of the page (the body text)."""
    sizes = Counter(round(_size(ch), 1) for ch in chars)
    total = sum(sizes.values())
    return max((s for s, n in sizes.items() if n >= 0.2 * total), default=sizes.most_common(1)[0][0])


def _direction(chars: list[dict[str, Any]]) -> str | None:
    """``"ttb"`` / ``"btt"`` when most characters run down / up the page, else None."""
    down = up = 0
    for ch in chars:
        if ch.get("upright", True):
            continue
        b = ch["matrix"][1]
        if b < 0:
            down += 1
        elif b > 0:
            up += 1
    if max(down, up) <= len(chars) / 2:
        return None
    return "ttb" if down >= up else "btt"


def _without_superscripts(
    page: Any, chars: list[dict[str, Any]], body: float, upright: bool, p: PdfParams
) -> Any:
    """The page without footnote marks: characters under ``superscript_ratio`` of the body size,
    and (upright text) characters raised above and much smaller than the one before them."""
    small: set[int] = set()
    prev: Any = None
    for ch in chars:
        size = _size(ch)
        if size < p.superscript_ratio * body:
            small.add(id(ch))
        elif (
            upright
            and prev is not None
            and size < p.superscript_ratio * _size(prev)
            and ch["bottom"] < prev["bottom"] - 0.5
        ):
            small.add(id(ch))  # raised and smaller than the heading it follows
        else:
            prev = ch
    if not small:
        return page
    return page.filter(lambda o: o.get("object_type") != "char" or id(o) not in small)


def _upright_words(kept: Any, direction: str | None) -> list[dict[str, Any]]:
    """Words with boxes in a frame where their text runs left to right, top to bottom."""
    if direction is None:
        return kept.extract_words()
    char_dir, line_dir = _ROTATED[direction]
    words = kept.extract_words(char_dir_rotated=char_dir, line_dir_rotated=line_dir)
    if not words:
        return words
    out = []
    if direction == "ttb":  # turned a quarter clockwise: the page's top edge is the line start
        right = max(w["x1"] for w in words) + 1
        for w in words:
            out.append(
                {**w, "x0": w["top"], "x1": w["bottom"], "top": right - w["x1"], "bottom": right - w["x0"]}
            )
    else:
        low = max(w["bottom"] for w in words) + 1
        for w in words:
            out.append(
                {**w, "x0": low - w["bottom"], "x1": low - w["top"], "top": w["x0"], "bottom": w["x1"]}
            )
    return out


def _read_page(page: Any, number: int, p: PdfParams) -> tuple[_Page, int]:
    """One page's lines and tables in reading order, and the number of tables on it."""
    chars = page.chars
    out = _Page(number)
    if (len(chars) < p.ocr_min_chars and page.images) or (not chars and page.curves):
        out.scanned = True  # an image of a page, or text drawn as outlines
        return out, 0
    if not chars:
        return out, 0
    body = _body_size(chars)
    direction = _direction(chars)
    kept = _without_superscripts(page, chars, body, direction is None, p)
    ruled = ruled_tables(kept, p) if direction is None else []
    words = _upright_words(kept, direction)
    if ruled:
        words = [w for w in words if not any(_inside(w, t) for t in ruled)]
    rows = make_rows(words, body, p)
    rows = find_tables(rows, body, p, find_gutters(rows, body, p))
    rows = sorted(rows + [Row.of_table(t) for t in ruled], key=lambda r: r.top)
    out.items = reading_order(rows, body, p, column_tables=lambda rs: find_tables(rs, body, p))
    for item in out.items:
        if isinstance(item, Line):
            item.text = normalise_chars(item.text)
        else:
            item.lines = [normalise_chars(ln) for ln in item.lines]
    return out, sum(isinstance(i, TableBlock) for i in out.items)


def _inside(word: dict[str, Any], t: TableBlock) -> bool:
    cx, cy = (word["x0"] + word["x1"]) / 2, (word["top"] + word["bottom"]) / 2
    return t.x0 <= cx <= t.x1 and t.top <= cy <= t.bottom


def _edge_key(text: str) -> str:
    return re.sub(r"\d+", "#", text.strip())


def _edges(items: list[Item]) -> list[Line]:
    lines = [i for i in items if isinstance(i, Line)]
    return lines[:3] + lines[3:][-3:]


def _repeated_lines(pages: list[_Page]) -> set[str]:
    """Lines that recur at the top or bottom of most pages: running headers and footers."""
    texts = [pg for pg in pages if pg.items]
    if len(texts) < 2:
        return set()
    counts: Counter[str] = Counter()
    for pg in texts:
        counts.update({_edge_key(ln.text) for ln in _edges(pg.items) if ln.text.strip()})
    return {k for k, c in counts.items() if c >= max(2, (len(texts) + 1) // 2)}


def _line_pitch(lines: list[Line]) -> float:
    steps = [
        b.top - a.top
        for a, b in itertools.pairwise(lines)
        if a.column == b.column and 0 < b.top - a.top < 3 * (a.bottom - a.top)
    ]
    return statistics.median(steps) if steps else 0.0


def _join_lines(lines: list[Line], pitch: float, p: PdfParams) -> str:
    """Wrapped prose lines joined into paragraphs (across a column break too); table rows, short
    lines, and lines followed by a paragraph gap or an indented line keep their own line."""
    out: list[str] = []
    prev: Line | None = None
    prev_joinable = False
    for line in lines:
        text = line.text.strip()
        if not text:
            prev_joinable = False
            continue
        # figures on a line make it a table row, unless it continues a sentence ("in 2023" +
        # "and 2024 was 1,920 tons and 7,600 tons")
        table = _is_table_row(text) and not (prev_joinable and text[:1].islower())
        gap = prev is not None and (
            (prev.column == line.column and pitch > 0 and line.top - prev.top > p.paragraph_gap * pitch)
            or line.x0 - line.col_x0 >= p.paragraph_indent * (line.bottom - line.top)
        )
        if out and prev_joinable and not table and not gap:
            if out[-1].endswith("-") and text[:1].islower():  # de-hyphenate "min-\neral"
                out[-1] = out[-1][:-1] + text
            else:
                out[-1] = out[-1] + " " + text
        else:
            out.append(text)
        width = line.col_x1 - line.col_x0
        prev_joinable = not table and line.x1 - line.col_x0 >= p.wrap_fill * width and not text.endswith(":")
        prev = line
    return re.sub(r"[ ]{2,}", " ", "\n".join(out)).strip()


def _open_error(exc: Exception) -> LoadError:
    # pdfplumber wraps pdfminer's error (PdfminerException(PDFPasswordIncorrect())): look inside
    causes = [exc, *(a for a in exc.args if isinstance(a, BaseException))]
    causes += [c for c in (exc.__cause__, exc.__context__) if c is not None]
    if any(
        "Password" in type(c).__name__ or "Encrypt" in type(c).__name__ or "encrypt" in str(c).lower()
        for c in causes
    ):
        return LoadError("the PDF is encrypted with a password; decrypt it and ingest again")
    detail = next(
        (f"{type(c).__name__}: {str(c).strip()[:200]}" for c in causes if str(c).strip()),
        type(exc).__name__,
    )
    return LoadError(f"not a readable PDF, damaged or truncated ({detail})")


def load_pdf(path: Path, params: PdfParams = PDF_PARAMS) -> Extracted:
    """Read a PDF (see the module docstring)."""
    import pdfplumber

    pages: list[_Page] = []
    tables = 0
    warnings: list[str] = []
    try:
        with pdfplumber.open(str(path)) as pdf:
            can_ocr: bool | None = None
            for number, page in enumerate(pdf.pages, start=1):
                read, n_tables = _read_page(page, number, params)
                tables += n_tables
                if read.scanned:
                    can_ocr = ocr_mod.tesseract_available() if can_ocr is None else can_ocr
                    if can_ocr:
                        read.ocr = _ocr(page, number, params, warnings)
                pages.append(read)
                page.close()  # frees the page's parsed objects: memory stays flat on long files
    except LoadError:
        raise
    except Exception as exc:  # pdfminer raises many kinds on damaged or encrypted files
        raise _open_error(exc) from exc
    return _assemble(pages, tables, warnings, params)


def _ocr(page: Any, number: int, p: PdfParams, warnings: list[str]) -> ocr_mod.OcrText | None:
    import pytesseract

    try:
        text = ocr_mod.ocr_page(page, p)
    except (pytesseract.TesseractError, OSError, RuntimeError) as exc:
        warnings.append(f"page {number}: OCR failed ({str(exc).strip()[:200]})")
        return None
    if text.confidence is not None and text.confidence < p.ocr_low_confidence and text.paragraphs:
        warnings.append(
            f"page {number} was read by OCR with low confidence ({text.confidence:.0f}%); check its text"
        )
    return text


def _assemble(pages: list[_Page], tables: int, warnings: list[str], p: PdfParams) -> Extracted:
    repeated = _repeated_lines(pages)
    builder = TextBuilder()
    ocr_pages: list[int] = []
    empty: list[int] = []
    unread = [pg.number for pg in pages if pg.scanned and pg.ocr is None]
    for pg in pages:
        if pg.ocr is not None:
            before = len(builder.sections)
            builder.add("\n".join(normalise_chars(t) for t in pg.ocr.paragraphs), pg.number, OCR)
            if len(builder.sections) > before:
                ocr_pages.append(pg.number)
            else:
                empty.append(pg.number)
            continue
        if pg.scanned:
            continue
        edges = {id(ln) for ln in _edges(pg.items)}
        items = [
            i
            for i in pg.items
            if not (
                isinstance(i, Line)
                and id(i) in edges
                and (_edge_key(i.text) in repeated or _PAGE_NUMBER.match(i.text))
            )
        ]
        pitch = _line_pitch([i for i in items if isinstance(i, Line)])
        before = len(builder.sections)
        run: list[Line] = []
        for item in [*items, None]:
            if isinstance(item, Line):
                run.append(item)
                continue
            if run:
                builder.add(_join_lines(run, pitch, p), pg.number)
                run = []
            if item is not None:
                builder.add("\n".join(item.lines), pg.number, TABLE)
        if len(builder.sections) == before:
            empty.append(pg.number)
    if unread:
        message = f"no text layer on {page_ranges(unread)}: {ocr_mod.INSTALL_HINT}"
        if not builder.sections:
            raise LoadError(message)
        warnings.insert(0, message)
    if empty:
        n = len(empty)
        warnings.append(f"{n} page{'s' if n > 1 else ''} had no text ({page_ranges(empty)})")
    if not builder.sections:
        raise LoadError("no text content: the PDF holds no readable text (empty or damaged)")
    return Extracted(
        text=builder.text,
        sections=builder.sections,
        pages=len(pages),
        tables=tables,
        ocr_pages=ocr_pages,
        warnings=warnings,
    )
