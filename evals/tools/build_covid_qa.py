"""Build the COVID-QA development eval sets and corpora from deepset's COVID-QA split.

Usage (run once; the outputs are committed, the product never reads the source file)::

    python evals/tools/build_covid_qa.py PATH/TO/covid_qa_dev.json

Writes:

* ``evals/corpora/covid_qa/``: one ``covid_<document_id>.txt`` per article (the article text
  unchanged) and ``manifest.yaml`` (title, date, url, licence read from the article's header);
* ``evals/corpora/covid_qa_nearmiss/``: the same corpus without the left-out articles;
* ``evals/covid_qa_dev.yaml``: every question over the whole corpus; the key fact and
  ``answer_span`` are the annotated answer span, widened to whole words (some spans start or end
  inside a word: "ere is no specific treatment" for "There is …"), the source is its article;
* ``evals/covid_qa_nearmiss.yaml``: over the near-miss corpus, the questions of the left-out
  articles whose answer span occurs in no indexed article (unanswerable: the right response is
  a refusal, while the topic is all over the corpus), plus as many answerable questions of the
  indexed articles (so refusals and false refusals are measured on one index).

Which articles are left out is fixed by ``LEAVE_OUT_EVERY`` over the sorted document ids, so the
build is deterministic.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LEAVE_OUT_EVERY = 5  # every 5th article (sorted by document id) is left out of the near-miss index
SEED = 20261201


def norm(text: str) -> str:
    """Lower-cased words and numbers joined by single spaces (for occurrence checks)."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def widen(context: str, start: int, text: str) -> str:
    """The answer span at ``start`` (or its nearest occurrence) widened to whole words."""
    if context[start : start + len(text)] != text:
        spots = [m.start() for m in re.finditer(re.escape(text), context)]
        if not spots:
            return text.strip()
        start = min(spots, key=lambda s: abs(s - start))
    end = start + len(text)
    while start > 0 and context[start - 1].isalnum() and context[start].isalnum():
        start -= 1
    while end < len(context) and context[end - 1].isalnum() and context[end].isalnum():
        end += 1
    return re.sub(r"\s+", " ", context[start:end]).strip(" \n\t,;:([")


def header(context: str, key: str) -> str | None:
    m = re.search(rf"^{key}:\s*(.+)$", context, re.MULTILINE)
    return m.group(1).strip() if m else None


def article_meta(context: str) -> dict[str, str]:
    lines = [ln.strip() for ln in context.splitlines() if ln.strip()]
    url = next((ln for ln in lines[:4] if ln.startswith("http")), "")
    meta = {"title": lines[0][:300], "publisher": "CORD-19 (COVID-QA)", "kind": "article"}
    date = header(context, "Date")
    if date and re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", date):
        meta["date"] = date
    if url:
        meta["url"] = url
    licence = header(context, "License")
    if licence:
        meta["licence"] = licence
    return meta


def write_corpus(folder: Path, articles: dict[str, str], source_licence: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    entries = []
    for doc_id, context in sorted(articles.items()):
        (folder / f"{doc_id}.txt").write_text(context, encoding="utf-8")
        entries.append({"file": f"{doc_id}.txt", **article_meta(context)})
    (folder / "manifest.yaml").write_text(
        yaml.safe_dump({"documents": entries}, sort_keys=False, allow_unicode=True, width=120),
        encoding="utf-8",
    )
    # the licence sits beside the corpus folder: every file inside one is ingested as a document
    shutil.copy(source_licence, folder.parent / "LICENSE-covid_qa")


def case(qa: dict, context: str, doc_id: str) -> dict | None:
    answer = qa["answers"][0]
    span = widen(context, answer["answer_start"], answer["text"])
    if not norm(span) or "|" in span:
        return None
    return {
        "id": f"covid-{qa['id']}",
        "question": re.sub(r"\s+", " ", qa["question"]).strip(),
        "key_facts": [span],
        "answer_span": span,
        "source_doc_ids": [doc_id],
        "tags": ["covid_qa"],
    }


def dump(path: Path, cases: list[dict], about: str) -> None:
    text = yaml.safe_dump(cases, sort_keys=False, allow_unicode=True, width=120)
    path.write_text(f"# {about}\n# Built by evals/tools/build_covid_qa.py; COVID-QA, Apache-2.0.\n{text}")


def main(source: Path) -> None:
    data = json.loads(source.read_text(encoding="utf-8"))
    articles: dict[str, str] = {}
    questions: dict[str, list[dict]] = {}
    for item in data["data"]:
        para = item["paragraphs"][0]
        doc_id = f"covid_{para['document_id']}"
        articles[doc_id] = para["context"]
        questions[doc_id] = [c for qa in para["qas"] if (c := case(qa, para["context"], doc_id))]
    ids = sorted(articles)
    left_out = set(ids[2::LEAVE_OUT_EVERY])
    indexed = [d for d in ids if d not in left_out]
    licence = source.parent / "LICENSE"
    write_corpus(ROOT / "evals/corpora/covid_qa", articles, licence)
    write_corpus(ROOT / "evals/corpora/covid_qa_nearmiss", {d: articles[d] for d in indexed}, licence)

    dev = [c for d in ids for c in questions[d]]
    dump(ROOT / "evals/covid_qa_dev.yaml", dev, f"COVID-QA development questions over {len(ids)} articles")

    indexed_text = [norm(articles[d]) for d in indexed]
    unanswerable = []
    for d in sorted(left_out):
        for c in questions[d]:
            span = norm(c["answer_span"])
            if any(f" {span} " in f" {t} " for t in indexed_text):
                continue
            unanswerable.append(
                {
                    "id": c["id"] + "-nearmiss",
                    "question": c["question"],
                    "answerable": False,
                    "reference_answer": c["answer_span"],
                    "tags": ["covid_qa", "near_miss"],
                }
            )
    answerable = [c for d in indexed for c in questions[d]]
    random.Random(SEED).shuffle(answerable)
    picked = sorted(answerable[: len(unanswerable)], key=lambda c: c["id"])
    near = unanswerable + [{**c, "tags": ["covid_qa", "answerable"]} for c in picked]
    dump(
        ROOT / "evals/covid_qa_nearmiss.yaml",
        near,
        f"COVID-QA near-miss set: {len(unanswerable)} questions of {len(left_out)} articles left out of the "
        f"index (answer in no indexed article) and {len(picked)} answerable ones",
    )
    print(
        f"{len(ids)} articles ({len(left_out)} left out of the near-miss index); "
        f"dev {len(dev)} cases; near-miss {len(unanswerable)} unanswerable + {len(picked)} answerable"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
