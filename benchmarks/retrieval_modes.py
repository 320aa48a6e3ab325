"""Retrieval quality of hybrid, dense and BM25 on the eval set.

Usage: ASSISTANT_FUSION_MODE=relative_score python benchmarks/retrieval_modes.py [INDEX_DIR]
(index built with `assistant ingest corpus --index indexes/default`). Prints JSON.
"""

from __future__ import annotations

import json
import sys

from assistant import Assistant
from assistant.evals.dataset import load_eval_sets


def main() -> None:
    assistant = Assistant.open(sys.argv[1] if len(sys.argv) > 1 else "indexes/default")
    cases = [
        c
        for c in load_eval_sets(["evals/rare_earths.yaml"])
        if c.answerable and c.source_doc_ids and not c.history
    ]
    out = {}
    for mode in ("hybrid", "dense", "bm25"):
        hits, mrr = 0, 0.0
        for c in cases:
            docs = [h.doc_id for h in assistant.retrieve(c.question, k=5, mode=mode)]
            rank = next((i + 1 for i, d in enumerate(docs) if d in c.source_doc_ids), None)
            hits += rank is not None
            mrr += 1 / rank if rank else 0.0
        n = len(cases)
        out[mode] = {"hit_rate@5": round(hits / n, 3), "mrr": round(mrr / n, 3), "n": n}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
