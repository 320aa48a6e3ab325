"""Reading a model's reply: JSON or plain text with ``[n]`` markers, and runaway output cut.

:func:`parse_reply` turns either reply form of :mod:`assistant.answer.prompts` into
:class:`Claim` s (a sentence and the source numbers it cites), whatever form was asked for: a
server may ignore ``response_format``, and a reply cut by the token cap may end mid-JSON (the
complete sentence objects are kept). :func:`cut_runaway` cuts a reply that loops ("Source 6: …,
Source 7: …" up to the token cap). :class:`JsonPreview` shows a streamed JSON reply sentence by
sentence.

Text replies: a marker ``[k]`` (also ``[1, 2]``, ``[1-3]``, ``[Source 2]``) belongs to the
sentence it ends (a marker opening a sentence, as in ``…rose. [1] Next``, belongs to the previous
one); ``<think>…</think>`` and a trailing "Sources:" list are ignored; :data:`NOT_IN_SOURCES`
anywhere says the model found (part of) the question unanswered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from assistant.answer.base import content_words
from assistant.chunking import sentence_spans

MARKER_GROUP = re.compile(
    r"[ \t]*\[\s*(?:sources?\s*)?\d{1,3}(?:\s*(?:,|;|-|–|and|&)\s*(?:sources?\s*)?\d{1,3})*\s*\]",
    re.IGNORECASE,
)
THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
SENTINEL = re.compile(r"\bNOT[_ ]IN[_ ]SOURCES\b\.?", re.IGNORECASE)
_REFERENCES = re.compile(
    r"\n\s*(?:#+\s*)?\**(?:sources|references|citations)\**\s*:?\**\s*\n.*\Z", re.DOTALL | re.IGNORECASE
)
_OBJECT = re.compile(r"\{[^{}]*\}")  # a sentence object of a JSON reply (no nested braces)
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)

RUNAWAY_NGRAM = 4
"""Words per n-gram compared (digits count as one symbol, so "Source 6:" = "Source 7:")."""
RUNAWAY_REPEATS = 4
"""An n-gram seen this often is a loop: the reply is cut where its previous occurrence starts."""
RUNAWAY_CHARS = 20
"""A character repeated this many times in a row ("======") is a loop too."""


@dataclass
class Claim:
    """One sentence of a reply (markers removed) and the valid source numbers it cites (1-based)."""

    text: str
    sources: list[int] = field(default_factory=list)


@dataclass
class ParsedReply:
    """A reply read: its claims, whether the model said the sources do not answer, markers that
    cite no source given (``invalid``), and the form it came in (``"json"`` or ``"text"``)."""

    claims: list[Claim]
    not_in_sources: bool = False
    invalid: list[int] = field(default_factory=list)
    form: str = "text"


def strip_markers(text: str) -> str:
    """``text`` without ``[n]`` markers."""
    return re.sub(r"[ \t]{2,}", " ", MARKER_GROUP.sub("", text)).strip()


def marker_numbers(group: str) -> list[int]:
    """``[1, 2]`` → [1, 2]; ``[2-4]`` → [2, 3, 4]; ``[Source 3]`` → [3]."""
    out: list[int] = []
    body = group.strip()[1:-1]
    for m in re.finditer(r"(\d{1,3})(?:\s*[-–]\s*(?:sources?\s*)?(\d{1,3}))?", body, re.IGNORECASE):
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        out.extend(range(a, b + 1) if a <= b <= a + 20 else [a, b] if m.group(2) else [a])
    return list(dict.fromkeys(out))


def _numbers(value: Any) -> list[int]:
    """Source numbers from a JSON value: ``[1, 2]``, ``2``, ``"2"``, ``"[2]"``."""
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for v in items:
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            out.append(v)
        elif isinstance(v, str):
            out.extend(int(d) for d in re.findall(r"\d{1,3}", v))
    return list(dict.fromkeys(out))


def parse_reply(reply: str, n_sources: int) -> ParsedReply:
    """The claims of ``reply`` for a prompt that gave ``n_sources`` numbered sources."""
    text = THINK.sub("", reply).strip()
    body = _FENCE.sub("", text).strip()
    if body.startswith("{"):
        parsed = _parse_json(body, n_sources)
        if parsed is not None:
            return parsed
    return _parse_text(text, n_sources)


def _parse_json(body: str, n_sources: int) -> ParsedReply | None:
    """A JSON reply (``None`` when it holds no recognisable answer: read it as text then)."""
    items: list[Any] = []
    try:
        data = json.loads(body)
    except json.JSONDecodeError:  # cut by the token cap, or malformed: keep the complete sentences
        for m in _OBJECT.finditer(body):
            try:
                items.append(json.loads(m.group(0)))
            except json.JSONDecodeError:
                continue
        items = [i for i in items if isinstance(i, dict) and "text" in i]
        if not items:
            return ParsedReply([], form="json") if '"sentences"' in body else None
    else:
        if isinstance(data, dict) and isinstance(data.get("sentences"), list):
            items = data["sentences"]
        elif isinstance(data, dict):  # {"answer": "… [1]"}: a model that ignored the schema
            strings = [v for v in data.values() if isinstance(v, str) and v.strip()]
            return _parse_text(" ".join(strings), n_sources) if strings else None
        else:
            return None
    out = ParsedReply([], form="json")
    for item in items:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            continue
        sentence = item["text"]
        numbers = _numbers(item.get("sources", item.get("source", [])))
        for g in MARKER_GROUP.finditer(sentence):  # markers written inside the text count too
            numbers.extend(n for n in marker_numbers(g.group(0)) if n not in numbers)
        if SENTINEL.search(sentence):
            out.not_in_sources = True
            sentence = SENTINEL.sub("", sentence)
        claim = _claim(strip_markers(sentence), numbers, n_sources, out.invalid)
        if claim is not None:
            out.claims.append(claim)
    if not items:
        out.not_in_sources = True
    return out


def _claim(sentence: str, numbers: list[int], n_sources: int, invalid: list[int]) -> Claim | None:
    sentence = " ".join(sentence.split())
    if not content_words(sentence):
        return None
    valid = [k for k in numbers if 1 <= k <= n_sources]
    invalid.extend(k for k in numbers if not 1 <= k <= n_sources and k not in invalid)
    return Claim(sentence, valid)


def _parse_text(text: str, n_sources: int) -> ParsedReply:
    out = ParsedReply([], form="text")
    text = _REFERENCES.sub("", "\n" + text).strip()
    if SENTINEL.search(text):
        out.not_in_sources = True
        text = re.sub(r"[ \t]{2,}", " ", SENTINEL.sub("", text)).strip()
    if not text:
        return out
    groups = list(MARKER_GROUP.finditer(text))
    spans = sentence_spans(text) or [(0, len(text))]
    numbers: list[list[int]] = [[] for _ in spans]
    for g in groups:
        pos = g.start() + (len(g.group(0)) - len(g.group(0).lstrip()))
        i = max((j for j, (a, _b) in enumerate(spans) if a <= pos), default=0)
        lead = MARKER_GROUP.sub("", text[spans[i][0] : pos]).strip()
        if not lead and i > 0:
            i -= 1  # "…rose 3%. [1] Next sentence": the marker closes the previous sentence
        for k in marker_numbers(g.group(0)):
            if k not in numbers[i]:
                numbers[i].append(k)
    for (a, b), nums in zip(spans, numbers, strict=True):
        claim = _claim(strip_markers(text[a:b]), nums, n_sources, out.invalid)
        if claim is not None:
            out.claims.append(claim)
    return out


def cut_runaway(text: str) -> tuple[str, bool]:
    """``text`` cut before it starts looping, and whether it was cut.

    A loop is an n-gram of :data:`RUNAWAY_NGRAM` words (digits as one symbol) seen
    :data:`RUNAWAY_REPEATS` times, or one character repeated :data:`RUNAWAY_CHARS` times; the
    text is cut where the loop's last full repetition before that starts, at a sentence or line
    end when there is one before it."""
    cut = len(text)
    run = re.search(rf"(\S)\1{{{RUNAWAY_CHARS - 1},}}", text)
    if run:
        cut = run.start()
    words = list(re.finditer(r"\S+", text[:cut]))
    norm = [re.sub(r"\d+", "#", w.group(0).lower()) for w in words]
    seen: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(norm) - RUNAWAY_NGRAM + 1):
        where = seen.setdefault(tuple(norm[i : i + RUNAWAY_NGRAM]), [])
        where.append(i)
        if len(where) == RUNAWAY_REPEATS:
            cut = words[where[-2]].start()
            break
    if cut >= len(text):
        return text, False
    head = text[:cut]
    end = max(head.rfind(". "), head.rfind("\n"), head.rfind("] "))
    if end > 0:
        head = head[: end + 1]
    return head.rstrip(" ,;:-"), True


class JsonPreview:
    """Shows a streamed JSON reply as text: each sentence object once it is complete."""

    def __init__(self) -> None:
        self.buffer = ""
        self.shown = 0

    def feed(self, delta: str) -> str:
        """The preview text of the sentences completed by ``delta`` ("" when none)."""
        self.buffer += delta
        found = list(_OBJECT.finditer(self.buffer))
        pieces = []
        for m in found[self.shown :]:
            try:
                item = json.loads(m.group(0))
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                marks = "".join(f"[{n}]" for n in _numbers(item.get("sources", item.get("source", []))))
                pieces.append(" ".join(item["text"].split()) + (f" {marks}" if marks else ""))
        self.shown = len(found)
        return "".join(p + " " for p in pieces)
