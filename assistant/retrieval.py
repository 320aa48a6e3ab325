"""Hybrid retrieval: dense (Chroma) + BM25, fused, diversified, filtered, with a relevance signal.

Built from LlamaIndex parts: ``VectorStoreIndex.from_vector_store`` for the dense side,
``BM25Retriever`` over the persisted snapshot for the keyword side and ``QueryFusionRetriever``
(``num_queries=1``: it never calls an LLM) for fusion. Written here: per-query filters applied to
BM25 by a weight mask, document diversification, the committed-chunks guard (a query during an
ingest never sees half a document) and the relevance signal used to refuse.
"""

from __future__ import annotations

import math
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.config import RetrievalMode, Settings
from assistant.loaders import parse_date_bound
from assistant.store import BM25_DIR, STATE_FILE, vector_store
from assistant.types import AssistantError, Hit, Retrieval

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore, QueryBundle

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


class _DateFiltered:
    """Dense candidates of a wide query, kept when their document's dates overlap [lo, hi];
    falls back to Chroma's own filtered query when fewer than ``k`` survive. (Written here:
    LlamaIndex's retrievers push every filter into the vector store.)"""

    def __init__(self, wide: Any, filtered: Any, lo: int | None, hi: int | None, top: int, k: int) -> None:
        self.wide, self.filtered, self.lo, self.hi, self.top, self.k = wide, filtered, lo, hi, top, k

    def _ok(self, r: NodeWithScore) -> bool:
        meta = r.node.metadata
        end = int(meta.get("date_end", 99999999) or 99999999)
        start = int(meta.get("date_start", 0) or 0)
        return (self.lo is None or end >= self.lo) and (self.hi is None or start <= self.hi)

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        kept = [r for r in self.wide.retrieve(query_bundle) if self._ok(r)][: self.top]
        if len(kept) >= min(self.k, self.top):
            return kept
        return list(self.filtered.retrieve(query_bundle))


class _Recording:
    """Wraps a retriever so the fusion keeps each side's own scores (fusion replaces them)."""

    def __init__(self, inner: Any, sink: dict[str, float]) -> None:
        from llama_index.core.retrievers import BaseRetriever

        outer = self

        class _R(BaseRetriever):
            def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
                results = inner.retrieve(query_bundle)
                for r in results:
                    sink[r.node.node_id] = float(r.score or 0.0)
                return results

        self.retriever = _R()
        self.sink = sink
        del outer


class _BM25Snapshot:
    """The persisted BM25 index plus per-chunk arrays for fast filter masks."""

    def __init__(self, path: Path) -> None:
        from llama_index.retrievers.bm25 import BM25Retriever

        self.path = path
        self.retriever = BM25Retriever.from_persist_dir(str(path))
        corpus = self.retriever.corpus
        self.node_ids = [c["node_id"] for c in corpus]
        self.committed = set(self.node_ids)
        self.position = {nid: i for i, nid in enumerate(self.node_ids)}
        self.doc_ids = np.array([c.get("doc_id", "") for c in corpus], dtype=object)
        self.date_start = np.array([int(c.get("date_start", 0) or 0) for c in corpus])
        self.date_end = np.array([int(c.get("date_end", 99999999) or 99999999) for c in corpus])
        self.n = len(corpus)
        self.by_position = {
            (c.get("doc_id", ""), int(c.get("chunk_index", -1))): i for i, c in enumerate(corpus)
        }
        vocab = self.retriever.bm25.vocab_dict
        self.vocab = vocab
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

    def known(self, word: str) -> bool:
        """Whether ``word`` (any case, hyphen parts, a dotted acronym) occurs in the corpus."""
        return self._known(word)

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
    """Retrieves passages from one index; safe to share between threads."""

    def __init__(self, settings: Settings, index_dir: Path, embedder: Embedder) -> None:
        from llama_index.core import VectorStoreIndex

        self.settings = settings
        self.index_dir = index_dir
        self.embedder = embedder
        self.store = vector_store(settings, index_dir)
        self.index = VectorStoreIndex.from_vector_store(self.store, embed_model=embedder.model)
        self._bm25: _BM25Snapshot | None = None
        self._bm25_stamp: float | None = None
        self._lock = threading.Lock()

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
        """The chunks just before and after the ``top`` best hits (rank 0: context, not results),
        so an answer can use a sentence or table row that fell just outside a retrieved passage.
        (LlamaIndex's PrevNextNodePostprocessor needs a docstore of nodes; ours live in the snapshot.)"""
        from llama_index.core.schema import NodeWithScore
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        snap = self.snapshot()
        if snap is None:
            return []
        have = {h.chunk_id for h in hits}
        out: list[Hit] = []
        for h in hits[:top]:
            i = snap.position.get(h.chunk_id)
            if i is None:
                continue
            pos = int(snap.retriever.corpus[i].get("chunk_index", -10))
            for j in range(pos - radius, pos + radius + 1):
                k = snap.by_position.get((h.doc_id, j))
                if k is None or snap.node_ids[k] in have:
                    continue
                node = metadata_dict_to_node(snap.retriever.corpus[k])
                have.add(node.node_id)
                out.append(self._hit(0, 0.0, NodeWithScore(node=node, score=0.0), {}, {}))
        return out

    # ------------------------------------------------------------------ retrieval

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
        from llama_index.core import QueryBundle
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

        k = k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        lo = parse_date_bound(date_from, end=False)
        hi = parse_date_bound(date_to, end=True)
        snap = self.snapshot()
        if snap is None or snap.n == 0:
            return Retrieval(hits=[])
        terms, matched, rare = snap.terms(query)
        from assistant.answer.text import terms as reader_terms

        term_idf = snap.idf(reader_terms(query))
        from assistant.answer.base import specific_terms

        unknown = [t for t in specific_terms(query) if not snap.known(t)]
        dense_scores: dict[str, float] = {}
        bm25_scores: dict[str, float] = {}
        retrievers = []
        bundle = QueryBundle(query_str=query)
        if mode in ("hybrid", "dense"):
            bundle.embedding = self.embedder.query(query)
            conds = []
            if doc_ids:
                conds.append(MetadataFilter(key="doc_id", value=list(doc_ids), operator=FilterOperator.IN))
            date_conds = []
            if lo is not None:
                date_conds.append(MetadataFilter(key="date_end", value=lo, operator=FilterOperator.GTE))
            if hi is not None:
                date_conds.append(MetadataFilter(key="date_start", value=hi, operator=FilterOperator.LTE))
            dense: Any = self.index.as_retriever(
                similarity_top_k=self.settings.dense_candidates,
                filters=MetadataFilters(filters=conds + date_conds) if conds + date_conds else None,
            )
            if date_conds:
                # Chroma's range conditions in ``where`` cost ~1 s at 100k chunks (profiled); a
                # wider unfiltered query cut down here costs ~the plain query. The filtered query
                # runs only when too few candidates survive.
                wide = self.index.as_retriever(
                    similarity_top_k=DATE_WIDENING * self.settings.dense_candidates,
                    filters=MetadataFilters(filters=conds) if conds else None,
                )
                dense = _DateFiltered(wide, dense, lo, hi, self.settings.dense_candidates, k)
            retrievers.append(_Recording(dense, dense_scores).retriever)
        if mode in ("hybrid", "bm25"):
            from llama_index.retrievers.bm25 import BM25Retriever

            mask = snap.mask(doc_ids, lo, hi)
            if mask is None or mask.any():
                bm25 = BM25Retriever(
                    existing_bm25=snap.retriever.bm25,
                    similarity_top_k=min(self.settings.bm25_candidates, snap.n),
                    corpus_weight_mask=mask.astype(int).tolist() if mask is not None else None,
                )
                retrievers.append(_Recording(bm25, bm25_scores).retriever)
        if not retrievers:
            return Retrieval(
                hits=[],
                query_terms=terms,
                matched_terms=matched,
                rare_matched=rare,
                unknown_specifics=unknown,
            )
        depth = max(self.settings.dense_candidates, self.settings.bm25_candidates)
        if len(retrievers) == 1:
            results = retrievers[0].retrieve(bundle)
        else:
            fusion = QueryFusionRetriever(
                retrievers,
                llm=MockLLM(),
                mode=self.settings.fusion_mode,
                similarity_top_k=depth,
                num_queries=1,
                use_async=False,
            )
            results = fusion.retrieve(bundle)
        # BM25 hits with zero score matched nothing; masked-out chunks score zero too.
        results = [
            r
            for r in results
            if r.node.node_id in snap.committed
            and (r.node.node_id in dense_scores or bm25_scores.get(r.node.node_id, 0.0) > 0.0)
        ]
        hits = self._diversify(results, k, dense_scores, bm25_scores)
        # context for answers: further passages of the documents already retrieved, then the
        # chunks next to the best hits (never new documents: they would widen what is cited)
        docs = {h.doc_id for h in hits}
        taken = {h.chunk_id for h in hits}
        extra = [
            self._hit(0, float(r.score or 0.0), r, dense_scores, bm25_scores)
            for r in results
            if r.node.node_id not in taken and r.node.metadata.get("doc_id") in docs
        ][:k]
        top_dense = max(dense_scores.values(), default=0.0)
        texts = [h.text for h in hits + extra]
        unknown = [t for t in unknown if not expands_in(t, texts)]
        return Retrieval(
            hits=hits,
            top_dense=top_dense,
            query_terms=terms,
            matched_terms=matched,
            rare_matched=rare,
            unknown_specifics=unknown,
            context=extra + self.neighbours(hits + extra),
            term_idf=term_idf,
        )

    def _diversify(
        self, results: list[NodeWithScore], k: int, dense: dict[str, float], bm25: dict[str, float]
    ) -> list[Hit]:
        """Greedy selection: each passage already taken from a document lowers the score of that
        document's next passages by ``doc_diversity`` (relative), so a question spanning two
        documents gets both while a one-document question still gets several of its passages.
        Overlapping passages of a document (shared overlap sentences) are merged away."""
        pool = [(float(r.score or 0.0), r) for r in results]
        if not pool:
            return []
        top = max(s for s, _ in pool) or 1.0
        chosen: list[tuple[float, NodeWithScore]] = []
        per_doc: dict[str, int] = {}
        spans: dict[str, list[tuple[int, int]]] = {}
        while pool and len(chosen) < k:
            best_i, best_score = -1, -math.inf
            for i, (score, r) in enumerate(pool):
                doc = r.node.metadata.get("doc_id", "")
                adj = score / top - self.settings.doc_diversity * per_doc.get(doc, 0)
                if adj > best_score:
                    best_i, best_score = i, adj
            score, r = pool.pop(best_i)
            meta = r.node.metadata
            doc = meta.get("doc_id", "")
            a, b = int(meta.get("start_char", 0)), int(meta.get("end_char", 0))
            if any(min(b, y) - max(a, x) > 0.5 * min(b - a, y - x) for x, y in spans.get(doc, [])):
                continue  # mostly the same text as a passage already taken
            spans.setdefault(doc, []).append((a, b))
            per_doc[doc] = per_doc.get(doc, 0) + 1
            chosen.append((score, r))
        return [self._hit(rank, score, r, dense, bm25) for rank, (score, r) in enumerate(chosen, start=1)]

    @staticmethod
    def _hit(
        rank: int, score: float, r: NodeWithScore, dense: dict[str, float], bm25: dict[str, float]
    ) -> Hit:
        m = r.node.metadata
        nid = r.node.node_id
        page = m.get("page")
        return Hit(
            rank=rank,
            score=round(score, 6),
            text=r.node.get_content(),
            doc_id=str(m.get("doc_id", "")),
            title=str(m.get("title", "")),
            publisher=str(m.get("publisher", "")),
            url=(m.get("url") or None),
            date=(str(m["date"]) if m.get("date") else None),
            page=int(page) if page not in (None, "") else None,
            chunk_id=nid,
            start_char=int(m.get("start_char", 0)),
            end_char=int(m.get("end_char", 0)),
            dense_score=round(dense[nid], 6) if nid in dense else None,
            bm25_score=round(bm25[nid], 6) if nid in bm25 else None,
        )
