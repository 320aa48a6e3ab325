"""OCR of scanned PDF pages with Tesseract (through pytesseract, which runs the ``tesseract``
command: Debian's ``tesseract-ocr`` and ``tesseract-ocr-eng``, installed by ``make ocr-deps``).

The page is rendered by pdfplumber (pypdfium2) and Tesseract's own page layout analysis orders
its blocks and paragraphs (columns included); its paragraphs are kept, its line wraps joined.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from assistant.loaders.params import PdfParams

INSTALL_HINT = "install tesseract-ocr to read scanned pages"


def tesseract_available() -> bool:
    """Whether the ``tesseract`` command pytesseract runs is on this machine."""
    import pytesseract

    return shutil.which(pytesseract.pytesseract.tesseract_cmd) is not None


@dataclass
class OcrText:
    """The paragraphs Tesseract read on one page, and its mean word confidence (0-100)."""

    paragraphs: list[str]
    confidence: float | None


def ocr_page(page: Any, p: PdfParams) -> OcrText:
    """Render a pdfplumber page at ``p.ocr_dpi`` and read it with Tesseract."""
    import pytesseract

    image = page.to_image(resolution=p.ocr_dpi).original
    data = pytesseract.image_to_data(image, lang=p.ocr_lang, output_type=pytesseract.Output.DICT)
    paragraphs: dict[tuple[int, int], dict[int, list[str]]] = {}
    confidences: list[float] = []
    for i, word in enumerate(data["text"]):
        word = word.strip()
        if not word:
            continue
        conf = float(data["conf"][i])
        if conf >= 0:
            confidences.append(conf)
        key = (int(data["block_num"][i]), int(data["par_num"][i]))
        paragraphs.setdefault(key, {}).setdefault(int(data["line_num"][i]), []).append(word)
    out = []
    for lines in paragraphs.values():
        text = ""
        for n in sorted(lines):
            line = " ".join(lines[n])
            hyphenated = text.endswith("-") and line[:1].islower()  # "min-" + "eral"
            text = text[:-1] + line if hyphenated else f"{text} {line}".strip()
        out.append(text)
    mean = sum(confidences) / len(confidences) if confidences else None
    return OcrText(out, mean)
