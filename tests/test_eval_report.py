"""Fingerprints, the runner's new per-case fields, and the report files with a paired comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from test_eval_gate import baseline_outcomes, dropped, synthetic_report

from assistant.config import Settings
from assistant.evals.dataset import EvalCase
from assistant.evals.fingerprint import case_hash, differences, model_hash, run_fingerprint
from assistant.evals.gate import check_gate
from assistant.evals.report import write_report
from assistant.evals.runner import run_eval
from assistant.types import Answer


class FakeAssistant:
    """Settings, an index folder and a document list: what the fingerprint reads."""

    def __init__(self, settings: Settings, docs: list[dict[str, Any]] | None = None) -> None:
        self.settings = settings
        self.index_dir = settings.index_dir
        self.docs = docs or []

    def documents(self) -> list[dict[str, Any]]:
        return self.docs

    def ask(self, question: str, **_: Any) -> Answer:
        if "gold" in question:
            return Answer(question=question, text="The documents do not say.", status="refused")
        return Answer(
            question=question,
            text="Partly: exports fell [1].",
            status="partial",
            not_stated=["the 2025 figure"],
            warnings=["sentence 2 dropped"],
            grounding={"sentences": 2, "kept": 1, "dropped": 1, "fallback": False, "model_called": True},
        )


def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"dim": 4}')
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    return folder


def test_run_fingerprint_sections(tmp_path: Path) -> None:
    from llama_index.core import Document
    from llama_index.core.storage.docstore import SimpleDocumentStore

    index = tmp_path / "index"
    index.mkdir()
    docstore = SimpleDocumentStore()
    docstore.add_documents([Document(text="alpha", id_="doc-a"), Document(text="beta", id_="doc-b")])
    docstore.persist(str(index / "docstore.json"))
    settings = Settings(index_dir=index, embed_model=str(model_dir(tmp_path)), chunk_tokens=256)
    cases = [
        EvalCase(id="a", question="Q?", key_facts=["x"]),
        EvalCase(id="b", question="R?", answer_span="y"),
    ]
    fp = run_fingerprint(FakeAssistant(settings), cases, eval_sets=["set.yaml"], k=7, backend="extractive")
    assert fp["eval_set"]["files"] == ["set.yaml"] and set(fp["eval_set"]["cases"]) == {"a", "b"}
    assert fp["corpus"]["source"] == "docstore" and set(fp["corpus"]["documents"]) == {"doc-a", "doc-b"}
    assert fp["index"] == {"chunk_tokens": 256, "chunk_overlap": 32, "collection": "corpus"}
    assert fp["embedding"]["hash"] == model_hash(Path(settings.embed_model))
    assert fp["retrieval"]["k"] == 7 and fp["retrieval"]["retrieval_mode"] == "hybrid"
    assert fp["retrieval"]["fusion_mode"] == settings.fusion_mode
    assert fp["backend"]["name"] == "extractive" and fp["backend"]["model"] is None
    assert fp["package"]["version"]
    text = json.dumps(fp)
    assert "api_key" not in text and str(tmp_path) not in text  # no secrets, no local paths
    assert fp["embedding"]["model"] == "model"  # a model folder is named, its path is not
    # Changing a case, a document or the model shows up as a named difference.
    docstore.add_documents([Document(text="beta, revised", id_="doc-b")])
    docstore.persist(str(index / "docstore.json"))
    (Path(settings.embed_model) / "weights.bin").write_bytes(b"\x02" * 200)
    cases[0].key_facts = ["z"]
    later = run_fingerprint(
        FakeAssistant(settings.model_copy(update={"fusion_mode": "reciprocal_rerank"})),
        cases,
        eval_sets=["set.yaml"],
        k=7,
        backend="extractive",
    )
    found = "\n".join(differences(fp, later))
    assert "eval set: 1 shared case(s) changed their definition: a" in found
    assert "corpus: document(s) 1 changed: doc-b" in found
    assert "embedding.hash:" in found
    assert "retrieval.fusion_mode: relative_score -> reciprocal_rerank" in found
    assert differences(fp, fp) == []


def test_fingerprint_falls_back_to_the_document_list(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "empty", embed_model=str(model_dir(tmp_path)))
    docs = [{"doc_id": "x", "title": "X", "chunks": 3}]
    fp = run_fingerprint(FakeAssistant(settings, docs), [], backend="openai")
    assert fp["corpus"]["source"] == "documents" and list(fp["corpus"]["documents"]) == ["x"]
    assert fp["backend"]["name"] == "openai" and "llm_temperature" in fp["backend"]
    assert case_hash(EvalCase(id="a", question="Q")) != case_hash(EvalCase(id="a", question="Q", tags=["t"]))


def test_runner_records_status_grounding_and_the_abstention_matrix(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "idx", embed_model=str(model_dir(tmp_path)))
    cases = [
        EvalCase(id="p", question="What happened to exports?", key_facts=["fell"], source_doc_ids=["d"]),
        EvalCase(id="g", question="What is the gold price?", answerable=False),
    ]
    report = run_eval(FakeAssistant(settings), cases, progress=False, eval_sets=["s.yaml"])
    p, g = report["cases"]
    assert p["status"] == "partial" and p["refused"] is False and p["not_stated"] == ["the 2025 figure"]
    assert p["grounding"]["kept"] == 1 and p["warnings"] == ["sentence 2 dropped"]
    assert p["case_hash"] == case_hash(cases[0]) and p["judge"] is None
    assert g["status"] == "refused" and g["refused"] is True
    assert report["abstention"]["answerable"]["partial"] == 1
    assert report["abstention"]["unanswerable"]["refused"] == 1
    assert report["metrics"]["generated_kept_share"] == 0.5 and report["metrics"]["warnings_per_case"] == 1.0
    assert report["metrics"]["partial_rate"] == 1.0
    assert report["fingerprint"]["eval_set"]["n_cases"] == 2
    json.dumps(report, allow_nan=False)
    paths = write_report(report, tmp_path / "out")
    md = paths["md"].read_text()
    assert "## Answers by status" in md
    assert "| answerable | 0 | 1 | 0 | 0 |" in md and "| unanswerable | 0 | 0 | 1 | 0 |" in md
    page = paths["html"].read_text()
    assert "<h2>Answers by status</h2>" in page
    assert "<tr><td>answerable</td><td class='num'>0</td><td class='num'>1</td>" in page
    assert "partial (not stated: the 2025 figure)" in page
    assert json.loads(paths["json"].read_text())["abstention"] == report["abstention"]


def test_report_with_a_comparison(tmp_path: Path) -> None:
    before = baseline_outcomes(400, 0)
    after = dropped(before, drop=0.05, noise=6, seed=0)
    base, run = synthetic_report(before), synthetic_report(after)
    result = check_gate(run, base, resamples=2000, min_slice=20)
    run["comparison"] = {"baseline": "base.json", **result.comparison.to_dict()}
    paths = write_report(run, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["comparison"]["verdict"] == "FAIL"
    hit = next(r for r in data["comparison"]["metrics"] if r["metric"] == "hit_rate")
    assert hit["verdict"] == "FAIL" and hit["low"] < hit["high"] < 0
    assert data["comparison"]["cases"]["regressed"] and data["comparison"]["cases"]["improved"]
    md = paths["md"].read_text()
    assert "## Comparison with the baseline: FAIL" in md
    assert "| hit_rate | higher | 0.800 | 0.750 | -0.050 |" in md
    assert "### Slices" in md and "### Cases that regressed" in md
    page = paths["html"].read_text()
    assert "Paired differences with 95% intervals" in page  # the error-bar plot
    assert page.count("data:image/png;base64,") >= 2
    assert "<td class='FAIL'>FAIL" in page
    assert "Cases that regressed" in page and "Cases that improved" in page
    assert "this run's answer" in page
    regressed = data["comparison"]["cases"]["regressed"][0]
    assert regressed["baseline"]["answer"] in page.replace("&#x27;", "'")
    assert "Slices" in page and "doc:doc0" in page
    assert not np.isnan(hit["detectable_drop"])
