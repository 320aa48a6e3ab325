"""The CLI through click's runner, and the eval harness end to end over the real assistant."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from assistant.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_ingest_json_reports_unchanged_on_rerun(shared_index, corpus_copy):
    index_dir, _ = shared_index
    result = CliRunner().invoke(main, ["ingest", str(corpus_copy), "--index", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["unchanged"] == 13 and report["chunks_written"] == 0 and report["failed"] == []


def test_search_and_ask_json_shapes(shared_index):
    index_dir, _ = shared_index
    runner = CliRunner()
    res = runner.invoke(main, ["search", "Ding Xiufeng", "--index", str(index_dir), "-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)
    assert len(hits) == 3 and hits[0]["doc_id"] == "reex_china_two_rare_earth_bases"
    assert {
        "rank",
        "score",
        "doc_id",
        "title",
        "url",
        "date",
        "page",
        "chunk_id",
        "start_char",
        "end_char",
        "text",
    } <= set(hits[0])
    res = runner.invoke(
        main, ["ask", "Who is the Baotou Party Secretary?", "--index", str(index_dir), "--json"]
    )
    assert res.exit_code == 0, res.output
    answer = json.loads(res.stdout)
    assert answer["refused"] is False and "[1]" in answer["answer"]
    assert answer["citations"][0]["n"] == 1 and answer["citations"][0]["quote"]
    res = runner.invoke(main, ["ask", "   ", "--index", str(index_dir)])
    assert res.exit_code == 2 and "empty" in res.output and "Traceback" not in res.output


def test_smoke_eval_writes_reports_and_gates_against_itself(shared_index, tmp_path):
    """12 cases through the real assistant, then again against the first report as baseline:
    the same index and settings give the same answers, so the paired gate PASSes (exit 0)."""
    from assistant.evals.catalogue import METRIC_NAMES

    index_dir, _ = shared_index
    out, again = tmp_path / "out", tmp_path / "again"
    args = ["eval", "run", str(REPO / "evals" / "rare_earths.yaml"), "--index", str(index_dir)]
    args += ["--limit", "12", "--no-progress"]
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert set(METRIC_NAMES) <= set(report["metrics"])
    for key in (
        "hit_rate",
        "mrr",
        "ndcg",
        "citation_precision",
        "citation_recall",
        "key_fact_recall",
        "answer_token_f1",
        "answer_similarity",
        "refusal_accuracy",
        "false_refusal_rate",
        "latency_ms_p50",
        "latency_ms_p95",
        "lead_fact_rate",
        "median_answer_words",
    ):
        assert key in report["metrics"]
    assert report["n_cases"] == 12 and (out / "report.html").exists() and (out / "report.md").exists()
    assert report["metrics"]["hit_rate"] >= 0.8
    assert report["metrics"]["median_answer_words"] > 0
    assert (
        sum(report["abstention"]["answerable"].values()) + sum(report["abstention"]["unanswerable"].values())
        == 12
    )
    assert {c["status"] for c in report["cases"]} <= {"answered", "partial", "refused"}
    fp = report["fingerprint"]
    assert fp["corpus"]["n_documents"] == 13 and fp["corpus"]["source"] == "docstore"
    assert fp["embedding"]["hash"] and fp["eval_set"]["n_cases"] == 12
    assert fp["backend"]["name"] == "extractive" and fp["retrieval"]["k"] == 5

    res = CliRunner().invoke(
        main,
        [
            *args,
            "--out",
            str(again),
            "--baseline",
            str(out / "report.json"),
            "--strict",
            "--resamples",
            "2000",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "gate passed (PASS)" in res.output
    compared = json.loads((again / "report.json").read_text())["comparison"]
    assert compared["verdict"] == "PASS" and compared["fingerprint_differences"] == []
    assert compared["overlap"]["shared"] == 12 and compared["cases"]["regressed"] == []


def test_eval_set_key_facts_occur_in_their_sources(corpus_copy):
    """Every key fact of the shipped eval set is in the cleaned text of a source document."""
    from assistant.evals.dataset import load_eval_sets
    from assistant.evals.metrics import fact_found
    from assistant.loaders import load_document, read_manifest

    manifest = read_manifest(corpus_copy)
    texts = {
        p.stem: load_document(p, corpus_copy, manifest).text
        for p in corpus_copy.iterdir()
        if p.name != "manifest.yaml"
    }
    cases = load_eval_sets([REPO / "evals" / "rare_earths.yaml"])
    assert len(cases) >= 60
    for case in cases:
        for fact in case.key_facts:
            assert any(fact_found(fact, texts[d]) for d in case.source_doc_ids), (case.id, fact)
