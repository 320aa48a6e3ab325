"""The paired gate on synthetic runs whose truth is known, and on reports that do not match.

A synthetic case passes (its source document retrieved and cited, both key facts in the answer)
or fails (another document, no facts); a run is a list of such outcomes turned into real report
records by ``score_case``, so every metric of the catalogue is computed as in a real run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.evals import cli as eval_cli
from assistant.evals.dataset import EvalCase
from assistant.evals.gate import check_gate
from assistant.evals.metrics import score_case
from assistant.evals.paired import compare
from assistant.evals.runner import finish_report

REPO = Path(__file__).resolve().parents[1]
NO_SLICES = 10**6  # min_slice that skips slices where a test does not need them


def synthetic_case(i: int, n_docs: int = 4) -> EvalCase:
    return EvalCase(
        id=f"c{i}",
        question=f"What happened in episode {i}?",
        key_facts=[f"event {i} alpha", f"event {i} beta"],
        source_doc_ids=[f"doc{i % n_docs}"],
        tags=["even" if i % 2 == 0 else "odd"],
    )


def synthetic_record(case: EvalCase, passed: bool, latency: float = 10.0) -> dict[str, Any]:
    i = case.id[1:]
    if passed:
        text, hits = f"Event {i} alpha came with event {i} beta [1].", [case.source_doc_ids[0], "other"]
    else:
        text, hits = "Something else happened [1].", ["other", "another"]
    record = score_case(
        case, answer_text=text, refused=False, retrieved_doc_ids=hits, cited_doc_ids=hits[:1], k=5
    )
    record["latency_ms"] = latency
    record["answer_similarity"] = None
    record["citations"] = []
    return record


_RECORDS: dict[tuple[int, bool], dict[str, Any]] = {}


def synthetic_report(outcomes: Any, *, summary: bool = True) -> dict[str, Any]:
    """A report whose case ``i`` passed when ``outcomes[i]`` (records built once per case and
    state, then copied). ``summary=False`` leaves out the metrics, which the paired gate does
    not read."""
    records = []
    for i, outcome in enumerate(outcomes):
        key = (i, bool(outcome))
        if key not in _RECORDS:
            _RECORDS[key] = synthetic_record(synthetic_case(i), bool(outcome))
        records.append(dict(_RECORDS[key]))
    report = {"eval_sets": ["synthetic.yaml"], "backend": "extractive", "k": 5, "cases": records}
    return finish_report(report) if summary else report


def dropped(baseline: np.ndarray, *, drop: float, noise: int, seed: int) -> np.ndarray:
    """A run whose truth is known: ``round(drop * n)`` passing cases now fail, and on top of that
    ``noise`` passing cases fail and ``noise`` failing cases pass (changes that cancel out)."""
    rng = np.random.default_rng(seed)
    run = baseline.copy()
    passing = rng.permutation(np.flatnonzero(baseline))
    failing = rng.permutation(np.flatnonzero(~baseline))
    broken = int(np.ceil(drop * len(baseline) - 1e-9))
    run[passing[: broken + noise]] = False
    run[failing[:noise]] = True
    return run


def baseline_outcomes(n: int, seed: int, rate: float = 0.8) -> np.ndarray:
    rng = np.random.default_rng(1000 + seed)
    out = np.zeros(n, dtype=bool)
    out[rng.permutation(n)[: round(rate * n)]] = True
    return out


@pytest.mark.parametrize("seed", range(3))
def test_true_five_point_drop_on_400_cases_fails(seed: int) -> None:
    before = baseline_outcomes(400, seed)
    after = dropped(before, drop=0.05, noise=6, seed=seed)
    assert before.mean() - after.mean() == pytest.approx(0.05)
    result = check_gate(synthetic_report(after), synthetic_report(before), min_slice=NO_SLICES)
    assert not result.ok
    assert result.verdicts["hit_rate"] == "FAIL"
    assert result.verdicts["key_fact_recall"] == "FAIL"
    hit = next(m for m in result.comparison.metrics if m.metric == "hit_rate")
    assert hit.high < 0 and hit.p_holm < 0.025
    assert hit.detectable_drop < 0.05  # the set can see a drop this size
    assert any(m.startswith("hit_rate: FAIL") and "regressed cases: c" in m for m in result.messages)


@pytest.mark.parametrize("seed", range(3))
def test_same_drop_on_30_cases_is_inconclusive(seed: int) -> None:
    before = baseline_outcomes(30, seed)
    after = dropped(before, drop=0.05, noise=1, seed=seed)  # 2 of 30 break: at least 5 points
    result = check_gate(synthetic_report(after), synthetic_report(before), min_slice=NO_SLICES)
    assert result.ok, result.messages
    assert result.verdicts["hit_rate"] == "INCONCLUSIVE"
    hit = next(m for m in result.comparison.metrics if m.metric == "hit_rate")
    assert hit.low < 0  # a drop is not ruled out: not PASS
    assert hit.detectable_drop > 0.15  # ... and the set says it is too small to see 5 points
    # The naive rule fails it on the same evidence.
    naive = check_gate(synthetic_report(after), synthetic_report(before), max_drop=0.02, min_slice=NO_SLICES)
    assert not naive.ok and "hit_rate" in naive.failed_metrics


def test_noise_alone_passes_at_the_stated_rate() -> None:
    """Two runs drawn from the same per-case pass probabilities (stable cases with a 1 % flip
    chance, 8 % flaky cases at 50 %): the gate may FAIL in at most 2.5 % of such pairs (the
    one-sided level, Holm-corrected across metrics), checked over 150 seeds with a 3-sigma
    allowance; hit_rate's own uncorrected test may reject at most about its nominal 2.5 %."""
    seeds = range(150)
    gate_fails = raw_rejections = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        kind = rng.choice(3, size=100, p=[0.75, 0.17, 0.08])
        p = np.array([0.99, 0.01, 0.5])[kind]
        before, after = rng.random(100) < p, rng.random(100) < p
        result = check_gate(
            synthetic_report(after, summary=False),
            synthetic_report(before, summary=False),
            resamples=1000,
            seed=seed,
            min_slice=NO_SLICES,
        )
        gate_fails += not result.ok
        hit = next(m for m in result.comparison.metrics if m.metric == "hit_rate")
        raw_rejections += hit.p_value is not None and hit.p_value < 0.025
    rate = gate_fails / len(seeds)
    assert rate <= 0.025 + 3 * np.sqrt(0.025 * 0.975 / len(seeds)), rate
    assert raw_rejections / len(seeds) <= 0.06


def test_identical_runs_pass_and_margin_decides_pass() -> None:
    before = baseline_outcomes(200, 0)
    result = check_gate(synthetic_report(before), synthetic_report(before), min_slice=NO_SLICES)
    assert result.ok and result.comparison.verdict == "PASS"
    assert set(result.verdicts.values()) == {"PASS"}
    # One case lost of 200: not a FAIL; with margin 0 not a PASS either; a 0.05 margin passes it.
    after = before.copy()
    after[np.flatnonzero(before)[0]] = False
    strict_margin = check_gate(synthetic_report(after), synthetic_report(before), min_slice=NO_SLICES)
    assert strict_margin.ok and strict_margin.verdicts["hit_rate"] == "INCONCLUSIVE"
    loose = check_gate(synthetic_report(after), synthetic_report(before), margin=0.05, min_slice=NO_SLICES)
    assert loose.verdicts["hit_rate"] == "PASS"


def test_lower_is_better_metric_fails_on_a_rise() -> None:
    # 40 answerable cases all answered in the baseline; the run refuses 12 of them.
    cases = [synthetic_case(i) for i in range(40)]
    base = finish_report({"cases": [synthetic_record(c, True) for c in cases]})
    records = []
    for i, c in enumerate(cases):
        if i < 12:
            r = score_case(
                c, answer_text="", refused=True, retrieved_doc_ids=["other"], cited_doc_ids=[], k=5
            )
            r.update(latency_ms=10.0, answer_similarity=None, citations=[])
        else:
            r = synthetic_record(c, True)
        records.append(r)
    run = finish_report({"cases": records})
    result = check_gate(run, base, min_slice=NO_SLICES)
    row = next(m for m in result.comparison.metrics if m.metric == "false_refusal_rate")
    assert row.difference == pytest.approx(0.3) and row.verdict == "FAIL"
    assert row.case_test["worse"] == 12
    assert "false_refusal_rate" in result.failed_metrics


def test_slices_list_the_regressed_slice() -> None:
    before = np.ones(240, dtype=bool)
    after = before.copy()
    after[[i for i in range(240) if i % 4 == 1][:30]] = False  # 30 of the 60 doc1 cases break
    result = check_gate(synthetic_report(after), synthetic_report(before), min_slice=10, resamples=2000)
    comparison = result.comparison
    assert "doc:doc1" in comparison.regressed_slices
    assert "doc:doc0" not in comparison.regressed_slices
    assert {s.name for s in comparison.slices} >= {"answerable", "tag:even", "tag:odd", "doc:doc0"}
    assert "unanswerable" not in {s.name for s in comparison.slices}
    doc1 = next(s for s in comparison.slices if s.name == "doc:doc1")
    assert doc1.n == 60
    small = compare(synthetic_report(after[:40]), synthetic_report(before[:40]), min_slice=15, resamples=500)
    assert small.skipped_slices["doc:doc1"] == 10
    # Per-case diffs: the broken cases regressed, with both answers.
    regressed = comparison.cases["regressed"]
    assert len(regressed) == 30 and comparison.cases["improved"] == []
    assert regressed[0]["baseline"]["answer"].startswith("Event") and regressed[0]["run"][
        "answer"
    ].startswith("Something")
    assert "hit_rate yes -> no" in regressed[0]["changes"]


# --- reports that do not match ---------------------------------------------------------------------


def fingerprinted(report: dict[str, Any], **changes: Any) -> dict[str, Any]:
    fp = {
        "version": 1,
        "package": {"name": "corpus-assistant", "version": "0.1.0"},
        "eval_set": {
            "files": ["synthetic.yaml"],
            "n_cases": 3,
            "hash": "x",
            "cases": {"c0": "h0", "c1": "h1"},
        },
        "corpus": {
            "n_documents": 2,
            "hash": "y",
            "documents": {"doc0": "d0", "doc1": "d1"},
            "source": "docstore",
        },
        "index": {"chunk_tokens": 200, "chunk_overlap": 32, "collection": "corpus"},
        "embedding": {"model": "m", "backend": "torch", "hash": "e" * 64},
        "retrieval": {"k": 5, "retrieval_mode": "hybrid", "fusion_mode": "relative_score"},
        "backend": {"name": "extractive", "model": None},
        "settings": {},
    }
    for path, value in changes.items():
        section, _, key = path.partition("__")
        fp[section] = {**fp[section], key: value} if key else value
    return {**copy.deepcopy(report), "fingerprint": fp}


def test_fingerprint_mismatch_warns_and_strict_fails() -> None:
    base = fingerprinted(synthetic_report(baseline_outcomes(40, 0)))
    run = fingerprinted(
        synthetic_report(baseline_outcomes(40, 0)),
        corpus__documents={"doc0": "CHANGED", "doc2": "d2"},
        index__chunk_tokens=256,
        eval_set__cases={"c0": "h0", "c1": "other"},
        embedding__hash="f" * 64,
    )
    result = check_gate(run, base, min_slice=NO_SLICES)
    assert result.ok
    text = "\n".join(result.warnings)
    assert "corpus: document(s) 1 changed: doc0; 1 added: doc2; 1 removed: doc1" in text
    assert "index.chunk_tokens: 200 -> 256" in text
    assert "eval set: 1 shared case(s) changed their definition: c1" in text
    assert "embedding.hash:" in text
    strict = check_gate(run, base, strict=True, min_slice=NO_SLICES)
    assert not strict.ok and "strict" in strict.failed_metrics
    assert any(m.startswith("strict: fingerprint differs: index.chunk_tokens") for m in strict.messages)
    # Same fingerprint: no warning, strict passes.
    same = check_gate(fingerprinted(run), fingerprinted(run), strict=True, min_slice=NO_SLICES)
    assert same.ok and same.warnings == []


def test_partial_overlap_compares_shared_cases_and_strict_fails() -> None:
    base = synthetic_report(baseline_outcomes(50, 1))
    run = copy.deepcopy(base)
    run["cases"] = run["cases"][5:]  # 5 baseline cases gone
    run["cases"][0]["question"] = "A different question?"  # same id, other question: not shared
    extra = synthetic_record(synthetic_case(99), True)
    run["cases"].append(extra)
    finish_report(run)
    result = check_gate(run, base, min_slice=NO_SLICES)
    overlap = result.comparison.overlap
    assert overlap["shared"] == 44
    assert overlap["only_baseline"] == [f"c{i}" for i in range(5)]
    assert overlap["only_run"] == ["c99"]
    assert overlap["question_changed"] == ["c5"]
    assert result.ok
    assert any("share 44 cases" in w for w in result.warnings)
    assert next(m for m in result.comparison.metrics if m.metric == "hit_rate").n == 44
    strict = check_gate(run, base, strict=True, min_slice=NO_SLICES)
    assert not strict.ok and any("share 44 cases" in m for m in strict.messages)
    none_shared = copy.deepcopy(base)
    for c in none_shared["cases"]:
        c["id"] += "-new"
    assert not check_gate(none_shared, base, min_slice=NO_SLICES).ok


def test_old_baseline_without_fingerprint_or_new_fields_is_compared_on_what_it_has() -> None:
    # a report of the main set as written before fingerprints, status and the span metrics existed
    old = json.loads((REPO / "tests/data/report_before_fingerprints.json").read_text(encoding="utf-8"))
    assert "fingerprint" not in old and "status" not in old["cases"][0]
    run = copy.deepcopy(old)
    for c in run["cases"]:
        c["status"] = "refused" if c["refused"] else "answered"
        c.update(answer_span=None, grounding=None, warnings=[], not_stated=[], judge=None)
    finish_report(run)
    result = check_gate(run, old, resamples=1000)
    comparison = result.comparison
    assert result.ok and comparison.verdict == "PASS"
    assert any("no fingerprint" in w for w in result.warnings)
    assert (
        "span_token_recall" in comparison.not_compared
        and "not in the baseline" in (comparison.not_compared["span_token_recall"])
    )
    compared = {m.metric for m in comparison.metrics}
    assert {"hit_rate", "key_fact_recall", "lead_fact_rate", "refusal_accuracy"} <= compared
    assert comparison.slices  # the tags of the old report give slices


def test_cli_compare_prints_the_paired_table_and_exits_on_fail(tmp_path: Path) -> None:
    before = baseline_outcomes(400, 0)
    a, b, same = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "same.json"
    a.write_text(json.dumps(synthetic_report(before)))
    b.write_text(json.dumps(synthetic_report(dropped(before, drop=0.05, noise=6, seed=0))))
    same.write_text(a.read_text())
    runner = CliRunner()
    args = ["--resamples", "2000", "--min-slice", "50"]
    result = runner.invoke(eval_cli.eval_group, ["compare", str(a), str(b), *args])
    assert result.exit_code == 1, result.output
    assert "hit_rate" in result.stdout and "FAIL" in result.stdout and "overall: FAIL" in result.stdout
    assert "gate FAILED" in result.stderr
    result = runner.invoke(eval_cli.eval_group, ["compare", str(a), str(same), *args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "PASS" and data["overlap"]["shared"] == 400
    row = next(r for r in data["metrics"] if r["metric"] == "hit_rate")
    assert {
        "difference",
        "low",
        "high",
        "p_value",
        "p_holm",
        "detectable_drop",
        "verdict",
        "case_test",
    } <= set(row)


def test_cli_compare_partial_overlap_warns_and_strict_fails(tmp_path: Path) -> None:
    base = synthetic_report(baseline_outcomes(30, 2))
    run = copy.deepcopy(base)
    run["cases"] = run["cases"][3:]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(base))
    b.write_text(json.dumps(finish_report(run)))
    runner = CliRunner()
    result = runner.invoke(eval_cli.eval_group, ["compare", str(a), str(b), "--resamples", "500"])
    assert result.exit_code == 0, result.output
    assert "paired comparison on 27 shared cases" in result.stdout
    assert "3 only in the baseline" in result.stdout and "only the shared cases are compared" in result.stdout
    result = runner.invoke(eval_cli.eval_group, ["compare", str(a), str(b), "--resamples", "500", "--strict"])
    assert result.exit_code == 1
    assert "strict: the reports share 27 cases" in result.stderr
