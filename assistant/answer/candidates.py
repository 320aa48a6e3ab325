"""Candidates: the answer-worthy units of the retrieved passages, each a verbatim slice.

A unit is a sentence; a list's lead-in ("… includes the following:") together with its items; a
run of short lines (a signature block, an address); or a table row, scored together with the
lines above the table (its column headers). Headings are no answers, but the heading above a
unit is kept as its section, which says what the unit is about.

Every unit is attributed to the best-ranked passage that holds it whole, so a citation quote is
always a substring of the passage it cites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.answer.text import WORD, YEAR, terms, word_count
from assistant.chunking import sentence_spans
from assistant.types import Hit

_BULLET = re.compile(r"^\s*(?:[-•●▪◦*–]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")
_ROW_TOKEN = re.compile(r"[-–—>$(]*\d[\d,.%]*\)?|[—–-]|NA|n/a|W|E|X")


@dataclass
class Candidate:
    """One unit. ``hit``: index into the passages; ``start``: offset in the document; ``text``:
    the verbatim unit; ``scoring``: the text scored (a row with its headers, else ``text``);
    ``section``: the heading above it; ``before``: the unit just before it (context)."""

    hit: int
    start: int
    text: str
    scoring: str
    terms: frozenset[str]
    section: str = ""
    before: str = ""
    row: bool = False
    items: int = 0  # list items joined to a lead-in
    block: bool = False  # a run of short lines
    order: int = 0  # position among the candidates of its document stretch
    extras: dict[str, float] = field(default_factory=dict)


_DATE_ONLY = re.compile(
    r"\W*(?:[A-Z][a-z]+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?|\d{1,2}(?:st|nd|rd|th)?\s+[A-Z][a-z]+\.?)\s+\d{4}\W*"
)


def is_table_row(line: str) -> bool:
    """A line most of whose tokens are figures or table symbols ("China 255,000 270,000 44,000,000");
    a line that is only a date ("April 24, 2025.") is none."""
    if _DATE_ONLY.fullmatch(line.strip()):
        return False
    tokens = line.split()
    numeric = sum(1 for t in tokens if _ROW_TOKEN.fullmatch(t))
    return numeric >= 2 and numeric >= 0.4 * len(tokens)


def is_header_row(line: str) -> bool:
    """A table header: a short line whose figures are all years ("2023 2024", "FY 2024 FY 2025")."""
    figures = re.findall(r"\d[\d,.]*", line)
    if not figures or not all(YEAR.fullmatch(x) for x in figures):
        return False
    words = word_count(line)
    return len(figures) >= 0.3 * words or (words < 12 and not re.search(r"[.!?]$", line.strip()))


def is_heading(line: str, title: str = "", first: bool = False) -> bool:
    """A title or heading: says what follows, answers nothing. Such a line repeats the document
    title, or lacks final punctuation and is short, or is capitalised like a title."""
    s = line.strip()
    if not s:
        return True
    low = s.lower().rstrip(".:")
    if title and (low == title.lower().rstrip(".:") or (len(low) > 8 and low in title.lower())):
        return True
    words = WORD.findall(s)
    if re.search(r"[!?;:]$", s) or (s.endswith(".") and len(words) >= 10):
        return False
    long_words = [w for w in words if len(w) > 3]
    title_case = bool(long_words) and sum(w[0].isupper() for w in long_words) >= 0.7 * len(long_words)
    if s.endswith("."):
        return title_case and len(words) < 10
    if first or (len(words) < 12 and not re.search(r"\d", s)):
        return True
    return title_case and "\n" not in s


def _segments(passages: list[Hit]) -> list[tuple[str, int, str]]:
    """Contiguous stretches of document text covered by the passages: ``(doc_id, start, text)``.
    Chunks are exact slices of their document, so overlapping ones join without seams."""
    by_doc: dict[str, list[Hit]] = {}
    for h in passages:
        by_doc.setdefault(h.doc_id, []).append(h)
    out: list[tuple[str, int, str]] = []
    for doc_id, items in by_doc.items():
        items.sort(key=lambda h: h.start_char)
        start, text = items[0].start_char, items[0].text
        for h in items[1:]:
            end = start + len(text)
            if h.start_char <= end:
                text += h.text[end - h.start_char :] if h.end_char > end else ""
            else:
                out.append((doc_id, start, text))
                start, text = h.start_char, h.text
        out.append((doc_id, start, text))
    return out


def _short(line: str) -> bool:
    return word_count(line) < 6 and not is_table_row(line)


def units(text: str, max_items: int = 8, max_words: int = 120) -> list[tuple[int, int, str]]:
    """``(start, end, shape)`` units of ``text``: sentences; a lead-in ending in ":" with the item
    lines that follow it (``shape="list"``, at most ``max_items`` items and ``max_words`` words); a
    run of short lines (``"block"``); else ``"sentence"``."""
    spans = sentence_spans(text)
    out: list[tuple[int, int, str]] = []

    def adjacent(j: int) -> bool:
        """Span ``j + 1`` starts the next line, with at most one blank line between."""
        if j + 1 >= len(spans):
            return False
        gap = text[spans[j][1] : spans[j + 1][0]]
        return "\n" in gap and gap.count("\n") <= 2

    i = 0
    while i < len(spans):
        a, b = spans[i]
        line = text[a:b]
        if line.rstrip().endswith(":") and adjacent(i):
            j, words = i, word_count(line)
            bulleted = bool(_BULLET.match(text[text.rfind("\n", 0, spans[i + 1][0]) + 1 : spans[i + 1][1]]))
            while j + 1 < len(spans) and adjacent(j) and j - i < max_items:
                nxt = text[spans[j + 1][0] : spans[j + 1][1]]
                line_start = text.rfind("\n", 0, spans[j + 1][0]) + 1
                if bulleted and not _BULLET.match(text[line_start : spans[j + 1][1]]):
                    break  # the list ended where its bullets did
                if nxt.rstrip().endswith(":") or is_table_row(nxt) or words + word_count(nxt) > max_words:
                    break  # a table's rows stay rows, scored with their headers
                words += word_count(nxt)
                j += 1
            if j > i:
                out.append((a, spans[j][1], "list"))
                i = j + 1
                continue
        if _short(line) and adjacent(i) and _short(text[spans[i + 1][0] : spans[i + 1][1]]):
            j = i
            while j + 1 < len(spans) and adjacent(j) and _short(text[spans[j + 1][0] : spans[j + 1][1]]):
                j += 1
            if j - i >= 2:
                out.append((a, spans[j][1], "block"))
                i = j + 1
                continue
        out.append((a, b, "sentence"))
        i += 1
    return out


def candidates(passages: list[Hit], min_words: int = 4) -> list[Candidate]:
    """Distinct answer-worthy units of ``passages`` (see the module docstring)."""
    order = sorted(range(len(passages)), key=lambda i: (passages[i].rank == 0, passages[i].rank))
    out: list[Candidate] = []
    for doc_id, seg_start, text in _segments(passages):
        header: list[str] = []
        section = ""
        before = ""
        in_table = False
        n = 0
        for a, b, shape in units(text):
            s = text[a:b]
            start, end = seg_start + a, seg_start + b
            owner = next(
                (
                    i
                    for i in order
                    if passages[i].doc_id == doc_id
                    and passages[i].start_char <= start
                    and end <= passages[i].end_char
                ),
                None,
            )
            row = shape == "sentence" and is_table_row(s) and not is_header_row(s)
            if not row:
                if in_table:
                    header = []
                header = [*header[-2:], s[:200]]
                in_table = False
            else:
                in_table = True
            if owner is None and shape in ("list", "block"):
                # a list that runs past the end of its passage keeps the items its passage holds
                owner = next(
                    (
                        i
                        for i in order
                        if passages[i].doc_id == doc_id
                        and passages[i].start_char <= start < passages[i].end_char
                    ),
                    None,
                )
                if owner is not None:
                    limit = passages[owner].end_char - seg_start
                    ends_line = limit >= len(text) or text[limit] == "\n"
                    cut = limit if ends_line else text.rfind("\n", a, limit)
                    if cut > a and "\n" in text[a:cut].strip():
                        b = a + len(text[a:cut].rstrip())
                        s, end = text[a:b], seg_start + b
                    else:
                        owner = None
            if owner is None:
                before = s
                continue
            if shape == "sentence" and not row:
                if is_header_row(s):
                    continue
                first = start == 0
                if is_heading(s, passages[owner].title, first):
                    section = s.strip()[:200]
                    continue
                if word_count(s) < min_words or (s.rstrip().endswith(":") and word_count(s) < 12):
                    before = s
                    continue
            scoring = (" ".join(header[-3:]) + " " + s) if row else s
            items = len([ln for ln in s.splitlines()[1:] if ln.strip()]) if shape == "list" else 0
            out.append(
                Candidate(
                    hit=owner,
                    start=start,
                    text=s,
                    scoring=scoring,
                    terms=frozenset(terms(scoring)),
                    section=section,
                    before=before,
                    row=row,
                    items=items,
                    block=shape == "block",
                    order=n,
                )
            )
            n += 1
            before = s
    return out


def clean_quote(text: str) -> str:
    """A unit as shown in an answer, on one line: bullets dropped; a list's items after its lead-in
    separated by semicolons; other line breaks as spaces."""
    lines = [_BULLET.sub("", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if len(lines) > 1 and lines[0].endswith(":"):
        items = [ln.rstrip(";,.") for ln in lines[1:]]
        return re.sub(r"\s+", " ", f"{lines[0]} {'; '.join(items)}.")
    return re.sub(r"\s+", " ", " ".join(lines))


def unit_texts(text: str, title: str = "") -> list[str]:
    """The scoring texts of the candidate units of one passage text on its own (what ingestion
    embeds ahead of questions, so an answer finds its units' vectors stored)."""
    passage = Hit(
        rank=1,
        score=1.0,
        text=text,
        doc_id="",
        title=title,
        publisher="",
        url=None,
        date=None,
        page=None,
        chunk_id="",
        start_char=0,
        end_char=len(text),
    )
    return [c.scoring for c in candidates([passage])]
