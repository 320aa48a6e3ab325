"""Key-fact matching, metrics, the runner, the gate, reports and ``eval compare``/``eval run``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.evals import cli as eval_cli
from assistant.evals import matching, metrics
from assistant.evals.dataset import EvalCase
from assistant.evals.gate import check_gate, compare_reports
from assistant.evals.metrics import aggregate, fact_found, ndcg_at_k, normalise, score_case
from assistant.evals.report import write_report
from assistant.evals.runner import run_eval
from assistant.types import Answer, Citation, Hit

# --- key-fact matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fact", "answer", "expected"),
    [
        ("rare earth", "Rare-earth magnets", True),
        ("rare-earth", "rare earth magnets", True),
        ("rare earth", "rare\u2013earth and rare\u2014earth", True),
        ("2021-2024", "from 2021 \u2013 2024", True),
        ("U.S.", "the US imported", True),
        ("US", "the U.S. imported", True),
        ("U.S.-China", "the US China deal", True),
        ("us", "business", False),
        ("270,000", "about 270,000 tons", True),
        ("270,000", "about 270,000.", True),
        ("270,000", "about 270000 tons", False),
        ("270,000", "about 27,0000 tons", False),
        ("3.5", "grew 3.5%", True),
        ("3", "grew 3.5%", False),
        ("9", "since 1990", False),
        ("9", "nine or 9 bases", True),
        ("nine|9", "there are 9 bases", True),
        ("nine|9", "there are nine bases", True),
        ("nine|9", "there are ninety bases", False),
        ("ton", "2 tonnes", False),
        ("tonnes", "2 Tonnes", True),
        ("China's", "China\u2019s share", True),
        ("\u201cTwo Base\u201d strategy", 'the "two base" Strategy', True),
        ("69%", "69 percent", False),
        ("69%|69 percent", "69 percent", True),
        ("69%", "about 69 % of", True),
        ("Executive Order 14017", "executive   order\n14017", True),
        ("EO 14017", "EO14017", True),
        ("12", "as stated [12] here", False),
        ("1", "yes [1] it is [2, 3]", False),
        ("it is", "yes [1] it [2] is", True),
        ("Biden-Harris", "the Biden-\u2060Harris plan", True),
        ("$1.5 billion", "US$1.5 billion", True),
        ("-", "a - b", False),
    ],
)
def test_fact_found(fact: str, answer: str, expected: bool) -> None:
    assert fact_found(fact, answer) is expected


def test_normalise() -> None:
    assert normalise("  The U.S.\u2013China   deal [1]: 270,000 t ") == "the us china deal 270,000 t"
    assert normalise("\u2018quoted\u2019 \uff11\uff12") == "quoted 12"


# --- per-case and aggregate metrics -------------------------------------------------------------


def case(**kw: Any) -> EvalCase:
    kw.setdefault("id", "c")
    kw.setdefault("question", "q?")
    return EvalCase(**kw)


def record(
    c: EvalCase,
    *,
    text: str = "",
    refused: bool = False,
    hits: list[str] | None = None,
    cited: list[str] | None = None,
    k: int = 5,
    latency: float = 10.0,
    **kw: Any,
) -> dict[str, Any]:
    r = score_case(
        c,
        answer_text=text,
        refused=refused,
        retrieved_doc_ids=hits or [],
        cited_doc_ids=cited or [],
        k=k,
        **kw,
    )
    r["latency_ms"] = latency
    r.setdefault("answer_similarity", None)
    return r


def test_ndcg_worked_example() -> None:
    # D = [a, b, c, d]: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4).
    idcg = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k(["a", "b", "a", "c", "d"], ["a", "c", "e"], 5) == pytest.approx(1.5 / idcg)
    assert ndcg_at_k(["a", "b", "a", "c", "d"], ["a", "c", "e"], 5) == pytest.approx(0.7039, abs=1e-4)
    assert ndcg_at_k(["a", "b"], ["a"], 5) == 1.0
    assert ndcg_at_k(["b", "a"], ["a"], 5) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["b", "c", "a"], ["a"], 2) == 0.0  # a is beyond k
    assert ndcg_at_k([], ["a"], 5) == 0.0


def test_metrics_on_known_cases() -> None:
    c1 = case(id="c1", key_facts=["270,000", "nine|9"], source_doc_ids=["usgs"], tags=["numeric"])
    c2 = case(id="c2", key_facts=["Baotou"], source_doc_ids=["reex", "usgs"])
    c3 = case(id="c3", answerable=False, tags=["numeric"])
    c4 = case(id="c4", answerable=False)
    c5 = case(id="c5", key_facts=["x"], source_doc_ids=["wh"])
    records = [
        # hit at rank 2, all facts, cites usgs and wh (precision 1/2).
        record(
            c1,
            text="270,000 t [1], nine bases [2]",
            hits=["wh", "usgs", "usgs"],
            cited=["usgs", "wh"],
            latency=10,
        ),
        # hit at rank 1, missing fact, cites reex only.
        record(c2, text="Ganzhou [1]", hits=["reex", "wh"], cited=["reex"], latency=20),
        record(c3, text="Not in the corpus.", refused=True, latency=30),
        record(c4, text="Made up answer [1]", cited=["wh"], latency=40),
        # refused answerable case, no hit.
        record(c5, text="", refused=True, hits=["reex"], latency=50),
    ]
    assert [r["hit"] for r in records] == [True, True, None, None, False]
    assert [r["rank"] for r in records] == [2, 1, None, None, None]
    assert records[0]["key_facts_found"] == ["270,000", "nine|9"]
    assert records[1]["key_facts_missing"] == ["Baotou"]
    assert [r["passed"] for r in records] == [True, False, True, False, False]

    m = aggregate(records)
    assert m["hit_rate"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((0.5 + 1 + 0) / 3)
    # c1: D=[wh, usgs], 1 source: DCG = 1/log2(3), IDCG = 1. c2: D=[reex, wh], 2 sources: 1 / (1 + 1/log2(3)).
    assert m["ndcg"] == pytest.approx((1 / math.log2(3) + 1 / (1 + 1 / math.log2(3)) + 0) / 3)
    # Non-refused answerable with sources: c1 (1 of 2 cited are sources), c2 (1 of 1) -> micro 2/3.
    assert m["citation_precision"] == pytest.approx(2 / 3)
    assert m["citation_recall"] == 1.0
    assert m["key_fact_recall"] == pytest.approx((1 + 0 + 0) / 3)
    assert m["refusal_accuracy"] == 0.5
    assert m["false_refusal_rate"] == pytest.approx(1 / 3)
    assert m["latency_ms_p50"] == 30
    assert m["latency_ms_p95"] == pytest.approx(48)
    assert m["answer_token_f1"] is None  # no reference answers
    assert m["answer_similarity"] is None
    assert m["context_recall"] is None

    tagged = metrics.by_tag(records)
    assert set(tagged) == {"numeric"}
    assert tagged["numeric"]["hit_rate"] == 1.0
    assert tagged["numeric"]["refusal_accuracy"] == 1.0


def test_null_metrics_without_eligible_cases() -> None:
    only_unanswerable = [record(case(answerable=False), refused=True)]
    m = aggregate(only_unanswerable)
    assert m["refusal_accuracy"] == 1.0
    for name in (
        "hit_rate",
        "mrr",
        "ndcg",
        "citation_precision",
        "citation_recall",
        "key_fact_recall",
        "false_refusal_rate",
        "answer_token_f1",
    ):
        assert m[name] is None, name
    assert aggregate([])["latency_ms_p50"] is None
    # Cited nothing: precision null, recall 0.
    m = aggregate([record(case(source_doc_ids=["a"]), text="x", hits=["a"])])
    assert m["citation_precision"] is None
    assert m["citation_recall"] == 0.0


def test_token_f1_and_context_recall() -> None:
    assert metrics.token_f1("The answer is 42 [1].", "answer is 42") == 1.0
    # pred tokens: [nine, bases]; ref: [two, bases] -> P = R = 1/2.
    assert metrics.token_f1("nine bases", "two bases") == pytest.approx(0.5)
    assert metrics.token_f1("", "x") == 0.0
    c = case(
        reference_answer="Baotou and Ganzhou",
        reference_contexts=[
            "Baotou in Inner Mongolia hosts the northern base.",
            "Completely unrelated text about copper smelting.",
        ],
    )
    r = record(
        c,
        text="Baotou and Ganzhou [1].",
        hits=["reex"],
        retrieved_texts=["The northern base is Baotou, in Inner Mongolia; it hosts mines."],
    )
    assert r["answer_token_f1"] == 1.0
    assert r["context_recall"] == 0.5


def test_percentile() -> None:
    assert metrics.percentile([5.0], 95) == 5.0
    assert metrics.percentile([1, 2, 3, 4], 50) == 2.5
    assert metrics.percentile([], 50) is None


# --- runner -----------------------------------------------------------------------------------


def make_hit(rank: int, doc_id: str, text: str = "passage") -> Hit:
    return Hit(
        rank=rank,
        score=1.0 / rank,
        text=text,
        doc_id=doc_id,
        title=doc_id,
        publisher="p",
        url=None,
        date=None,
        page=None,
        chunk_id=f"{doc_id}#{rank}",
        start_char=0,
        end_char=len(text),
    )


def make_citation(n: int, doc_id: str, quote: str = "quote") -> Citation:
    return Citation(
        n=n,
        doc_id=doc_id,
        title=doc_id,
        publisher="p",
        url=None,
        date=None,
        page=None,
        chunk_id=f"{doc_id}#1",
        start_char=0,
        end_char=5,
        quote=quote,
    )


@dataclass
class ScriptedAssistant:
    """Answers from a script: question -> (text, hit doc ids, cited doc ids, refused) or an exception."""

    script: dict[str, Any]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def ask(
        self,
        question: str,
        history: list[dict] | None = None,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        backend: str | None = None,
    ) -> Answer:
        self.calls.append({"question": question, "history": history, "k": k, "backend": backend})
        entry = self.script[question]
        if isinstance(entry, Exception):
            raise entry
        text, hits, cited, refused = entry
        return Answer(
            question=question,
            text=text,
            refused=refused,
            hits=[make_hit(i, d) for i, d in enumerate(hits, start=1)],
            citations=[make_citation(i, d) for i, d in enumerate(cited, start=1)],
        )

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        # Bag of two words: a fake but deterministic embedding.
        return [[float("baotou" in t.lower()), float("ganzhou" in t.lower()), 0.1] for t in texts]


def test_run_eval_records_errors_and_similarity() -> None:
    cases = [
        case(
            id="ok",
            question="Q1",
            key_facts=["Baotou"],
            source_doc_ids=["reex"],
            reference_answer="Baotou",
            history=[{"role": "user", "content": "earlier"}],
            tags=["t"],
        ),
        case(id="boom", question="Q2", key_facts=["x"], source_doc_ids=["reex"], reference_answer="Ganzhou"),
        case(id="no", question="Q3", answerable=False),
    ]
    bot = ScriptedAssistant(
        {
            "Q1": ("Baotou [1].", ["reex", "wh"], ["reex"], False),
            "Q2": RuntimeError("index closed"),
            "Q3": ("I cannot find this in the corpus.", ["wh"], [], True),
        }
    )
    report = run_eval(bot, cases, k=3, backend="extractive", progress=False, eval_sets=["set.yaml"])
    assert bot.calls[0]["history"] == [{"role": "user", "content": "earlier"}]
    assert bot.calls[0]["k"] == 3
    assert bot.calls[2]["history"] is None
    assert report["n_cases"] == 3
    assert report["n_errors"] == 1
    assert report["n_failed"] == 1
    assert {"eval_sets", "index", "backend", "k", "created_at", "metrics", "by_tag", "cases"} <= set(report)
    ok, boom, no = report["cases"]
    for key in (
        "id",
        "question",
        "answer",
        "refused",
        "retrieved_doc_ids",
        "cited_doc_ids",
        "hit",
        "rank",
        "key_facts_found",
        "key_facts_missing",
        "latency_ms",
        "answerable",
        "tags",
        "citations",
        "error",
    ):
        assert key in ok, key
    assert ok["citations"][0]["doc_id"] == "reex"
    assert ok["passed"]
    assert boom["error"] == "RuntimeError: index closed"
    assert not boom["passed"]
    assert boom["hit"] is False
    assert no["refused"]
    assert no["passed"]
    assert ok["answer_similarity"] == pytest.approx(1.0)
    assert boom["answer_similarity"] == 0.0
    m = report["metrics"]
    assert m["hit_rate"] == 0.5
    assert m["refusal_accuracy"] == 1.0
    assert m["answer_similarity"] == 0.5
    assert report["by_tag"]["t"]["hit_rate"] == 1.0
    json.dumps(report)  # serialisable as is


# --- gate and compare -------------------------------------------------------------------------


def small_report(hit_b: bool = True, refused_c: bool = True, latency: float = 100.0) -> dict[str, Any]:
    cases = [
        case(id="a", key_facts=["Baotou"], source_doc_ids=["reex"]),
        case(id="b", key_facts=["Ganzhou"], source_doc_ids=["reex"]),
        case(id="c", answerable=False),
    ]
    records = [
        record(cases[0], text="Baotou [1]", hits=["reex"], cited=["reex"], latency=latency),
        record(
            cases[1],
            text="Ganzhou [1]" if hit_b else "Nope [1]",
            hits=["reex"] if hit_b else ["wh"],
            cited=["reex"] if hit_b else ["wh"],
            latency=latency,
        ),
        record(cases[2], text="refused", refused=refused_c, latency=latency),
    ]
    return {
        "eval_sets": ["s.yaml"],
        "backend": "extractive",
        "k": 5,
        "n_cases": 3,
        "metrics": metrics.rounded(aggregate(records)),
        "by_tag": {},
        "cases": records,
    }


def test_gate_thresholds() -> None:
    good = small_report()
    assert check_gate(good, fail_under={"hit_rate": 1.0, "false_refusal_rate": 0.0}).ok
    bad = small_report(hit_b=False)
    result = check_gate(bad, fail_under={"hit_rate": 0.9})
    assert not result.ok
    assert result.failed_metrics == ["hit_rate"]
    assert "hit_rate 0.5 is under the threshold 0.9" in result.messages[0]
    # Lower-is-better metrics: the threshold is an upper limit.
    assert not check_gate(good, fail_under={"latency_ms_p95": 50}).ok
    assert check_gate(good, fail_under={"latency_ms_p95": 500}).ok
    # A threshold on a null metric fails; an unknown metric is an error.
    assert not check_gate(good, fail_under={"answer_token_f1": 0.1}).ok
    with pytest.raises(ValueError, match="unknown metric"):
        check_gate(good, fail_under={"accuracy": 0.5})


def test_gate_against_baseline_names_regressed_cases() -> None:
    baseline = small_report()
    assert check_gate(small_report(), baseline).ok
    result = check_gate(small_report(hit_b=False, refused_c=False), baseline, max_drop=0.02)
    assert not result.ok
    assert {"hit_rate", "key_fact_recall", "refusal_accuracy"} <= set(result.failed_metrics)
    assert result.regressed_cases["hit_rate"] == ["b"]
    assert result.regressed_cases["refusal_accuracy"] == ["c"]
    assert any("hit_rate fell from 1 to 0.5" in m and "regressed cases: b" in m for m in result.messages)
    assert any("naive rule --max-drop" in m for m in result.messages)
    # The paired rule alone: one case of three cannot show a drop (INCONCLUSIVE, the gate passes).
    paired_only = check_gate(small_report(hit_b=False, refused_c=False), baseline)
    assert paired_only.ok
    assert paired_only.verdicts["hit_rate"] == "INCONCLUSIVE"
    # A drop within max_drop passes; latency is not compared with the baseline by default.
    assert check_gate(small_report(hit_b=False), baseline, max_drop=0.6).ok
    slower = small_report(latency=900.0)
    assert check_gate(slower, baseline, max_drop=0.02).ok
    assert check_gate(slower, baseline, max_drop=0.02, gate_latency=True).failed_metrics == [
        "latency_ms_p50",
        "latency_ms_p95",
    ]


def test_compare_reports_text() -> None:
    text = compare_reports(small_report(), small_report(hit_b=False))
    assert "hit_rate" in text
    assert "INCONCLUSIVE" in text
    assert "regressed b: hit_rate yes -> no" in text
    assert "b: passed yes -> no; hit yes -> no; rank 1 -> -" in text
    assert "lost facts 'Ganzhou'" in text


def test_cli_compare(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(small_report()))
    b.write_text(json.dumps(small_report(hit_b=False)))
    result = CliRunner().invoke(eval_cli.eval_group, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "hit_rate" in result.output
    assert "1 changed" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(eval_cli.eval_group, ["compare", str(a), str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_cli_run_gate_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evalset = tmp_path / "set.yaml"
    evalset.write_text(
        "- {id: a, question: Q1, key_facts: [Baotou], source_doc_ids: [reex], tags: [geo]}\n"
        "- {id: b, question: Q2, key_facts: [Ganzhou], source_doc_ids: [reex]}\n"
    )
    bot = ScriptedAssistant(
        {"Q1": ("Baotou [1]", ["reex"], ["reex"], False), "Q2": ("No [1]", ["wh"], ["wh"], False)}
    )
    monkeypatch.setattr(eval_cli, "_open_assistant", lambda index, backend, k: bot)
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["run", str(evalset), "--out", str(out), "--no-progress"]
    result = runner.invoke(eval_cli.eval_group, [*args, "--fail-under", "hit_rate=0.5"])
    assert result.exit_code == 0, result.output
    assert (out / "report.json").is_file()
    result = runner.invoke(eval_cli.eval_group, [*args, "--fail-under", "hit_rate=0.9"])
    assert result.exit_code == 1
    assert "hit_rate 0.5 is under the threshold 0.9" in result.output
    result = runner.invoke(
        eval_cli.eval_group, [*args, "--baseline", str(out / "report.json"), "--tag", "geo"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(eval_cli.eval_group, [*args, "--fail-under", "bogus=1"])
    assert result.exit_code == 2


# --- report files -----------------------------------------------------------------------------


def test_write_report_escapes_html(tmp_path: Path) -> None:
    report = small_report(hit_b=False)
    report["cases"][1]["answer"] = "<script>alert('x')</script> | pipe"
    report["cases"][1]["question"] = "Is <b>bold</b> safe?"
    report["by_tag"] = {"numeric": report["metrics"]}
    paths = write_report(report, tmp_path / "out")
    page = paths["html"].read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Is &lt;b&gt;bold&lt;/b&gt; safe?" in page
    assert "data:image/png;base64," in page
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["metrics"] == report["metrics"]
    md = paths["md"].read_text(encoding="utf-8")
    assert "| hit_rate | 0.500 |" in md
    assert "| answer_token_f1 | n/a |" in md
    assert "## By tag" in md
    assert "| numeric |" in md
    assert "**b**: Is &lt;b&gt;bold&lt;/b&gt; safe?" in md
    assert "## Failing cases (1)" in md
    assert "**b**" in md
    assert "missing facts: Ganzhou" in md


# --- metrics added 2026-12 -----------------------------------------------------------------------


def test_lead_fact_rate_reads_the_text_before_the_first_marker() -> None:
    c = case(key_facts=["Baotou", "2025"], source_doc_ids=["reex"])
    lead = record(c, text="Baotou hosts the base [1]. It opened in 2025 [2].", hits=["reex"], cited=["reex"])
    late = record(c, text="The northern base [1] is in Baotou [2].", hits=["reex"], cited=["reex"])
    no_marker = record(c, text="Baotou, since 2025.", hits=["reex"])
    refused = record(c, text="The documents do not say whether Baotou ...", refused=True)
    assert [r["lead_fact"] for r in (lead, late, no_marker, refused)] == [True, False, True, None]
    assert aggregate([lead, late, no_marker, refused])["lead_fact_rate"] == pytest.approx(2 / 3)
    # Partial answers count as answered; unanswerable cases and cases without key facts do not count.
    partial = record(c, text="Baotou [1].", status="partial", not_stated=["the year"], hits=["reex"])
    assert partial["lead_fact"] is True and partial["status"] == "partial" and not partial["refused"]
    assert record(case(answerable=False), text="x [1]")["lead_fact"] is None
    assert record(case(), text="x [1]")["lead_fact"] is None


def test_span_metrics() -> None:
    c = case(answer_span="the Northern Rare Earth group in Baotou", source_doc_ids=["reex"])
    full = record(c, text="It is the Northern Rare-Earth Group in Baotou [1].", hits=["reex"])
    part = record(c, text="A group in Baotou [1].", hits=["reex"])
    refused = record(c, text="The documents do not say.", refused=True)
    # Content words: northern, rare, earth, group, baotou ("the", "in" are stop words).
    assert full["span_token_recall"] == 1.0 and full["span_contained"] is True
    assert part["span_token_recall"] == pytest.approx(2 / 5) and part["span_contained"] is False
    assert refused["span_token_recall"] == 0.0 and refused["span_contained"] is False
    m = aggregate([full, part, refused])
    assert m["span_token_recall"] == pytest.approx((1 + 0.4 + 0) / 3)
    assert m["span_contained"] == pytest.approx(1 / 3)
    # No span: the metrics do not apply (null, not 0).
    assert aggregate([record(case(key_facts=["x"]), text="x")])["span_token_recall"] is None
    # A span of stop words only keeps its words.
    assert matching.span_token_recall("to be or not to be", "not to be [1]") == pytest.approx(3 / 4)


def test_answer_words_partial_rate_and_abstention_matrix() -> None:
    a = case(id="a", key_facts=["x"])
    u = case(id="u", answerable=False)
    records = [
        record(a, text="One two three [1] four."),
        record(a, text="One two [1].", status="partial", not_stated=["the date"]),
        record(a, text="No.", refused=True),
        record(u, text="Words here.", refused=True),
        record(u, text="A made up answer of six words [1]."),
        record(a, text="", error="RuntimeError: boom"),
    ]
    assert [r["answer_words"] for r in records] == [4, 2, None, None, 7, None]
    m = aggregate(records)
    assert m["median_answer_words"] == 4.0
    assert m["partial_rate"] == pytest.approx(1 / 4)
    assert records[5]["status"] is None and records[1]["not_stated"] == ["the date"]
    assert metrics.abstention(records) == {
        "answerable": {"answered": 1, "partial": 1, "refused": 1, "error": 1},
        "unanswerable": {"answered": 1, "partial": 0, "refused": 1, "error": 0},
    }


def test_grounding_metrics_from_hand_made_records() -> None:
    c = case(key_facts=["x"], source_doc_ids=["d"])
    g1 = {"sentences": 4, "kept": 3, "dropped": 1, "added": 2, "fallback": False, "model_called": True}
    g2 = {"sentences": 2, "kept": 0, "dropped": 2, "fallback": True, "model_called": True}
    records = [
        record(c, text="x [1]", grounding=g1, warnings=["sentence 2 not supported"]),
        record(c, text="x [1]", grounding=g2, warnings=["no sentence kept", "fell back to extractive"]),
        record(c, text="x [1]"),  # extractive: no grounding, not counted
    ]
    assert records[0]["grounding"] == g1 and records[1]["warnings"] == [
        "no sentence kept",
        "fell back to extractive",
    ]
    m = aggregate(records)
    assert m["generated_kept_share"] == pytest.approx(3 / 6)
    assert m["fallback_rate"] == 0.5
    assert m["warnings_per_case"] == 1.5
    assert m["complemented_rate"] == 1.0  # of the answers shown as generated (the fallback is not)
    extractive = aggregate([record(c, text="x [1]", warnings=["w"])])
    assert extractive["generated_kept_share"] is None and extractive["warnings_per_case"] is None


def test_no_metric_is_nan_on_refusals() -> None:
    c = case(key_facts=["x"], source_doc_ids=["d"], reference_answer="x", answer_span="x y")
    only_refusals = [
        record(c, text="", refused=True, hits=["d"]),
        record(case(answerable=False), refused=True),
    ]
    for r in only_refusals:
        r["answer_similarity"] = 0.0
    m = aggregate(only_refusals)
    assert all(v is None or math.isfinite(v) for v in m.values()), m
    json.dumps(m, allow_nan=False)
    assert (
        m["citation_precision"] is None and m["lead_fact_rate"] is None and m["median_answer_words"] is None
    )


def test_adding_a_metric_is_one_declaration(tmp_path: Path) -> None:
    """A metric registered once shows up in the aggregate, the report, the floors and the gate."""
    from assistant.evals.catalogue import METRICS
    from assistant.evals.registry import Metric, MetricRegistry

    extra = Metric(
        "short_answer_rate",
        "answers of ten words or fewer",
        lambda r: len(r["answer"].split()) <= 10,
        binary=True,
        requires=("answer",),
    )
    registry = MetricRegistry()
    for m in METRICS:
        registry.register(m)
    registry.register(extra)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(extra)
    monkey = pytest.MonkeyPatch()
    try:
        import assistant.evals.catalogue as catalogue
        import assistant.evals.gate as gate
        import assistant.evals.metrics as metrics_module
        import assistant.evals.paired as paired
        import assistant.evals.report as report_module

        for module in (catalogue, metrics_module, paired, gate, report_module):
            monkey.setattr(module, "METRICS", registry, raising=False)
        for module in (catalogue, gate, report_module):
            monkey.setattr(module, "METRIC_NAMES", registry.names, raising=False)
        report = small_report()
        report["metrics"] = aggregate(report["cases"])
        assert report["metrics"]["short_answer_rate"] == 1.0
        paths = write_report(report, tmp_path)
        assert "| short_answer_rate | 1.000 | higher |" in paths["md"].read_text()
        assert not check_gate(report, fail_under={"short_answer_rate": 1.5}).ok
        assert "short_answer_rate" in {m.metric for m in check_gate(report, report).comparison.metrics}
    finally:
        monkey.undo()


def test_answer_sentences_and_markers() -> None:
    assert matching.marker_numbers("a [1] b [2, 4] c [5-7] d [8\u20139]") == [1, 2, 4, 5, 6, 7, 8, 9]
    # Extractive answers put the marker after the full stop, generative ones before it.
    assert matching.answer_sentences("Exports fell. [1] Imports rose 3.5%. [2, 3]") == [
        ("Exports fell.", [1]),
        ("Imports rose 3.5%.", [2, 3]),
    ]
    assert matching.answer_sentences("Exports fell [1]. Imports rose [2]. No marker here.") == [
        ("Exports fell.", [1]),
        ("Imports rose.", [2]),
        ("No marker here.", []),
    ]
    assert matching.answer_sentences("") == []
    assert matching.lead_text("Baotou [1] and more [2]") == "Baotou "
