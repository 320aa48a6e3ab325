"""Hybrid retrieval: dense (Chroma) + BM25, fused, diversified, filtered, with a relevance signal.

Built from LlamaIndex parts: ``VectorStoreIndex.from_vector_store`` for the dense side,
``BM25Retriever`` over the persisted snapshot for the keyword side and ``QueryFusionRetriever``
(``num_queries=1``: it never calls an LLM) for fusion. Written here: per-query filters applied to
BM25 by a weight mask, document diversification, the committed-chunks guard (a query during an
ingest never sees half a document) and the relevance signal used to refuse.
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
from assistant.store import BM25_DIR, STATE_FILE, vector_store
from assistant.types import AssistantError, Hit, Retrieval

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore, QueryBundle

    from assistant.embedding import Embedder


# Names analysts use for an institution or country by its seat; the corpus may use either.
METONYMS = {
    "pentagon": "defense",
    "beijing": "china",
    "canberra": "australia",
    "washington": "states",
    "tokyo": "japan",
    "moscow": "russia",
    "kremlin": "russia",
    "ottawa": "canada",
    "brussels": "european",
    "london": "kingdom",
    "westminster": "kingdom",
    "delhi": "india",
    "seoul": "korea",
    "taipei": "taiwan",
}


REGION_WORDS = frozenset(
    "north south east west northern southern eastern western northeast northwest southeast "
    "southwest northeastern northwestern southeastern southwestern central inner outer upper "
    "lower greater".split()
)


_DEMONYMS = {
    "american": "america", "british": "britain", "dutch": "netherlands", "english": "england",
    "french": "france", "german": "germany", "greek": "greece", "irish": "ireland",
    "italian": "italy", "mexican": "mexico", "spanish": "spain", "swiss": "switzerland",
    "thai": "thailand", "saudi": "arabia", "filipino": "philippines", "welsh": "wales",
    "scottish": "scotland", "danish": "denmark", "swedish": "sweden", "finnish": "finland",
    "polish": "poland", "turkish": "turkey", "norwegian": "norway", "peruvian": "peru",
    "argentine": "argentina", "argentinian": "argentina", "emirati": "emirates",
}  # fmt: skip


def demonym_places(word: str) -> list[str]:
    """The places a demonym may come from: "mongolian" -> "mongolia", "canadian" -> "canada",
    "chinese" -> "china", "congolese" -> "congo", "pakistani" -> "pakistan", "french" -> "france"."""
    w = word.lower()
    if w in _DEMONYMS:
        return [_DEMONYMS[w]]
    out: list[str] = []
    if w.endswith("ese"):
        out += [w[:-3], w[:-3] + "a", w[:-4]]
    elif w.endswith("ian"):
        out += [w[:-1], w[:-3] + "a", w[:-3]]
    elif w.endswith("an"):
        out += [w[:-1], w[:-2]]
    elif w.endswith("ish"):
        out += [w[:-3] + "en", w[:-3] + "and", w[:-3] + "ey", w[:-3]]
    elif w.endswith("i"):
        out += [w[:-1]]
    return [p for p in out if len(p) >= 4]


_TITLES = frozenset(
    "president vice prime minister secretary chair chairman chairwoman ceo governor senator "
    "ambassador administrator director general premier chancellor king queen mr mrs ms dr".split()
)
MONTHS = "january february march april may june july august september october november december".split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_CALENDAR = r"(?!(?:" + "|".join(w.capitalize() for w in MONTHS + _WEEKDAYS) + r")\b)"
# a capitalised word, whole (no match inside "McKinsey"), not a possessive ("the Pentagon's …")
_CAPITAL = rf"\b{_CALENDAR}(?:[A-Z][a-z]+(?:[A-Z][a-z]+)*|[A-Z]{{2,}})(?:-[A-Za-z]+)*\b(?!['’]s\b)"
_PHRASE = re.compile(rf"(?:{_CAPITAL}\s+(?:(?:of|de)(?:\s+the)?\s+)?)+{_CAPITAL}")
_CARRIED = re.compile(r"\s*\([^()]*\)\s*$")  # words a follow-up carried from the previous question


def proper_phrases(question: str) -> list[str]:
    """Multi-word names in a question ("Minerals Security Partnership"), without titles,
    acronyms (checked on their own), the sentence-initial word, and a region word before a
    demonym ("Southeast Asian"). Each word may be in the corpus while the name is not.
    A question in Title Case has no telling names: none."""
    question = _CARRIED.sub("", question)
    rest = re.findall(r"[A-Za-z][A-Za-z'’-]*", question)[1:]
    if len(rest) >= 4 and sum(1 for w in rest if w[0].isupper()) >= 0.75 * len(rest):
        return []
    out: list[str] = []
    for m in _PHRASE.finditer(question):
        words = m.group(0).split()
        if m.start() == 0 or re.search(r"[?!]\s*$|[a-z]{2}\.\s*$", question[: m.start()]):
            words = words[1:]
        words = [
            w
            for i, w in enumerate(words)
            if w.lower() not in _TITLES
            and not w.isupper()
            and not (w.lower() in REGION_WORDS and i + 1 < len(words) and bool(demonym_places(words[i + 1])))
        ]
        while words and words[0].lower() in _SMALL:
            words = words[1:]
        while words and words[-1].lower() in _SMALL:
            words = words[:-1]
        if sum(1 for w in words if w.lower() not in _SMALL) >= 2:
            out.append(" ".join(words))
    return out


def _word_keys(word: str) -> list[tuple[str, bool]]:
    """Loose stems of a name's word: "Mongolian" ~ "Mongolia", "Asian" ~ "Asia", "Chinese" ~
    "China"; a short key must match a whole word ("Act" is not "action")."""

    def key(w: str) -> tuple[str, bool]:  # (key, whole word only)
        return (w[:5], False) if len(w) >= 7 else (w[:-1], False) if len(w) >= 5 else (w, True)

    w = word.lower()
    return list(dict.fromkeys([key(w), *(key(p) for p in demonym_places(w))]))


_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens of ``text``, as :func:`phrase_in_tokens` reads them."""
    return _TOKEN.findall(text.lower())


def phrase_in(phrase: str, texts: list[str]) -> bool:
    """Whether the words of ``phrase`` occur close together, in any order, in one of ``texts``
    ("Commerce Department" ~ "Department of Commerce", "Donald Trump" ~ "Donald J. Trump",
    "Rare-Earth Elements" ~ "rare earth elements")."""
    return phrase_in_tokens(phrase, [tokens(text) for text in texts])


def phrase_in_tokens(phrase: str, token_lists: list[list[str]]) -> bool:
    """:func:`phrase_in` over texts already split by :func:`tokens`."""
    words = [w for w in re.split(r"[\s\-–]+", phrase) if w and w.lower() not in _SMALL]
    keys = [_word_keys(w) for w in words]
    if not keys:
        return True
    window = 2 * len(keys) + 2

    def hit(alts: list[tuple[str, bool]], tok: str) -> bool:
        return any(tok == k if whole else tok.startswith(k) for k, whole in alts)

    for toks in token_lists:
        spots = [[i for i, t in enumerate(toks) if hit(alts, t)] for alts in keys]
        if not all(spots):
            continue
        # anchor on the rarest word; the others must fall within the window (bisect: linear-log)
        spots.sort(key=len)
        for i in spots[0]:
            if all(
                bisect.bisect_right(other, i + window) > bisect.bisect_left(other, i - window)
                for other in spots[1:]
            ):
                return True
    return False


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
        # document titles and publishers (metadata, not in the chunk text): names too
        labels = sorted({f"{c.get('title', '')}. {c.get('publisher', '')}" for c in corpus})
        self.label_tokens = [tokens(label) for label in labels]
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
        """Whether ``word`` (any case, hyphen parts, dotted acronym) occurs in the corpus, or
        a common metonym of it does ("Pentagon" for the Department of Defense), or the place
        of a demonym does ("Mongolian" for Inner Mongolia). Compass and region words
        ("Southeast", "Inner") name nothing on their own."""
        key = re.sub(r"['’]s$", "", word).lower()
        if key in REGION_WORDS:
            return True
        if key in METONYMS and self._known(METONYMS[key]):
            return True
        return self._known(word) or any(self._known(place) for place in demonym_places(key))

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
        unknown += [p for p in proper_phrases(query) if not self._name_known(snap, p, texts)]
        return Retrieval(
            hits=hits,
            top_dense=top_dense,
            query_terms=terms,
            matched_terms=matched,
            rare_matched=rare,
            unknown_specifics=unknown,
            context=extra + self.neighbours(hits + extra),
        )

    def _name_known(self, snap: _BM25Snapshot, phrase: str, texts: list[str]) -> bool:
        """Whether a multi-word name of the question is in the corpus: in the retrieved passages,
        a document's title or publisher, or the passages BM25 finds for the name itself (the
        question's other words may have pulled retrieval elsewhere)."""
        if phrase_in(phrase, texts) or phrase_in_tokens(phrase, snap.label_tokens):
            return True
        from llama_index.retrievers.bm25 import BM25Retriever

        finder = BM25Retriever(existing_bm25=snap.retriever.bm25, similarity_top_k=min(10, snap.n))
        found = [r.node.get_content() for r in finder.retrieve(phrase) if (r.score or 0.0) > 0.0]
        return phrase_in(phrase, found)

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
