"""Typed result objects returned by the public API.

Each ``to_dict()`` returns exactly the JSON shape of ``INTERFACE.md`` (plus documented extras).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

AnswerStatus = Literal["answered", "partial", "refused"]


@dataclass(frozen=True)
class Hit:
    """One retrieved passage.

    Shape: ``{"rank": int (1-based), "score": float (higher is better), "doc_id": str,
    "title": str, "publisher": str, "url": str | None, "date": str | None,
    "page": int | None (PDF page, 1-based), "chunk_id": str, "start_char": int,
    "end_char": int, "text": str}``. ``text == document_text[start_char:end_char]`` of the
    cleaned document. ``dense_score`` (cosine similarity, or None when the passage came
    from BM25 only) and ``bm25_score`` are extras used by the answerer's relevance check.
    """

    rank: int
    score: float
    text: str
    doc_id: str
    title: str
    publisher: str
    url: str | None
    date: str | None
    page: int | None
    chunk_id: str
    start_char: int
    end_char: int
    dense_score: float | None = None
    bm25_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``search --json`` shape."""
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """The passage behind one ``[n]`` marker.

    Shape: ``{"n": int, "doc_id", "title", "publisher", "url", "date", "page",
    "chunk_id", "start_char", "end_char", "quote"}``. ``start_char``/``end_char`` locate the
    passage (chunk) in the cleaned document; ``quote`` is the exact supporting text and is a
    substring of that passage; ``quote_start``/``quote_end`` locate the quote in the document.
    ``supported`` is False when a generative answer's sentence was not found in the passage.
    """

    n: int
    doc_id: str
    title: str
    publisher: str
    url: str | None
    date: str | None
    page: int | None
    chunk_id: str
    start_char: int
    end_char: int
    quote: str
    quote_start: int | None = None
    quote_end: int | None = None
    passage: str = ""
    supported: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The ``ask --json`` citation shape."""
        return asdict(self)


@dataclass
class Answer:
    """An answer with inline ``[n]`` markers numbered 1, 2, 3... by first appearance.

    Shape of ``to_dict()``: ``{"question", "answer", "status": "answered"|"partial"|"refused",
    "refused": bool, "not_stated": [str], "citations": [Citation], "hits": [Hit], "backend": str,
    "latency_ms": float, "standalone_question": str, "warnings": [str], "grounding": dict | None}``.
    Every marker in ``text`` has exactly one entry in ``citations``. ``refused`` is true exactly
    when ``status == "refused"``; a ``partial`` answer names in ``not_stated`` the asked items the
    documents do not state. ``grounding`` (generative backends) summarises the support check.
    """

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    hits: list[Hit] = field(default_factory=list)
    backend: str = "extractive"
    latency_ms: float = 0.0
    standalone_question: str = ""
    warnings: list[str] = field(default_factory=list)
    status: AnswerStatus = "answered"
    not_stated: list[str] = field(default_factory=list)
    grounding: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.refused:
            self.status = "refused"
        self.refused = self.status == "refused"

    def to_dict(self) -> dict[str, Any]:
        """The ``ask --json`` shape."""
        return {
            "question": self.question,
            "answer": self.text,
            "status": self.status,
            "refused": self.refused,
            "not_stated": list(self.not_stated),
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
            "backend": self.backend,
            "latency_ms": round(self.latency_ms, 1),
            "standalone_question": self.standalone_question,
            "warnings": list(self.warnings),
            "grounding": self.grounding,
        }


@dataclass
class Retrieval:
    """Hits plus the evidence signals an answerer uses to decide whether to refuse.

    ``top_dense``: highest cosine similarity of any dense candidate (0..1).
    ``query_terms``: the query's content terms (stemmed, stop words removed).
    ``matched_terms``: those found in the corpus vocabulary; ``rare_matched``: matched terms
    that are rare in the corpus (document frequency under 5% of chunks), i.e. specific.
    ``unknown_specifics``: names or figures of the query found nowhere in the corpus.
    ``unknown_names``: multi-word names of the query whose words occur together in no chunk of the
    corpus (``Settings.name_slack``): what the documents never discuss.
    ``context``: further passages of the retrieved documents (neighbours), rank 0.
    ``term_idf``: corpus inverse document frequency of the query's stemmed content terms
    (:func:`assistant.answer.text.terms`); a term in no chunk has the highest value.
    """

    hits: list[Hit]
    top_dense: float = 0.0
    query_terms: list[str] = field(default_factory=list)
    matched_terms: list[str] = field(default_factory=list)
    rare_matched: list[str] = field(default_factory=list)
    unknown_specifics: list[str] = field(default_factory=list)
    unknown_names: list[str] = field(default_factory=list)
    context: list[Hit] = field(default_factory=list)
    term_idf: dict[str, float] = field(default_factory=dict)

    @property
    def passages(self) -> list[Hit]:
        """The hits followed by their neighbouring chunks (context an answer may quote)."""
        return self.hits + self.context

    @property
    def term_coverage(self) -> float:
        """Share of the query's content terms that occur in the corpus at all."""
        return len(self.matched_terms) / len(self.query_terms) if self.query_terms else 0.0


@dataclass
class Draft:
    """A backend's output before numbering: text with ``{{cite:i}}`` placeholders where ``i``
    indexes ``quotes`` (passage index, quote text, quote start in the document, supported).

    ``status``/``not_stated``: what the answerability check found (``refused`` is kept equal to
    ``status == "refused"``). ``warnings``: problems found in the answer. ``grounding``: a
    generative backend's support-check summary (sentences kept/dropped, fallback)."""

    text: str
    quotes: list[tuple[int, str, int | None, bool]]
    refused: bool = False
    warnings: list[str] = field(default_factory=list)
    status: AnswerStatus = "answered"
    not_stated: list[str] = field(default_factory=list)
    grounding: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.refused:
            self.status = "refused"
        self.refused = self.status == "refused"


@dataclass
class FailedDocument:
    """A document that could not be ingested: its path and why."""

    path: str
    reason: str


@dataclass
class FileReport:
    """What one file gave: ``{"path", "pages", "chunks", "tables", "ocr_pages", "warnings"}``."""

    path: str
    pages: int | None = None
    chunks: int = 0
    tables: int = 0
    ocr_pages: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """Summary of one ingest run; ``to_dict()`` is the ``ingest --json`` shape."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[FailedDocument] = field(default_factory=list)
    chunks_written: int = 0
    seconds: float = 0.0
    files: list[FileReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no document failed."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """``{"added", "updated", "unchanged", "removed", "failed": [{"path", "reason"}],
        "chunks_written", "seconds", "files": [FileReport]}``."""
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


class AssistantError(Exception):
    """A user-facing error: the message says what is wrong and what to do."""
