"""Choose the ``k`` hits, a few documents rather than one document's every passage."""

from __future__ import annotations

import math

from assistant.postprocessors.base import Postprocessor, QueryContext, ScoredChunk


class DocumentDiversity(Postprocessor):
    """Greedy selection: each passage already taken from a document lowers the score of that
    document's next passages by ``doc_diversity`` (relative to the best score), so a question
    spanning two documents gets both while a one-document question still gets several of its
    passages. Passages that mostly overlap one already taken (shared overlap sentences) are
    skipped. Chosen chunks become ``hit`` (in order); the others stay candidates behind them."""

    name = "diversify"

    def __init__(self, doc_diversity: float) -> None:
        self.doc_diversity = doc_diversity

    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        pool = [n for n in nodes if n.role == "candidate"]
        others = [n for n in nodes if n.role != "candidate"]
        if not pool:
            return nodes
        top = max(n.score for n in pool) or 1.0
        chosen: list[ScoredChunk] = []
        per_doc: dict[str, int] = {}
        spans: dict[str, list[tuple[int, int]]] = {}
        left = list(pool)
        while left and len(chosen) < query.k:
            best_i, best_score = -1, -math.inf
            for i, n in enumerate(left):
                adj = n.score / top - self.doc_diversity * per_doc.get(n.doc_id, 0)
                if adj > best_score:
                    best_i, best_score = i, adj
            n = left.pop(best_i)
            a, b = int(n.metadata.get("start_char", 0)), int(n.metadata.get("end_char", 0))
            if any(min(b, y) - max(a, x) > 0.5 * min(b - a, y - x) for x, y in spans.get(n.doc_id, [])):
                continue  # mostly the same text as a passage already taken
            spans.setdefault(n.doc_id, []).append((a, b))
            per_doc[n.doc_id] = per_doc.get(n.doc_id, 0) + 1
            n.role = "hit"
            chosen.append(n)
        taken = {id(n) for n in chosen}
        return others + chosen + [n for n in pool if id(n) not in taken]
