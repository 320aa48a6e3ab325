"""Judge metrics against a real local server speaking the OpenAI (and Ollama) protocol.

The server is ``tests/fake_llm_server.py`` (scripted replies, every request recorded); the judge
calls go through LlamaIndex's FaithfulnessEvaluator and CorrectnessEvaluator over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_llm_server import FakeLLMServer, Reply

from assistant.config import Settings
from assistant.evals import cli as eval_cli
from assistant.evals.dataset import EvalCase
from assistant.evals.judge import Judge, JudgeError
from assistant.evals.runner import run_eval
from assistant.types import Answer, Citation, Hit

pytestmark = pytest.mark.server

PASSAGE_1 = "Exports of the metal fell by half in 2024, the ministry said."
PASSAGE_2 = "Imports rose to 12,000 tonnes over the same period."


def hit(doc_id: str, text: str) -> Hit:
    return Hit(1, 1.0, text, doc_id, doc_id, "p", None, None, None, f"{doc_id}#1", 0, len(text))


def citation(n: int, doc_id: str, passage: str) -> Citation:
    return Citation(
        n, doc_id, doc_id, "p", None, None, None, f"{doc_id}#1", 0, len(passage), passage, passage=passage
    )


@dataclass
class Bot:
    """Answers by question: two cited sentences, a refusal, or an out-of-corpus refusal."""

    def ask(self, question: str, **_: Any) -> Answer:
        if question == "What happened to trade?":
            return Answer(
                question=question,
                text="Exports fell by half in 2024. [1] Imports rose to 12,000 tonnes. [2]",
                citations=[citation(1, "trade", PASSAGE_1), citation(2, "trade", PASSAGE_2)],
                hits=[hit("trade", PASSAGE_1)],
            )
        return Answer(question=question, text="The documents do not say.", status="refused")


CASES = [
    EvalCase(
        id="trade",
        question="What happened to trade?",
        key_facts=["half"],
        source_doc_ids=["trade"],
        reference_answer="Exports halved and imports rose.",
    ),
    EvalCase(
        id="refused-answerable",
        question="Who signed the deal?",
        key_facts=["Smith"],
        source_doc_ids=["trade"],
        reference_answer="Smith",
    ),
    EvalCase(id="out", question="What is the gold price?", answerable=False),
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(model="judge-model") as srv:
        yield srv


@pytest.fixture
def judge_settings(server: FakeLLMServer, tmp_path: Path) -> Settings:
    server.reset()
    return Settings(
        judge_base_url=server.openai_url, judge_model="judge-model", judge_cache_dir=tmp_path / "cache"
    )


def make_judge(settings: Settings, repeats: int = 1) -> Judge:
    judge = Judge.from_settings(settings, answer_backend="extractive", repeats=repeats)
    assert judge is not None
    return judge


def test_judge_metrics_and_cache(server: FakeLLMServer, judge_settings: Settings) -> None:
    server.queue("YES", "NO, the context says nothing about imports.", "4.0\nRight, less complete.")
    report = run_eval(Bot(), CASES, progress=False, judge=make_judge(judge_settings))
    trade, refused, out = report["cases"]
    assert trade["judge"]["faithfulness"] == 0.5 and trade["judge"]["sentences"] == 2
    assert trade["judge"]["correctness_score"] == 4.0 and trade["judge"]["correctness"] == 0.75
    assert refused["judge"]["correctness"] == 0.0 and refused["judge"]["faithfulness"] is None
    assert out["judge"]["correctness"] is None
    assert report["metrics"]["judge_faithfulness"] == 0.5
    assert report["metrics"]["judge_correctness"] == 0.375  # (0.75 + 0) / 2: a refusal is not NaN
    assert report["judge"]["calls"] == 3 and report["judge"]["flip_rate"] is None
    assert report["fingerprint"]["judge"]["model"] == "judge-model"
    # Each sentence went with the passage its marker cites; the reference went to the correctness call.
    first, second, third = (r.body for r in server.requests)
    assert first["model"] == "judge-model"
    prompt_1 = json.dumps(first["messages"])
    assert "Exports fell by half in 2024." in prompt_1 and "the ministry said" in prompt_1
    assert "12,000 tonnes over the same period" not in prompt_1
    assert "12,000 tonnes over the same period" in json.dumps(second["messages"])
    assert "Exports halved and imports rose." in json.dumps(third["messages"])
    # A second run asks nothing: every judgement is cached by judge model, prompt hash and case.
    server.reset()
    again = run_eval(Bot(), CASES, progress=False, judge=make_judge(judge_settings))
    assert server.requests == []
    assert again["judge"]["cached"] == 3 and again["metrics"]["judge_faithfulness"] == 0.5
    # Another judge model is another cache key.
    other = judge_settings.model_copy(update={"judge_model": "judge-2"})
    server.queue("YES", "YES", "5\nfine")
    third_run = run_eval(Bot(), CASES, progress=False, judge=make_judge(other))
    assert len(server.requests) == 3 and third_run["metrics"]["judge_faithfulness"] == 1.0


def test_judge_repeats_report_the_flip_rate(server: FakeLLMServer, judge_settings: Settings) -> None:
    # Sentence 1: YES, YES; sentence 2: YES, NO (flips); correctness 4 then 2 (flips).
    server.queue("YES", "YES", "YES", "NO", "4\nok", "2\nworse")
    report = run_eval(Bot(), CASES, progress=False, judge=make_judge(judge_settings, repeats=2))
    assert report["judge"]["repeats"] == 2 and report["judge"]["items"] == 3
    assert report["judge"]["flip_rate"] == pytest.approx(2 / 3, abs=1e-4)
    trade = report["cases"][0]["judge"]
    assert trade["faithfulness"] == 0.75 and trade["correctness_score"] == 3.0 and trade["flipped"] == 2


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        (["Maybe, hard to say."], "is not YES or NO"),
        ([""], "is not YES or NO"),
        (["YES", "YES", "7\nexcellent"], "outside 1-5"),
        (["YES", "YES", "nan\nhm"], "outside 1-5"),
        (["YES", "YES", "four\nhm"], "is not a score from 1 to 5"),
        ([Reply.error(500, "model overloaded")], "the judge request failed"),
    ],
)
def test_malformed_or_out_of_range_verdicts_are_clear_errors(
    server: FakeLLMServer, judge_settings: Settings, replies: list[Any], expected: str
) -> None:
    server.queue(*replies)
    with pytest.raises(JudgeError, match=expected) as info:
        run_eval(Bot(), CASES, progress=False, judge=make_judge(judge_settings))
    assert "case 'trade'" in str(info.value)
    report = info.value.report
    assert report is not None  # the run's answers are kept, without judge metrics
    assert report["metrics"]["judge_faithfulness"] is None and report["metrics"]["judge_correctness"] is None
    assert report["metrics"]["hit_rate"] == 0.5
    json.dumps(report, allow_nan=False)  # never NaN
    cache = judge_settings.judge_cache_dir / "judgements.jsonl"
    cached = cache.read_text().splitlines() if cache.exists() else []
    assert len(cached) == len(replies) - 1  # only the usable verdicts before the bad one


def test_ollama_protocol(server: FakeLLMServer, tmp_path: Path) -> None:
    server.reset()
    settings = Settings(
        judge_backend="ollama", judge_base_url=server.url, judge_model="judge-model", judge_cache_dir=tmp_path
    )
    server.queue("YES", "YES", "5\nall correct")
    report = run_eval(Bot(), CASES, progress=False, judge=make_judge(settings))
    assert {r.path for r in server.requests} == {"/api/chat"}
    assert (
        report["metrics"]["judge_faithfulness"] == 1.0 and report["cases"][0]["judge"]["correctness"] == 1.0
    )


def test_judging_with_the_answering_model_is_refused_unless_forced(tmp_path: Path) -> None:
    settings = Settings(
        backend="openai",
        llm_model="Writer-7B",
        judge_model="writer-7b",
        judge_base_url="http://127.0.0.1:9/v1",
        judge_cache_dir=tmp_path,
    )
    with pytest.raises(JudgeError, match="--force-judge"):
        Judge.from_settings(settings, answer_backend="openai")
    assert Judge.from_settings(settings, answer_backend="openai", force=True) is not None
    assert Judge.from_settings(settings, answer_backend="extractive") is not None  # no model wrote these
    assert Judge.from_settings(Settings(judge_cache_dir=tmp_path), answer_backend="openai") is None
    with pytest.raises(JudgeError, match="half configured"):
        Judge.from_settings(Settings(judge_model="x"), answer_backend="extractive")


def test_cli_judge_path(server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server.reset()
    evalset = tmp_path / "set.yaml"
    evalset.write_text(
        '- {id: trade, question: "What happened to trade?", key_facts: [half], source_doc_ids: [trade],'
        ' reference_answer: "Exports halved."}\n'
    )
    monkeypatch.setattr(eval_cli, "_open_assistant", lambda index, backend, k: Bot())
    monkeypatch.setenv("ASSISTANT_JUDGE_BASE_URL", server.openai_url)
    monkeypatch.setenv("ASSISTANT_JUDGE_MODEL", "judge-model")
    monkeypatch.setenv("ASSISTANT_JUDGE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    args = ["run", str(evalset), "--out", str(out), "--no-progress"]
    server.queue("YES", "YES", "5\nfine")
    result = CliRunner().invoke(eval_cli.eval_group, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["judge_correctness"] == 1.0
    assert "flip rate" in (out / "report.md").read_text()
    # A malformed verdict: exit 2, the error names the case, the report is still written.
    (tmp_path / "cache" / "judgements.jsonl").unlink()
    server.queue("perhaps")
    result = CliRunner().invoke(eval_cli.eval_group, [*args, "--out", str(tmp_path / "out2")])
    assert result.exit_code == 2, result.output
    assert "case 'trade'" in result.output and "not YES or NO" in result.output
    assert "Traceback" not in result.output
    assert (
        json.loads((tmp_path / "out2" / "report.json").read_text())["metrics"]["judge_faithfulness"] is None
    )
    # The answering model as judge: refused before any case is asked, unless --force-judge.
    monkeypatch.setenv("ASSISTANT_BACKEND", "openai")
    monkeypatch.setenv("ASSISTANT_LLM_MODEL", "judge-model")
    result = CliRunner().invoke(eval_cli.eval_group, [*args, "--out", str(tmp_path / "out3")])
    assert result.exit_code == 2 and "--force-judge" in result.output
    assert not (tmp_path / "out3").exists()
    server.queue("YES", "YES", "5\nfine")
    result = CliRunner().invoke(
        eval_cli.eval_group, [*args, "--out", str(tmp_path / "out4"), "--force-judge"]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(eval_cli.eval_group, [*args, "--out", str(tmp_path / "out5"), "--no-judge"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out5" / "report.json").read_text())["judge"] is None
