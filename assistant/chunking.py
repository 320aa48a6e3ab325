"""Sentence-aware chunking sized in tiktoken tokens, with exact character spans.

Written by hand because LlamaIndex's ``SentenceSplitter`` rejoins splits and recovers offsets
with ``str.find``: a chunk's span is not guaranteed to be the exact slice of the document it came
from. Here every chunk is ``text[start:end]`` by construction, so citations can quote it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "sec",
    "secs",
    "no",
    "nos",
    "vol",
    "fig",
    "figs",
    "p",
    "pp",
    "art",
    "arts",
    "para",
    "ch",
    "inc",
    "co",
    "corp",
    "ltd",
    "llc",
    "dept",
    "gov",
    "gen",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "e.g",
    "i.e",
    "vs",
    "al",
    "approx",
    "est",
    "u.s",
    "u.k",
    "u.n",
    "e.o",
    "d.c",
    "h.r",
    "s",
    "cf",
    "ca",
    "mt",
    "u.s.c",
    "c.f.r",
    "stat",
    "pub",
    "l",
    "f.r",
}
_SENT_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+(?:[\"'“‘(\[]?[A-Z0-9•\-–—]))")


def ensure_tiktoken_cache() -> None:
    """Point tiktoken at the encodings llama-index-core ships, so nothing is downloaded."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return
    import importlib.util

    # located, not imported: importing llama_index.core costs 1.5-2 s on the query path
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or spec.origin is None:
        return
    cache = Path(spec.origin).parent / "_static" / "tiktoken_cache"
    if cache.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


@lru_cache(maxsize=1)
def _encoding():  # type: ignore[no-untyped-def]
    ensure_tiktoken_cache()
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens of ``text`` in cl100k_base."""
    return len(_encoding().encode(text, disallowed_special=()))


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` spans of the sentences of ``text[start:end]``; line breaks always end one.

    A period after a known abbreviation, an initial ("J.") or a number does not end a sentence.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + m.start()
        line = m.group(0)
        cut = 0
        for s in _SENT_END.finditer(line):
            before = line[cut : s.start() + 1]
            word = re.search(r"([A-Za-z][A-Za-z.]*)\.$", before)
            if s.group(0).startswith(".") and word:
                w = word.group(1).lower()
                if w in ABBREVIATIONS or len(w) == 1:
                    continue
            _add_span(spans, line, line_start, cut, s.end())
            cut = s.end()
        _add_span(spans, line, line_start, cut, len(line))
    return spans


def _add_span(spans: list[tuple[int, int]], line: str, offset: int, a: int, b: int) -> None:
    seg = line[a:b]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    if b - trail > a + lead:
        spans.append((offset + a + lead, offset + b - trail))


@dataclass(frozen=True)
class Chunk:
    """A chunk: ``text == document_text[start:end]``; ``page`` is set for paged formats (PDF
    page, slide, sheet); ``kind`` is its section's kind (``"table"``, ``"ocr"`` or None)."""

    chunk_id: str
    index: int
    start: int
    end: int
    text: str
    page: int | None
    tokens: int
    kind: str | None = None


def _split_long(text: str, a: int, b: int, max_tokens: int) -> Iterator[tuple[int, int]]:
    """Split one over-long sentence at word boundaries into pieces of at most max_tokens."""
    words = list(re.finditer(r"\S+", text[a:b]))
    piece_start = None
    tokens = 0
    last_end = a
    for w in words:
        n = count_tokens(w.group(0)) + 1
        if piece_start is None:
            piece_start = a + w.start()
        elif tokens + n > max_tokens:
            yield piece_start, last_end
            piece_start, tokens = a + w.start(), 0
        tokens += n
        last_end = a + w.end()
    if piece_start is not None:
        yield piece_start, last_end


def _row_units(text: str, a: int, b: int, max_tokens: int) -> Iterator[tuple[int, int, int]]:
    """The rows of a table section, one unit each; a row over ``max_tokens`` is cut between its
    cells ("; "), and a cell over it between words."""
    for m in re.finditer(r"[^\n]+", text[a:b]):
        start, end = a + m.start(), a + m.end()
        n = count_tokens(text[start:end])
        if n <= max_tokens:
            yield start, end, n
            continue
        cells = [start] + [start + c.end() for c in re.finditer(r"; ", text[start:end])] + [end + 2]
        piece, tokens = cells[0], 0
        for c0, c1 in itertools.pairwise(cells):
            cell_end = c1 - 2
            k = count_tokens(text[c0:cell_end]) + 1
            if tokens and tokens + k > max_tokens:
                yield from _pieces(text, piece, c0 - 2, max_tokens)
                piece, tokens = c0, 0
            tokens += k
        yield from _pieces(text, piece, end, max_tokens)


def _pieces(text: str, a: int, b: int, max_tokens: int) -> Iterator[tuple[int, int, int]]:
    n = count_tokens(text[a:b])
    if n <= max_tokens:
        yield a, b, n
    else:
        for pa, pb in _split_long(text, a, b, max_tokens):
            yield pa, pb, count_tokens(text[pa:pb])


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    kind: str | None  # the kind of the section it came from
    table: int  # index of its table section; -1 for a sentence


def _page_groups(sections: Sequence[Sequence[Any]]) -> Iterator[list[Sequence[Any]]]:
    """Consecutive sections of the same page."""
    group: list[Sequence[Any]] = []
    for section in sections:
        if group and group[-1][2] != section[2]:
            yield group
            group = []
        group.append(section)
    if group:
        yield group


def chunk_document(
    doc_id: str,
    text: str,
    sections: Sequence[Sequence[Any]],
    chunk_tokens: int = 200,
    overlap_tokens: int = 32,
) -> list[Chunk]:
    """Pack whole sentences into chunks of about ``chunk_tokens``; consecutive chunks share up to
    ``overlap_tokens`` of trailing sentences. Chunks never cross a page (a chunk holds units of
    consecutive sections of one page only).

    ``sections`` are ``(start, end, page)`` or ``(start, end, page, kind)``. A ``"table"``
    section holds one row a line (each row carries its column headers): a row is never split
    (unless it alone is over budget: then between its cells), a table that fits in one chunk is
    never split across two, and chunks share no table rows. A chunk's ``kind`` is ``"table"``
    when it holds table rows, else the kind of its sections (``"ocr"``).

    Chunk ids are ``<doc_id>#<index>-<hash of the chunk text>``: stable for unchanged text.
    """
    chunks: list[Chunk] = []
    for group in _page_groups(sections):
        page = group[0][2]
        units: list[_Unit] = []
        table_tokens: dict[int, int] = {}
        for n, section in enumerate(group):
            kind = section[3] if len(section) > 3 else None
            if kind == "table":
                for a, b, t in _row_units(text, section[0], section[1], chunk_tokens):
                    units.append(_Unit(a, b, t, kind, n))
                    table_tokens[n] = table_tokens.get(n, 0) + t
            else:
                for a, b in sentence_spans(text, section[0], section[1]):
                    units.extend(
                        _Unit(pa, pb, t, kind, -1) for pa, pb, t in _pieces(text, a, b, chunk_tokens)
                    )
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and (j == i or total + units[j].tokens <= chunk_tokens):
                u = units[j]
                starts_table = u.table >= 0 and (j == 0 or units[j - 1].table != u.table)
                if (
                    j > i
                    and starts_table
                    and total + table_tokens[u.table] > chunk_tokens >= table_tokens[u.table]
                ):
                    break  # the table fits in a chunk of its own: keep it together
                total += u.tokens
                j += 1
            start, end = units[i].start, units[j - 1].end
            body = text[start:end]
            digest = hashlib.sha1(body.encode()).hexdigest()[:12]
            kinds = {u.kind for u in units[i:j]}
            kind = "table" if "table" in kinds else next((k for k in kinds if k), None)
            idx = len(chunks)
            chunks.append(Chunk(f"{doc_id}#{idx}-{digest}", idx, start, end, body, page, total, kind))
            if j >= len(units):
                break
            # step back over trailing sentences (never table rows) that fit in the overlap
            k, back = j, 0
            while k - 1 > i and units[k - 1].table < 0 and back + units[k - 1].tokens <= overlap_tokens:
                back += units[k - 1].tokens
                k -= 1
            i = k
    return chunks
