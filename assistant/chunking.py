"""Sentence-aware chunking sized in tiktoken tokens, with exact character spans.

Written by hand because LlamaIndex's ``SentenceSplitter`` rejoins splits and recovers offsets
with ``str.find``: a chunk's span is not guaranteed to be the exact slice of the document it came
from. Here every chunk is ``text[start:end]`` by construction, so citations can quote it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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
    """A chunk: ``text == document_text[start:end]``; ``page`` is set for PDF pages."""

    chunk_id: str
    index: int
    start: int
    end: int
    text: str
    page: int | None
    tokens: int


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


def chunk_document(
    doc_id: str,
    text: str,
    sections: list[tuple[int, int, int | None]],
    chunk_tokens: int = 200,
    overlap_tokens: int = 32,
) -> list[Chunk]:
    """Pack whole sentences into chunks of about ``chunk_tokens``; consecutive chunks share up to
    ``overlap_tokens`` of trailing sentences. Chunks never cross a section (PDF page).

    Chunk ids are ``<doc_id>#<index>-<hash of the chunk text>``: stable for unchanged text.
    """
    chunks: list[Chunk] = []
    for sec_start, sec_end, page in sections:
        units: list[tuple[int, int, int]] = []  # (start, end, tokens)
        for a, b in sentence_spans(text, sec_start, sec_end):
            n = count_tokens(text[a:b])
            if n > chunk_tokens:
                for pa, pb in _split_long(text, a, b, chunk_tokens):
                    units.append((pa, pb, count_tokens(text[pa:pb])))
            else:
                units.append((a, b, n))
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and (j == i or total + units[j][2] <= chunk_tokens):
                total += units[j][2]
                j += 1
            start, end = units[i][0], units[j - 1][1]
            body = text[start:end]
            digest = hashlib.sha1(body.encode()).hexdigest()[:12]
            idx = len(chunks)
            chunks.append(Chunk(f"{doc_id}#{idx}-{digest}", idx, start, end, body, page, total))
            if j >= len(units):
                break
            # step back over trailing sentences that fit in the overlap
            k, back = j, 0
            while k - 1 > i and back + units[k - 1][2] <= overlap_tokens:
                back += units[k - 1][2]
                k -= 1
            i = k
    return chunks
