"""Cleaning of text formats: what a reader would not call content is removed (web boilerplate,
HTML markup and entities, markdown syntax, hard line wraps, odd characters)."""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from assistant.loaders.base import LoadError

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


def normalise_chars(text: str) -> str:
    """NFC, no zero-width or control characters, ``\n`` line ends, plain spaces."""
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
    text = normalise_chars(text)
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
    text = normalise_chars(text)
    text = _MD_COMMENT.sub("", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _MD_LINK.sub(r"\1", text)
    text = re.sub(r"^\s*[-*_]{3,}\s*$", "", text, flags=re.MULTILINE)  # horizontal rules
    text = _MD_EMPH.sub("", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!$|>])", r"\1", text)
    text = re.sub(r"^(\s*)[-*+]\s{2,}", r"\1- ", text, flags=re.MULTILINE)
    text = re.sub(r"^(#{1,6})\s*", "", text, flags=re.MULTILINE)  # headings become plain lines
    return _finish(normalise_chars(text))


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
    return _finish(normalise_chars("".join(parser.parts)))


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
