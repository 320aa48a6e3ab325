"""Eval set loading and validation, feedback drafts and ``eval from-feedback``/bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from assistant.evals.cli import eval_group
from assistant.evals.dataset import EvalSetError, EvalSetWarning, load_eval_sets, select_cases
from assistant.evals.feedback import drafts_from_feedback

GOOD_YAML = """\
- id: ree-1
  question: How many rare earth bases does China plan?
  key_facts: ["two|2", Baotou]
  source_doc_ids: [reex_china_two_rare_earth_bases]
  reference_answer: Two, Baotou and Ganzhou.
  tags: [numeric]
- question: And where is the second one?
  history:
    - {role: user, content: "How many bases?"}
    - {role: assistant, content: Two.}
  key_facts: [Ganzhou, 2025]
- id: gold
  question: What is the gold price?
  answerable: false
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_yaml(tmp_path: Path) -> None:
    cases = load_eval_sets([write(tmp_path, "set.yaml", GOOD_YAML)])
    assert [c.id for c in cases] == ["ree-1", "set-2", "gold"]
    first, second, third = cases
    assert first.key_facts == ["two|2", "Baotou"]
    assert first.tags == ["numeric"]
    assert first.answerable
    assert second.history[1] == {"role": "assistant", "content": "Two."}
    assert second.key_facts == ["Ganzhou", "2025"]  # YAML integers become strings
    assert not third.answerable
    assert third.key_facts == []
    assert third.source.startswith(f"{tmp_path / 'set.yaml'}:12")


def test_load_jsonl_and_labelled_rag_dataset(tmp_path: Path) -> None:
    jsonl = write(
        tmp_path,
        "more.jsonl",
        "\n".join(
            [
                json.dumps({"id": "j1", "question": "Q one?", "key_facts": ["a"]}),
                "",
                "# a comment line",
                json.dumps({"question": "Q two?", "answerable": False}),
            ]
        ),
    )
    rag = write(
        tmp_path,
        "rag.json",
        json.dumps(
            {
                "examples": [
                    {
                        "query": "What is REEx?",
                        "query_by": {"model_name": "x", "type": "ai"},
                        "reference_contexts": ["REEx is a news site."],
                        "reference_answer": "A news site.",
                        "reference_answer_by": {"type": "human"},
                    },
                    {"query": "Second?", "reference_contexts": None, "reference_answer": None},
                ]
            }
        ),
    )
    cases = load_eval_sets([jsonl, rag])
    assert [c.id for c in cases] == ["j1", "more-2", "rag-1", "rag-2"]
    assert cases[1].source == f"{jsonl}:4 (case 2), id 'more-2'"
    assert cases[2].question == "What is REEx?"
    assert cases[2].answerable
    assert cases[2].key_facts == []
    assert cases[2].reference_contexts == ["REEx is a news site."]
    assert cases[2].reference_answer == "A news site."
    assert cases[3].reference_contexts == []
    assert cases[3].reference_answer is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- id: a\n  key_facts: [x]\n", r"set\.yaml:1 \(case 1\), id 'a': field 'question' is missing"),
        (
            "- id: a\n  question: Q\n- id: b\n  question: 5\n",
            r":3 \(case 2\), id 'b': field 'question' must be",
        ),
        (
            "- id: a\n  question: Q\n  key_facts: Baotou\n",
            r"id 'a': field 'key_facts' must be a list of strings",
        ),
        ("- id: a\n  question: Q\n  key_facts: [1.50]\n", r"field 'key_facts\[0\]'.*quote numbers"),
        ("- id: a\n  question: Q\n  answerable: 'no'\n", r"field 'answerable' must be true or false"),
        (
            "- id: a\n  question: Q\n  history: [{role: bot, content: hi}]\n",
            r"id 'a': field 'history\[0\]\.role' is 'bot'; use one of user, assistant",
        ),
        (
            "- id: a\n  question: Q\n  answerable: false\n  key_facts: [x]\n",
            r"id 'a': field 'key_facts' is set but answerable is false.*remove key_facts or set answerable",
        ),
        ("- id: a\n  question: Q\n- id: a\n  question: R\n", r":3 \(case 2\), id 'a': duplicate id 'a'"),
        ("id: a\nquestion: Q\n", r"top level must be a list of cases"),
        ("- id: a\n  question: [unclosed\n", r"not valid YAML"),
    ],
)
def test_validation_errors_name_file_case_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(EvalSetError, match=expected):
        load_eval_sets(write(tmp_path, "set.yaml", text))


def test_duplicate_id_across_files_and_bad_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "- id: x\n  question: Q\n")
    b = write(tmp_path, "b.jsonl", '{"id": "x", "question": "R"}\n')
    with pytest.raises(
        EvalSetError, match=r"b\.jsonl:1 \(case 1\), id 'x': duplicate id 'x' \(first used at .*a\.yaml:1"
    ):
        load_eval_sets([a, b])
    with pytest.raises(EvalSetError, match=r"c\.jsonl:2: not valid JSON"):
        load_eval_sets(write(tmp_path, "c.jsonl", '{"question": "Q"}\n{oops\n'))
    with pytest.raises(EvalSetError, match="not found"):
        load_eval_sets(tmp_path / "missing.yaml")
    with pytest.raises(EvalSetError, match=r"unknown eval set format '\.txt'"):
        load_eval_sets(write(tmp_path, "d.txt", "x"))
    with pytest.raises(EvalSetError, match=r"examples\[0\]\): field 'query'"):
        load_eval_sets(write(tmp_path, "e.json", json.dumps({"examples": [{"reference_answer": "x"}]})))


def test_unknown_field_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "set.yaml", "- id: a\n  question: Q\n  key_fact: [x]\n")
    with pytest.warns(
        EvalSetWarning, match=r"id 'a': unknown field 'key_fact' ignored \(did you mean 'key_facts'\?\)"
    ):
        cases = load_eval_sets(path)
    assert cases[0].key_facts == []


def test_select_cases(tmp_path: Path) -> None:
    cases = load_eval_sets(write(tmp_path, "set.yaml", GOOD_YAML))
    assert [c.id for c in select_cases(cases, tags=["numeric"])] == ["ree-1"]
    assert [c.id for c in select_cases(cases, limit=2)] == ["ree-1", "set-2"]


# --- feedback ---------------------------------------------------------------------------------

FEEDBACK = [
    {
        "question": "Good one?",
        "answer": "Yes [1]",
        "citations": [{"n": 1, "doc_id": "a"}],
        "verdict": "up",
        "comment": "",
        "time": "2025-11-02T10:00:00Z",
    },
    {
        "question": "Bad one?",
        "answer": "Wrong [1] [2]",
        "citations": [{"n": 1, "doc_id": "usgs"}, {"n": 2, "doc_id": "reex"}, {"n": 3, "doc_id": "usgs"}],
        "verdict": "down",
        "comment": "missed 2024",
        "time": "2025-11-02T11:00:00+00:00",
        "history": [{"role": "user", "content": "before"}],
    },
    {
        "question": "Another bad?",
        "answer": "No",
        "citations": [],
        "verdict": "down",
        "comment": "refused",
        "time": "2025-11-02T12:00:00Z",
    },
]


def test_drafts_from_feedback(tmp_path: Path) -> None:
    lines = [json.dumps(e) for e in FEEDBACK] + ["{broken", json.dumps({"verdict": "down"}), "[1]"]
    path = write(tmp_path, "feedback.jsonl", "\n".join(lines) + "\n")
    with pytest.warns(EvalSetWarning) as caught:
        drafts = drafts_from_feedback([path])
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith(f"{path}:4: malformed feedback skipped: not valid JSON")
    assert messages[1] == f"{path}:5: malformed feedback skipped: no 'question' string"
    assert messages[2] == f"{path}:6: malformed feedback skipped: not a JSON object"
    assert [d["id"] for d in drafts] == ["fb-2025-11-02-1", "fb-2025-11-02-2"]
    first = drafts[0]
    assert first["question"] == "Bad one?"
    assert first["answerable"] is True
    assert first["key_facts"] == []
    assert first["source_doc_ids"] == ["usgs", "reex"]
    assert first["tags"] == ["feedback"]
    assert first["comment"] == "missed 2024"
    assert "TODO" in first["note"]
    assert first["history"] == [{"role": "user", "content": "before"}]
    assert "history" not in drafts[1]


def test_cli_from_feedback_writes_loadable_draft(tmp_path: Path) -> None:
    feedback = write(tmp_path, "fb.jsonl", "\n".join(json.dumps(e) for e in FEEDBACK) + "\n")
    out = tmp_path / "draft.yaml"
    runner = CliRunner()
    result = runner.invoke(eval_group, ["from-feedback", str(feedback), "-o", str(out)])
    assert result.exit_code == 0, result.output
    drafts = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [d["id"] for d in drafts] == ["fb-2025-11-02-1", "fb-2025-11-02-2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvalSetWarning)  # a draft is a valid eval set, without warnings
        cases = load_eval_sets(out)
    assert cases[0].meta["comment"] == "missed 2024"
    result = runner.invoke(eval_group, ["from-feedback", str(feedback), "-o", str(out)])
    assert result.exit_code == 2
    assert "--force" in result.output


def test_cli_run_bad_input_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "- id: a\n  key_facts: [x]\n")
    result = CliRunner().invoke(eval_group, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "field 'question' is missing" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(eval_group, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "not found" in result.output


# A phrase of each out-of-corpus question that names what the question is about; none may occur in
# any document of the shipped corpus, or the case would not be out of corpus. A new out-of-corpus
# case needs its phrase here.
OUT_OF_CORPUS_PHRASES = {
    "ooc-spodumene-price-2019": "spodumene",
    "ooc-eu-crma-benchmarks": "Critical Raw Materials Act",
    "ooc-lynas-kuantan": "Kuantan",
    "ooc-canada-strategy-cobalt": "Canadian Critical Minerals Strategy",
    "ooc-kvanefjeld": "Kvanefjeld",
    "ooc-mount-weld-grade": "Mount Weld",
    "ooc-bayan-obo-share": "Bayan Obo",
    "ooc-northern-rare-earth-quota": "China Northern Rare Earth",
    "ooc-white-mesa-ndpr": "White Mesa",
    "ooc-kachin-mining": "Kachin",
    "ooc-isa-mining-code": "International Seabed Authority",
    "ooc-ukraine-minerals-deal": "Ukraine",
    "ooc-lkab-kiruna": "Kiruna",
    "ooc-solvay-la-rochelle": "La Rochelle",
    "ooc-senkaku-2010-embargo": "Senkaku",
    "ooc-iluka-eneabba": "Eneabba",
}


def test_out_of_corpus_cases_are_about_something_the_corpus_lacks() -> None:
    from assistant.loaders import discover, load_document, read_manifest

    repo = Path(__file__).resolve().parents[1]
    corpus = repo / "corpus"
    manifest = read_manifest(corpus)
    files, _ = discover(corpus)
    texts = [load_document(p, corpus, manifest).text.lower() for p in files]
    raw = [p.read_bytes().decode("utf-8", "ignore").lower() for p in files if p.suffix != ".pdf"]
    cases = [c for c in load_eval_sets([repo / "evals" / "rare_earths.yaml"]) if not c.answerable]

    assert {c.id for c in cases} == set(OUT_OF_CORPUS_PHRASES)
    for case in cases:
        phrase = OUT_OF_CORPUS_PHRASES[case.id]
        assert phrase.lower() in case.question.lower(), case.id
        found = [p.name for p, t in zip(files, texts, strict=True) if phrase.lower() in t]
        assert found == [], f"{case.id}: {phrase!r} occurs in {found}"
        assert not any(phrase.lower() in r for r in raw), f"{case.id}: {phrase!r} occurs in a raw file"


def test_answer_span_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "spans.jsonl",
        '{"id": "s1", "question": "Who?", "answer_span": "the health ministry"}\n'
        '{"id": "s2", "question": "How many?", "answer_span": 12}\n',
    )
    first, second = load_eval_sets([path])
    assert first.answer_span == "the health ministry" and second.answer_span == "12"
    assert load_eval_sets([write(tmp_path, "plain.yaml", GOOD_YAML)])[0].answer_span is None
    for text, expected in [
        ('- {id: a, question: "Q?", answer_span: ["x"]}\n', "field 'answer_span' must be a string"),
        ('- {id: a, question: "Q?", answer_span: "..."}\n', "has no words or numbers"),
        ('- {id: a, question: "Q?", answerable: false, answer_span: "x"}\n', "answerable is false"),
    ]:
        with pytest.raises(EvalSetError, match=expected):
            load_eval_sets([write(tmp_path, "bad.yaml", text)])
