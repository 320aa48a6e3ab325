"""Calibrate the support check (``assistant/answer/grounding.py``) on sentence/passage pairs.

Pairs are made from labelled eval sets and the passages retrieval returns for their questions:

* **supported**: a sentence of a case's ``reference_answer`` (a paraphrase written by the eval
  author, not a copy of the corpus) with a retrieved passage of a source document that holds every
  key fact the sentence states (at least one);
* **unsupported, wrong source**: the same sentence with the best-ranked retrieved passage of a
  document that is not a source (a model citing the wrong source);
* **unsupported, wrong passage**: the same sentence with a passage of the *same* source document
  holding none of the case's key facts (a model citing the right document for a fact it does not
  state there);
* **unsupported, wrong fact**: the sentence with its key fact replaced by another case's key fact of
  the same kind (a figure by a figure, a word by a word), with the supporting passage;
* **unsupported, spliced**: the first half of one sentence of the supporting passage joined to the
  second half of a later, non-adjacent one (every word is the passage's, the claim is not; what
  small models write), with that passage.

For each pair it records whether the term rules pass (names, figures, asked-for terms, coverage) and
the embedding similarity to the passage's best window; it then reports, per similarity threshold,
the share of supported pairs kept and of unsupported pairs accepted, and the threshold chosen: the
highest that keeps at least ``--keep`` of the supported pairs that pass the term rules.

Usage: python benchmarks/grounding_calibration.py [--index DIR] [--keep 0.9] [EVALSET ...]
(default: both development sets; the index of the shipped corpus is built when missing).
Writes ``benchmarks/results/grounding_calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

KINDS = ("supported", "wrong_source", "wrong_passage", "wrong_fact", "spliced")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "evalsets", nargs="*", default=["evals/rare_earths.yaml", "evals/rare_earths_extra.yaml"]
    )
    parser.add_argument("--index", help="index of the corpus the eval sets are about")
    parser.add_argument("--keep", type=float, default=0.9, help="share of supported pairs to keep")
    parser.add_argument(
        "--details", type=Path, help="also write every pair (sentence, passage, verdict) here"
    )
    args = parser.parse_args()
    common.set_offline()

    from assistant import Assistant
    from assistant.answer.grounding import WEIGHTS, best_match, check_support
    from assistant.chunking import sentence_spans
    from assistant.evals.dataset import load_eval_sets
    from assistant.evals.metrics import fact_found

    index = Path(args.index) if args.index else common.base_index()
    assistant = Assistant.open(index)
    embedder = assistant.embedder
    terms_only = replace(WEIGHTS, min_similarity=-1.0)
    cases = [c for c in load_eval_sets(args.evalsets) if c.answerable and c.reference_answer and c.key_facts]
    facts_by_kind: dict[bool, list[str]] = {True: [], False: []}
    for c in cases:
        for f in c.key_facts:
            alt = f.split("|")[0]
            facts_by_kind[alt[:1].isdigit() or alt[:1] == "$"].append(alt)

    pairs: list[dict[str, Any]] = []

    def add(kind: str, supported: bool, sentence: str, question: str, hit: Any) -> None:
        meta = f"{hit.title} {hit.publisher} {hit.date or ''}"
        rules = check_support(sentence, hit.text, question, embedder, meta=meta, weights=terms_only)
        similarity, _ = best_match(sentence, hit.text, embedder)
        pairs.append(
            {
                "kind": kind,
                "supported": supported,
                "terms_pass": rules.supported,
                "similarity": round(similarity, 4),
                "coverage": round(rules.coverage, 3),
                "reason": rules.reason,
                "absent": rules.missing,
                "sentence": sentence,
                "passage": hit.text,
            }
        )

    for n, case in enumerate(cases):
        retrieval = assistant.retriever.retrieve(case.question, 8)
        passages = retrieval.passages
        sources = [h for h in passages if h.doc_id in case.source_doc_ids]
        others = [h for h in retrieval.hits if h.doc_id not in case.source_doc_ids]
        spans = sentence_spans(case.reference_answer or "")
        for a, b in spans:
            sentence = case.reference_answer[a:b]
            stated = [f for f in case.key_facts if fact_found(f, sentence)]
            if not stated:
                continue
            holding = [h for h in sources if all(fact_found(f, h.text) for f in stated)]
            if not holding:
                continue
            good = holding[0]
            add("supported", True, sentence, case.question, good)
            if others:
                add("wrong_source", False, sentence, case.question, others[0])
            empty = [h for h in sources if not any(fact_found(f, h.text) for f in case.key_facts)]
            if empty:
                add("wrong_passage", False, sentence, case.question, empty[0])
            # spliced: the start of one sentence of the passage and the end of a non-adjacent one
            # (every word is the passage's, the claim is not): what small models write
            inner = [good.text[x:y] for x, y in sentence_spans(good.text)]
            inner = [t for t in inner if len(t.split()) >= 8]
            if len(inner) >= 3:
                first, second = inner[0].split(), inner[2].split()
                spliced = " ".join(first[: len(first) // 2] + second[len(second) // 2 :])
                add("spliced", False, spliced, case.question, good)
            fact = stated[0].split("|")[0]
            numeric = fact[:1].isdigit() or fact[:1] == "$"
            pool = [
                f
                for f in facts_by_kind[numeric]
                if f.lower() != fact.lower() and not fact_found(f, good.text)
            ]
            if pool and fact in sentence:
                swapped = sentence.replace(fact, pool[(n * 7) % len(pool)], 1)
                add("wrong_fact", False, swapped, case.question, good)
        common.progress(f"{n + 1}/{len(cases)} cases, {len(pairs)} pairs")

    thresholds = [round(0.30 + 0.02 * i, 2) for i in range(31)]
    table = []
    for t in thresholds:
        row: dict[str, Any] = {"min_similarity": t}
        for kind in KINDS:
            group = [p for p in pairs if p["kind"] == kind]
            accepted = [p for p in group if p["terms_pass"] and p["similarity"] >= t]
            row[kind] = round(len(accepted) / len(group), 3) if group else None
        table.append(row)
    supported = [p for p in pairs if p["supported"]]
    passing = sorted(p["similarity"] for p in supported if p["terms_pass"])
    # the highest threshold that keeps --keep of the supported pairs the term rules let through
    cut = passing[int((1 - args.keep) * len(passing))] if passing else WEIGHTS.min_similarity
    chosen = max((t for t in thresholds if t <= cut), default=thresholds[0])
    summary = {
        kind: {
            "pairs": len([p for p in pairs if p["kind"] == kind]),
            "terms_pass": round(
                sum(p["terms_pass"] for p in pairs if p["kind"] == kind)
                / max(1, len([p for p in pairs if p["kind"] == kind])),
                3,
            ),
        }
        for kind in KINDS
    }
    at_current = next((r for r in table if r["min_similarity"] == round(WEIGHTS.min_similarity, 2)), None)
    result = {
        "evalsets": args.evalsets,
        "index": common.rel(index),
        "cases": len(cases),
        "method": re.sub(r"\s+", " ", __doc__.split("\n\n")[1]).strip(),
        "keep": args.keep,
        "summary": summary,
        "chosen_min_similarity": chosen,
        "in_use": {"min_similarity": WEIGHTS.min_similarity, "min_coverage": WEIGHTS.min_coverage},
        "accepted_at_in_use": at_current,
        "table": table,
    }
    common.write_result("grounding_calibration", result)
    if args.details:
        args.details.write_text(json.dumps(pairs, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"chosen min_similarity {chosen}; in use {WEIGHTS.min_similarity}: {at_current}")


if __name__ == "__main__":
    main()
