"""Development loop for the extractive reader: retrieve once, read many times.

``assistant eval run`` is the measure of record; this tool exists because retrieval dominates
its time and the reader is what changes while tuning. It caches every case's ``Retrieval`` (the
exact input the reader sees) and re-runs only the answer stage, reporting the metrics that matter
for the reader, per set::

    python evals/tools/reader_dev.py cache  SET.yaml --index DIR      # once per index/retrieval change
    python evals/tools/reader_dev.py run    SET.yaml [SET.yaml ...]   # after each reader change
    python evals/tools/reader_dev.py show   SET.yaml --id CASE_ID     # one case, scored sentences

Caches live in ``evals/out/dev-cache/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import logging
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "evals/out/dev-cache"
INDEX_FOR = {
    "rare_earths": "indexes/default",
    "rare_earths_extra": "indexes/default",
    "covid_qa_dev": "indexes/covid_qa",
    "covid_qa_nearmiss": "indexes/covid_qa_nearmiss",
}


def _cache_path(set_path: str) -> Path:
    return CACHE / f"{Path(set_path).stem}.pkl"


def _open(index: str) -> Any:
    from assistant import Assistant, Settings

    return Assistant.open(index, Settings())


def cache(set_path: str, index: str | None) -> None:
    from assistant.api import _bounded_history
    from assistant.evals.dataset import load_eval_sets

    cases = load_eval_sets(set_path)
    index = index or INDEX_FOR[Path(set_path).stem]
    assistant = _open(index)
    engine = assistant.backend("extractive")
    out = {}
    t0 = time.perf_counter()
    for i, case in enumerate(cases):
        hist = _bounded_history(case.history, assistant.settings.history_tokens)
        standalone = engine.condense(case.question, hist) if hist else case.question
        out[case.id] = (standalone, assistant.retriever.retrieve(standalone))
        if i % 50 == 0:
            print(f"{i}/{len(cases)} {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    _cache_path(set_path).write_bytes(pickle.dumps({"index": index, "retrievals": out}))
    print(f"cached {len(out)} retrievals of {set_path} from {index}")


def _answer(assistant: Any, question: str, standalone: str, retrieval: Any) -> Any:
    """What ``Assistant.stream`` does after retrieval (kept in step with api.py)."""
    from assistant.answer.base import number_citations
    from assistant.api import refusal_text
    from assistant.types import Answer, Draft

    engine = assistant.backend("extractive")
    draft = None
    for item in engine.generate(standalone, retrieval, []):
        if isinstance(item, Draft):
            draft = item
    assert draft is not None
    if draft.status == "refused" or not draft.text.strip():
        return Answer(
            question=question,
            text=refusal_text(question, retrieval.hits, draft.not_stated),
            status="refused",
            not_stated=draft.not_stated,
            hits=retrieval.hits,
        )
    text, citations = number_citations(draft, retrieval.passages)
    return Answer(
        question=question,
        text=text,
        citations=citations,
        status=draft.status,
        not_stated=draft.not_stated,
        hits=retrieval.hits,
    )


STOP = None


def _span_recall(span: str, answer: str) -> float:
    global STOP
    from assistant.evals.metrics import strip_markers, tokens

    if STOP is None:
        from assistant.answer.base import STOPWORDS

        STOP = STOPWORDS
    want = [t for t in dict.fromkeys(tokens(span)) if t not in STOP]
    if not want:
        return 1.0
    have = set(tokens(strip_markers(answer)))
    return sum(t in have for t in want) / len(want)


def evaluate(
    set_path: str,
    assistant: Any | None = None,
    verbose: bool = False,
    rows_out: list[dict[str, Any]] | None = None,
) -> dict[str, float]:
    import re

    from assistant.evals.dataset import load_eval_sets
    from assistant.evals.metrics import fact_found, strip_markers

    data = pickle.loads(_cache_path(set_path).read_bytes())
    cases = load_eval_sets(set_path)
    spans = {c.get("id"): c.get("answer_span") for c in yaml.safe_load(Path(set_path).read_text()) or []}
    assistant = assistant or _open(data["index"])
    rows = []
    t0 = time.perf_counter()
    for case in cases:
        standalone, retrieval = data["retrievals"][case.id]
        a = _answer(assistant, case.question, standalone, retrieval)
        text = a.text
        refused = a.status == "refused"
        found = (
            [fact_found(f, text) for f in case.key_facts] if not refused else [False] * len(case.key_facts)
        )
        lead = text.split("[1]")[0] if "[1]" in text else ""
        cited = {c.doc_id for c in a.citations}
        span = spans.get(case.id)
        rows.append(
            {
                "id": case.id,
                "answerable": case.answerable,
                "refused": refused,
                "partial": a.status == "partial",
                "kf": (sum(found) / len(found)) if found else None,
                "lead": (
                    any(fact_found(f, lead) for f in case.key_facts)
                    if case.key_facts and not refused
                    else None
                ),
                "prec": (len(cited & set(case.source_doc_ids)), len(cited))
                if not refused and case.source_doc_ids
                else None,
                "span": _span_recall(span, text) if span and not refused else (0.0 if span else None),
                "words": len(re.findall(r"\w+", strip_markers(text))) if not refused else None,
                "hit": bool(set(case.source_doc_ids) & {h.doc_id for h in retrieval.hits})
                if case.source_doc_ids
                else None,
            }
        )
        if rows_out is not None:
            rows_out.append(
                {
                    **rows[-1],
                    "set": Path(set_path).stem,
                    "question": case.question,
                    "answer": text,
                    "not_stated": a.not_stated,
                    "key_facts": case.key_facts,
                    "sources": case.source_doc_ids,
                    "cited": sorted(cited),
                }
            )
        if verbose:
            print(f"--- {case.id} kf={rows[-1]['kf']} refused={refused} q={case.question}\n{text[:600]}")
    ans = [r for r in rows if r["answerable"]]
    un = [r for r in rows if not r["answerable"]]

    def mean(xs: list[Any]) -> float | None:
        xs = [x for x in xs if x is not None]
        return round(sum(xs) / len(xs), 3) if xs else None

    prec = [r["prec"] for r in ans if r["prec"]]
    m = {
        "n": len(rows),
        "hit": mean([r["hit"] for r in ans]),
        "key_fact": mean([r["kf"] for r in ans]),
        "lead_fact": mean([r["lead"] for r in ans if not r["refused"]]),
        "span_recall": mean([r["span"] for r in ans]),
        "cite_prec": round(sum(p[0] for p in prec) / max(1, sum(p[1] for p in prec)), 3) if prec else None,
        "refusals": mean([r["refused"] for r in un]),
        "false_ref": mean([r["refused"] for r in ans]),
        "partial": mean([r["partial"] for r in rows]),
        "median_words": statistics.median([r["words"] for r in ans if r["words"] is not None] or [0]),
        "sec": round(time.perf_counter() - t0, 1),
    }
    return m


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["cache", "run", "show"])
    p.add_argument("sets", nargs="+")
    p.add_argument("--index")
    p.add_argument("--id")
    p.add_argument("-v", action="store_true")
    p.add_argument("--rows", help="write every case's row, question and answer to this JSON file")
    args = p.parse_args()
    if args.cmd == "cache":
        for s in args.sets:
            cache(s, args.index)
        return
    if args.cmd == "show":
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("assistant.answer").setLevel(logging.DEBUG)
        data = pickle.loads(_cache_path(args.sets[0]).read_bytes())
        assistant = _open(data["index"])
        standalone, retrieval = data["retrievals"][args.id]
        for h in retrieval.hits:
            print(f"hit {h.rank} {h.score:.3f} {h.doc_id} p{h.page}: {h.text[:120]!r}")
        a = _answer(assistant, standalone, standalone, retrieval)
        print(a.status, a.not_stated, "\n", a.text)
        return
    assistants: dict[str, Any] = {}
    rows: list[dict[str, Any]] | None = [] if args.rows else None
    for s in args.sets:
        data_index = pickle.loads(_cache_path(s).read_bytes())["index"]
        if data_index not in assistants:
            assistants[data_index] = _open(data_index)
        print(Path(s).stem, evaluate(s, assistants[data_index], args.v, rows), flush=True)
    if args.rows:
        import json

        Path(args.rows).write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
