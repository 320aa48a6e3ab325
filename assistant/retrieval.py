"""Hybrid retrieval: dense (Chroma) + BM25, fused, then postprocessed, with a relevance signal.

The searches and the fusion are in :mod:`assistant.search` (Chroma and bm25s directly: a query
never imports LlamaIndex); the ordered postprocessors in :mod:`assistant.postprocessors`. Here:
the BM25 snapshot (also the filter masks), per-query filters, and the evidence signals of
:class:`~assistant.types.Retrieval` an answerer uses to refuse (including the name checks).
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.config import RetrievalMode, Settings
from assistant.loaders import parse_date_bound
from assistant.postprocessors import QueryContext, ScoredChunk, apply
from assistant.search import bm25_search, chroma_where, dense_search, fuse
from assistant.store import BM25_DIR, STATE_FILE, chroma_collection
from assistant.types import AssistantError, Hit, Retrieval

if TYPE_CHECKING:
    from assistant.embedding import Embedder


_SMALL = frozenset({"of", "and", "for", "the", "on", "in"})


def expands_in(acronym: str, texts: list[str]) -> bool:
    """Whether an acronym of the question ("ARPA-E") is spelled out in one of ``texts``
    ("Advanced Research Projects Agency-Energy"): the initials of consecutive capitalised
    words, small words ("of", "and", "for", "the") skipped, equal its letters."""
    letters = re.sub(r"[^A-Za-z]", "", acronym)
    if len(letters) < 2 or not acronym.replace("-", "").replace(".", "").isupper():
        return False
    dotted = re.compile(r"\b" + r"\.\s?".join(letters) + r"\.")  # "EO" = "E.O."
    if any(dotted.search(text) for text in texts):
        return True
    if len(letters) < 3:  # two initials match too much by chance
        return False
    letters = letters.upper()
    for text in texts:
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z']*", text) if w.lower() not in _SMALL]
        initials = "".join(w[0] if w[0].isupper() else "·" for w in words)
        if letters in initials:
            return True
    return False


DATE_WIDENING = 5  # dense candidates fetched without the date filter, as a multiple


class _SnapshotParts:
    """The persisted BM25 index as ``BM25Retriever`` holds it: ``bm25`` (a ``bm25s.BM25``),
    ``stemmer`` and ``corpus`` (one flat metadata dict per chunk, ``node_id`` included), loaded
    with bm25s alone (no LlamaIndex import)."""

    def __init__(self, path: Path) -> None:
        import bm25s
        import Stemmer

        self.bm25 = bm25s.BM25.load(str(path), load_corpus=True, mmap=False, show_progress=False)
        self.corpus: list[dict[str, Any]] = list(self.bm25.corpus or [])
        self.stemmer = Stemmer.Stemmer("english")  # BM25Retriever's default, used at ingest


class _BM25Snapshot:
    """The persisted BM25 index plus per-chunk arrays for fast filter masks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.retriever = _SnapshotParts(path)
        corpus = self.retriever.corpus
        self.node_ids = [c["node_id"] for c in corpus]
        self.committed = set(self.node_ids)
        self.position = {nid: i for i, nid in enumerate(self.node_ids)}
        self.positions = np.arange(len(corpus))
        self.doc_ids = np.array([c.get("doc_id", "") for c in corpus], dtype=object)
        self.date_start = np.array([int(c.get("date_start", 0) or 0) for c in corpus])
        self.date_end = np.array([int(c.get("date_end", 99999999) or 99999999) for c in corpus])
        self.n = len(corpus)
        # a name may be a document's title ("the … Framework") or publisher, not chunk text
        self.titles = sorted({f"{c.get('title', '')}. {c.get('publisher', '')}" for c in corpus})
        self.by_position = {
            (c.get("doc_id", ""), int(c.get("chunk_index", -1))): i for i, c in enumerate(corpus)
        }
        vocab = self.retriever.bm25.vocab_dict
        self.vocab = vocab
        self.sorted_vocab = sorted(vocab)
        # document frequency per term id from the sparse score matrix
        indptr = np.asarray(self.retriever.bm25.scores["indptr"])
        self.df = np.diff(indptr)

    def mask(self, doc_ids: list[str] | None, lo: int | None, hi: int | None) -> np.ndarray | None:
        if not doc_ids and lo is None and hi is None:
            return None
        m = np.ones(self.n, dtype=bool)
        if doc_ids:
            m &= np.isin(self.doc_ids, list(doc_ids))
        if lo is not None:
            m &= self.date_end >= lo
        if hi is not None:
            m &= self.date_start <= hi
        return m

    def in_dates(self, chunk: ScoredChunk, lo: int | None, hi: int | None) -> bool:
        """Whether ``chunk``'s document dates overlap [lo, hi]."""
        end = int(chunk.metadata.get("date_end", 99999999) or 99999999)
        start = int(chunk.metadata.get("date_start", 0) or 0)
        return (lo is None or end >= lo) and (hi is None or start <= hi)

    def known(self, word: str) -> bool:
        """Whether ``word`` (any case, hyphen parts, a dotted acronym) occurs in the corpus, or a
        word of the same root does: a long word with its last two letters dropped begins a corpus
        word ("Bolivian" ~ "Bolivia", "Canadians" ~ "Canadian")."""
        if self._known(word):
            return True
        low = re.sub(r"['’]s$", "", word).lower()
        if len(low) < 6 or not low.isalpha():
            return False
        root = low[:-2]
        i = bisect.bisect_left(self.sorted_vocab, root)
        return i < len(self.sorted_vocab) and self.sorted_vocab[i].startswith(root)

    def holds_name(self, name: str, slack: int, scan: int) -> bool:
        """Whether some chunk holds the words of ``name`` that the corpus knows near one another (see
        :func:`~assistant.answer.analysis.name_near`), or a document's title or publisher holds it
        (read only for a name no chunk holds: every title is read). A name with fewer than two
        corpus words counts as held (a word the corpus never uses is the answerability model's
        ``unknown`` feature, not this check's)."""
        from assistant.answer.analysis import name_near

        return self._chunks_hold(name, slack, scan) or any(name_near(name, t, slack) for t in self.titles)

    def _chunks_hold(self, name: str, slack: int, scan: int) -> bool:
        """The chunk side of :meth:`holds_name`. The chunks holding a word of each word's stem prefix
        (so "Veltrian" finds "Veltria") are intersected through the BM25 postings first; only those
        are read, ``scan`` of them at most (more: the name counts as held)."""
        from bm25s.stopwords import STOPWORDS_EN

        from assistant.answer.analysis import name_near, name_words

        words = [w for w in name_words(name) if len(w) < 3 or self._known(w)]
        if len(words) < 2:
            return True
        name = " ".join(words)
        indptr = self.retriever.bm25.scores["indptr"]
        indices = self.retriever.bm25.scores["indices"]
        found: np.ndarray | None = None
        for word in words:
            if len(word) < 3:  # "US": short words are not indexed reliably; the text check reads them
                continue
            prefix = self.retriever.stemmer.stemWord(word)[:4]
            i = bisect.bisect_left(self.sorted_vocab, prefix)
            ids = []
            while i < len(self.sorted_vocab) and self.sorted_vocab[i].startswith(prefix):
                ids.append(self.vocab[self.sorted_vocab[i]])
                i += 1
            if not ids:
                if word in STOPWORDS_EN:  # never indexed
                    continue
                return False
            chunks = np.unique(np.concatenate([indices[indptr[t] : indptr[t + 1]] for t in ids]))
            found = chunks if found is None else np.intersect1d(found, chunks, assume_unique=True)
            if found.size == 0:
                return False
        if found is None:
            return True
        if found.size > scan:
            return True
        corpus = self.retriever.corpus
        return any(
            name_near(name, ScoredChunk.from_stored(self.node_ids[i], corpus[i]).text, slack) for i in found
        )

    def _known(self, word: str) -> bool:
        import bm25s

        parts = [p for p in re.split(r"[-–—/’']", word.replace(".", "")) if p]
        for part in parts or [word]:
            tok = bm25s.tokenize(
                part, stopwords=None, stemmer=self.retriever.stemmer, return_ids=False, show_progress=False
            )
            toks = tok[0] if tok else []
            if toks and not all(t in self.vocab for t in toks):
                return False
        return True

    def terms(self, query: str) -> tuple[list[str], list[str], list[str]]:
        import bm25s

        tok = bm25s.tokenize(
            query, stopwords="en", stemmer=self.retriever.stemmer, return_ids=False, show_progress=False
        )
        terms = list(dict.fromkeys(tok[0])) if tok else []
        matched = [t for t in terms if t in self.vocab]
        rare = [t for t in matched if self.df[self.vocab[t]] <= max(1, 0.05 * self.n)]
        return terms, matched, rare

    def idf(self, words: set[str]) -> dict[str, float]:
        """Corpus inverse document frequency (BM25's, over chunks) of stemmed ``words``; a word in
        no chunk gets the highest value."""
        out = {}
        for w in words:
            df = int(self.df[self.vocab[w]]) if w in self.vocab else 0
            out[w] = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
        return out


class Retriever:
    """Retrieves passages from one index; safe to share between threads.

    A query embeds the question, searches Chroma and the BM25 snapshot (:mod:`assistant.search`),
    fuses the two lists, and runs the result through the postprocessors of
    :mod:`assistant.postprocessors` (committed-chunk filter, optional reranker, document
    diversity, context expansion), in order."""

    def __init__(self, settings: Settings, index_dir: Path, embedder: Embedder) -> None:
        from assistant.postprocessors import pipeline

        self.settings = settings
        self.index_dir = index_dir
        self.embedder = embedder
        self._checked: tuple[int, str] | None = None
        self.postprocessors = pipeline(settings)
        # opened now, so an unreachable Chroma server is reported by open(), not by the first query
        self._collection: Any = chroma_collection(settings, index_dir)
        self._bm25: _BM25Snapshot | None = None
        self._bm25_stamp: float | None = None
        self._lock = threading.Lock()

    @property
    def collection(self) -> Any:
        """The Chroma collection of this index."""
        return self._collection

    def check_embedder(self) -> None:
        """Refuse to query with an embedder whose vectors do not match the index's (see
        ``embedder.json``); checked again whenever an ingest rewrote the record."""
        from assistant.embedding import check_compatible
        from assistant.store import EMBEDDER_FILE, read_embedder_record

        try:
            stamp = (self.index_dir / EMBEDDER_FILE).stat().st_mtime_ns
        except OSError:
            stamp = 0
        key = (stamp, self.embedder.model_id)
        if key != self._checked:
            check_compatible(read_embedder_record(self.index_dir), self.embedder, self.index_dir)
            self._checked = key

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> _BM25Snapshot | None:
        """The current BM25 snapshot, reloaded only when an ingest swapped in a new one."""
        state = self.index_dir / BM25_DIR / STATE_FILE
        try:
            stamp = state.stat().st_mtime_ns
        except OSError:
            return None
        with self._lock:
            if stamp != self._bm25_stamp:
                try:
                    self._bm25 = (
                        _BM25Snapshot(self.index_dir / BM25_DIR)
                        if (self.index_dir / BM25_DIR / "params.index.json").exists()
                        else None
                    )
                except (OSError, ValueError, KeyError) as exc:
                    if self._bm25 is None:
                        raise AssistantError(
                            f"the keyword index in {self.index_dir / BM25_DIR} is unreadable ({exc}); "
                            "run `assistant ingest` again"
                        ) from exc
                self._bm25_stamp = stamp
            return self._bm25

    def chunk_count(self) -> int:
        """Chunks in the committed snapshot."""
        snap = self.snapshot()
        return snap.n if snap else 0

    def neighbours(self, hits: list[Hit], top: int = 3, radius: int = 1) -> list[Hit]:
        """The chunks just before and after the ``top`` best hits (rank 0: context, not results)."""
        from assistant.postprocessors.context import neighbours

        snap = self.snapshot()
        if snap is None:
            return []
        query = QueryContext(query="", k=len(hits), settings=self.settings, snapshot=snap)
        chunks = [ScoredChunk(h.chunk_id, h.text, {"doc_id": h.doc_id}) for h in hits]
        return [c.to_hit(0) for c in neighbours(chunks, query, top, radius)]

    # ------------------------------------------------------------------ retrieval

    def _dense(
        self,
        query: str,
        doc_ids: list[str] | None,
        lo: int | None,
        hi: int | None,
        k: int,
        snap: _BM25Snapshot,
    ) -> list[ScoredChunk]:
        """Dense candidates. A date range is applied in memory to a wider query without it:
        Chroma's range conditions in ``where`` cost ~1 s at 100k chunks (profiled); the filtered
        query runs only when too few candidates survive."""
        vector = self.embedder.query(query)
        top = self.settings.dense_candidates
        if lo is None and hi is None:
            return dense_search(self.collection, vector, top, chroma_where(doc_ids, None, None))
        wide = dense_search(self.collection, vector, DATE_WIDENING * top, chroma_where(doc_ids, None, None))
        kept = [c for c in wide if snap.in_dates(c, lo, hi)][:top]
        if len(kept) >= min(k, top):
            return kept
        return dense_search(self.collection, vector, top, chroma_where(doc_ids, lo, hi))

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        mode: RetrievalMode | None = None,
    ) -> Retrieval:
        """Top-``k`` passages for ``query`` (see :class:`Retrieval`)."""
        k = k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        lo = parse_date_bound(date_from, end=False)
        hi = parse_date_bound(date_to, end=True)
        snap = self.snapshot()
        if snap is None or snap.n == 0:
            return Retrieval(hits=[])
        self.check_embedder()
        terms, matched, rare = snap.terms(query)
        from assistant.answer.text import terms as reader_terms

        term_idf = snap.idf(reader_terms(query))
        from assistant.answer.base import specific_terms

        unknown = [t for t in specific_terms(query) if not snap.known(t)]
        lists: list[list[ScoredChunk]] = []
        if mode in ("hybrid", "dense"):
            lists.append(self._dense(query, doc_ids, lo, hi, k, snap))
        if mode in ("hybrid", "bm25"):
            mask = snap.mask(doc_ids, lo, hi)
            if mask is None or mask.any():
                lists.append(bm25_search(snap, query, min(self.settings.bm25_candidates, snap.n), mask))
        if not lists:
            return Retrieval(
                hits=[],
                query_terms=terms,
                matched_terms=matched,
                rare_matched=rare,
                unknown_specifics=unknown,
            )
        top_dense = max((c.dense_score or 0.0 for c in lists[0] if c.dense_score is not None), default=0.0)
        depth = max(self.settings.dense_candidates, self.settings.bm25_candidates)
        fused = fuse(lists, self.settings.fusion_mode, depth)
        context = QueryContext(query=query, k=k, settings=self.settings, snapshot=snap)
        out = apply(self.postprocessors, fused, context)
        chosen = [c for c in out if c.role == "hit"] or [c for c in out if c.role == "candidate"][:k]
        hits = [c.to_hit(rank) for rank, c in enumerate(chosen, start=1)]
        extra = [c.to_hit(0) for c in out if c.role == "context"]
        near = [c.to_hit(0) for c in out if c.role == "neighbour"]
        texts = [h.text for h in hits + extra]
        unknown = [t for t in unknown if not expands_in(t, texts)]
        from assistant.answer.analysis import name_near, name_parts, name_spellings, names

        slack = self.settings.name_slack

        def held(name: str) -> bool:
            return any(name_near(name, t, slack) for t in texts) or snap.holds_name(
                name, slack, self.settings.name_scan_chunks
            )

        unknown_names = [
            part
            for name in names(query)
            for part in name_parts(name)
            if not any(held(spelling) for spelling in name_spellings(part, query))
        ]
        return Retrieval(
            hits=hits,
            top_dense=top_dense,
            query_terms=terms,
            matched_terms=matched,
            rare_matched=rare,
            unknown_specifics=unknown,
            unknown_names=unknown_names,
            context=extra + near,
            term_idf=term_idf,
        )
