"""``Assistant``: the Python API that the CLI, the UI and the eval harness share."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.config import Backend, RetrievalMode, Settings
from assistant.types import Answer, AssistantError, Hit, IngestReport

MAX_QUESTION_CHARS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_question(question: Any) -> str:
    """Validate a question: a clear :class:`AssistantError` for empty or oversized input."""
    if not isinstance(question, str):
        raise AssistantError("the question must be text")
    q = _CONTROL.sub(" ", question).strip()
    q = re.sub(r"\s+", " ", q)
    if not q:
        raise AssistantError("the question is empty; type a question about the documents")
    if len(q) > MAX_QUESTION_CHARS:
        raise AssistantError(
            f"the question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. Shorten it."
        )
    return q


def refusal_text(question: str, hits: list[Hit], not_stated: list[str] | None = None) -> str:
    """The wording of a refusal: what is not stated, and the closest documents."""
    from assistant.answer.base import not_answered

    titles = list(dict.fromkeys(h.title for h in hits))[:3]
    text = not_answered(not_stated or [question])
    if titles:
        text += " The closest documents are: " + "; ".join(titles) + "."
    return text


class Assistant:
    """Answers questions from one index with cited passages.

    Open with :meth:`open`; the instance is safe to share between threads.
    """

    def __init__(self, settings: Settings, index_dir: Path, embedder: Any = None) -> None:
        from assistant.catalogue import CatalogueReader
        from assistant.embedders import open_embedder
        from assistant.embedding import as_embedder
        from assistant.retrieval import Retriever

        self.settings = settings
        self.index_dir = index_dir
        self._injected = embedder is not None
        self.embedder = as_embedder(embedder) if embedder is not None else open_embedder(settings, "query")
        self.retriever = Retriever(settings, index_dir, self.embedder)
        self._catalogue = CatalogueReader(index_dir)
        self._ingest_embedder: Any = None
        self._backends: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, index_dir: str | Path | None = None, settings: Settings | None = None, *, embedder: Any = None
    ) -> Assistant:
        """Open (or create, empty) the index at ``index_dir`` (default ``settings.index_dir``).

        ``embedder`` replaces the configured one (``settings.embed_backend``) for queries and
        ingestion: an :class:`assistant.embedding.Embedder`, or any object with ``encode(texts)``,
        ``model_id`` and ``dim`` (several assistants can share one loaded model this way). Questions
        to an index built with another ``model_id`` or dimension, and ingests into it without
        ``rebuild``, raise an :class:`AssistantError` naming both models and the fix.
        """
        settings = settings or Settings()
        path = Path(index_dir) if index_dir is not None else settings.index_dir
        if index_dir is not None and Path(index_dir) != settings.index_dir:
            settings = settings.model_copy(update={"index_dir": path})
        return cls(settings, path, embedder)

    # ------------------------------------------------------------------ ingestion

    def ingest(
        self, path: str | Path | None = None, *, rebuild: bool = False, progress: bool = False
    ) -> IngestReport:
        """Bring the index in line with the corpus folder ``path`` (default ``settings.corpus_dir``).

        The index records the embedder that built it (``embedder.json``); an index built with
        another model is refused unless ``rebuild``."""
        from assistant.embedding import check_compatible
        from assistant.ingest import ingest
        from assistant.store import read_embedder_record, write_embedder_record

        corpus = Path(path) if path is not None else self.settings.corpus_dir
        embedder = self.ingest_embedder()
        record = read_embedder_record(self.index_dir)
        if not rebuild:
            check_compatible(record, embedder, self.index_dir)
        if record is None:  # a new index (or one from before records): say now what builds it
            write_embedder_record(self.index_dir, embedder.identity())
        report = ingest(corpus, self.index_dir, self.settings, embedder, rebuild=rebuild, progress=progress)
        if embedder.backend == "torch" and self.embedder.backend == "onnx":
            from assistant.onnx_embedder import export

            export(self.settings)  # once, while torch is loaded anyway: later queries need no torch
        if record is not None and record != embedder.identity():
            write_embedder_record(self.index_dir, embedder.identity())
        if self.settings.sentence_vectors:
            self.store_sentences(rebuild=rebuild)
        return report

    def store_sentences(self, *, rebuild: bool = False) -> int:
        """Embed the sentences of committed chunks that the index's sentence store lacks (what
        ingest does when ``settings.sentence_vectors``); returns how many were added. Skipped
        while another ingest holds the lock: that one fills the store when it finishes."""
        from assistant.postprocessors import ScoredChunk
        from assistant.sentence_store import chunk_sentences, fill
        from assistant.store import IndexBusyError, index_lock

        snap = self.retriever.snapshot()
        if snap is None:
            return 0
        corpus = snap.retriever.corpus
        texts = [ScoredChunk.from_stored(cid, c).text for cid, c in zip(snap.node_ids, corpus, strict=True)]
        try:
            with index_lock(self.index_dir):
                return fill(self.index_dir, chunk_sentences(texts), self.ingest_embedder(), rebuild=rebuild)
        except IndexBusyError:
            return 0

    def ingest_embedder(self) -> Any:
        """The embedder ingestion uses: the injected one, else :func:`~assistant.embedders.open_embedder`
        for ingestion (the query embedder when they are the same kind)."""
        from assistant.embedders import open_embedder

        if self._injected:
            return self.embedder
        with self._lock:
            if self._ingest_embedder is None:
                candidate = open_embedder(self.settings, "ingest")
                same = type(candidate) is type(self.embedder)
                self._ingest_embedder = self.embedder if same else candidate
            return self._ingest_embedder

    def documents(self) -> list[dict[str, Any]]:
        """The ingested documents, sorted by doc_id, from the index's catalogue:
        ``{"doc_id", "title", "publisher", "date", "url", "kind", "chunks", "pages"}``."""
        return self._catalogue.current().documents()

    # ------------------------------------------------------------------ retrieval

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        mode: RetrievalMode | None = None,
    ) -> list[Hit]:
        """Top-``k`` passages for ``query``, best first, as :class:`~assistant.types.Hit` (rank from 1).

        ``doc_ids`` restricts to those documents; ``date_from``/``date_to`` (YYYY[-MM[-DD]],
        inclusive) to documents dated in that range; ``mode`` is hybrid, dense or bm25.
        """
        q = clean_question(query)
        return self.retriever.retrieve(q, k, doc_ids, date_from, date_to, mode).hits

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        """Normalised embeddings of ``texts`` (used by the eval harness)."""
        return [list(map(float, v)) for v in self.embedder.encode(texts)]

    # ------------------------------------------------------------------ answers

    def backend(self, name: Backend | None = None) -> Any:
        """The answer backend called ``name`` (default ``settings.backend``), created once from
        :mod:`assistant.answer.registry`."""
        from assistant.answer import registry

        name = name or self.settings.backend
        with self._lock:
            if name not in self._backends:
                from assistant.sentence_store import SentenceStore, StoredSentences

                # sentence vectors stored at ingest first, the shared embedder for the rest
                embedder = self.embedder
                if self.settings.sentence_vectors:
                    embedder = StoredSentences(
                        self.embedder, SentenceStore(self.index_dir, self.embedder.model_id)
                    )
                self._backends[name] = registry.create(name, self.settings, embedder)
            return self._backends[name]

    def ask(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        backend: Backend | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Answer:
        """Answer ``question`` with ``[n]`` citations (see :class:`~assistant.types.Answer`)."""
        answer: Answer | None = None
        for item in self.stream(question, history, k, doc_ids, backend, date_from, date_to):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        backend: Backend | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield text deltas of the answer, then the final :class:`~assistant.types.Answer`.

        The final ``Answer.text`` is authoritative: a generative answer's markers are renumbered
        after the post-check, so a UI replaces the streamed text with it.
        """
        from assistant.answer.base import Draft, number_citations

        started = time.perf_counter()
        q = clean_question(question)
        hist = _bounded_history(history or [], self.settings.history_tokens)
        engine = self.backend(backend)
        standalone = engine.condense(q, hist) if hist else q
        retrieval = self.retriever.retrieve(standalone, k, doc_ids, date_from, date_to)
        draft: Draft | None = None
        streamed = False
        for item in engine.generate(standalone, retrieval, hist):
            if isinstance(item, Draft):
                draft = item
            elif item:
                streamed = True
                yield item
        assert draft is not None, "a backend must end with a Draft"
        warnings = list(draft.warnings)
        status, not_stated = draft.status, list(draft.not_stated)
        if status == "refused" or not draft.text.strip():
            text, citations, status = refusal_text(q, retrieval.hits, not_stated), [], "refused"
        else:
            text, citations = number_citations(draft, retrieval.passages)
        if not streamed:
            yield from re.findall(r"\S+\s*", text)
        yield Answer(
            question=q,
            text=text,
            citations=citations,
            status=status,
            not_stated=not_stated,
            hits=retrieval.hits,
            backend=engine.name,
            latency_ms=(time.perf_counter() - started) * 1000,
            standalone_question=standalone,
            warnings=warnings,
            grounding=draft.grounding,
        )


def _bounded_history(history: list[dict[str, str]], max_tokens: int) -> list[dict[str, str]]:
    """The most recent turns that fit in ``max_tokens``; malformed turns are refused clearly."""
    from assistant.chunking import count_tokens

    turns: list[dict[str, str]] = []
    for i, turn in enumerate(history):
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in ("user", "assistant")
            or not isinstance(turn.get("content"), str)
        ):
            raise AssistantError(f"history[{i}] must be {{'role': 'user'|'assistant', 'content': str}}")
        turns.append({"role": turn["role"], "content": turn["content"]})
    kept: list[dict[str, str]] = []
    used = 0
    for turn in reversed(turns):
        cost = count_tokens(turn["content"])
        if used + cost > max_tokens:
            break
        kept.append(turn)
        used += cost
    return list(reversed(kept))
