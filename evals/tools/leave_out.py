"""Near-miss unanswerable questions for a corpus of one's own, by leaving documents out.

For every document D of a corpus, an index of the corpus without D is built; each answerable
eval question whose only source is D, and none of whose key facts occurs in any other document,
becomes an unanswerable question over that index (its subject is still all over the corpus; the
asked detail is not). The retrievals are cached like ``reader_dev.py cache`` does, as the set
``<name>_leaveout``, so ``fit_reader.py`` can calibrate answerability on questions phrased the
way this corpus's analysts ask, not only on COVID-QA's::

    python evals/tools/leave_out.py corpus evals/rare_earths.yaml evals/rare_earths_extra.yaml

Indexes go to ``evals/out/leaveout/`` and are reused when present.
"""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "evals/out/leaveout"
CACHE = ROOT / "evals/out/dev-cache"


def main(corpus: Path, sets: list[Path]) -> None:
    from assistant import Assistant, Settings
    from assistant.api import _bounded_history
    from assistant.evals.dataset import load_eval_sets
    from assistant.evals.metrics import fact_found

    settings = Settings()
    base = Assistant.open(ROOT / "indexes/default", settings)
    from assistant.store import load_docstore

    docstore = load_docstore(ROOT / "indexes/default")
    texts = {d["doc_id"]: docstore.get_document(d["doc_id"]).get_content() for d in base.documents()}
    cases = [c for s in sets for c in load_eval_sets(s) if c.answerable and len(c.source_doc_ids) == 1]
    manifest = yaml.safe_load((corpus / "manifest.yaml").read_text(encoding="utf-8"))
    out_cases, retrievals = [], {}
    for doc_id in sorted(texts):
        mine = [
            c
            for c in cases
            if c.source_doc_ids == [doc_id]
            and c.key_facts
            and not any(fact_found(f, t) for f in c.key_facts for d, t in texts.items() if d != doc_id)
        ]
        if not mine:
            continue
        folder = OUT / f"corpus-{doc_id}"
        index = OUT / f"index-{doc_id}"
        if not index.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            kept = []
            for entry in manifest["documents"]:
                if Path(entry["file"]).with_suffix("").as_posix() != doc_id:
                    shutil.copy(corpus / entry["file"], folder / entry["file"])
                    kept.append(entry)
            (folder / "manifest.yaml").write_text(yaml.safe_dump({"documents": kept}, sort_keys=False))
            Assistant.open(index, settings, embedder=base.embedder).ingest(folder)
        left = Assistant.open(index, settings, embedder=base.embedder)
        engine = left.backend("extractive")
        for c in mine:
            hist = _bounded_history(c.history, settings.history_tokens)
            standalone = engine.condense(c.question, hist) if hist else c.question
            cid = f"{c.id}-without-{doc_id}"
            retrievals[cid] = (standalone, left.retriever.retrieve(standalone))
            out_cases.append(
                {
                    "id": cid,
                    "question": c.question,
                    "answerable": False,
                    "history": c.history,
                    "tags": ["leave_out"],
                }
            )
        print(f"{doc_id}: {len(mine)} questions", file=sys.stderr)
    name = "_".join(s.stem for s in sets[:1]) + "_leaveout"
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / f"{name}.yaml").write_text(yaml.safe_dump(out_cases, sort_keys=False, allow_unicode=True))
    (CACHE / f"{name}.pkl").write_bytes(pickle.dumps({"index": str(OUT), "retrievals": retrievals}))
    print(f"{len(out_cases)} unanswerable questions cached as {name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
