"""Answer backends come from one registry: a backend that is only registered (``example_backend.py``
plus one line) is accepted by settings validation, ``Assistant.backend()``, the CLI and the UI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from assistant.answer import registry
from assistant.cli import main
from assistant.config import Settings
from assistant.types import AssistantError


@pytest.fixture
def first_sentence(monkeypatch: pytest.MonkeyPatch) -> str:
    # the one registration line (a built-in backend's goes into registry.BACKENDS itself)
    monkeypatch.setitem(registry.BACKENDS, "first-sentence", "example_backend:FirstSentenceBackend")
    return "first-sentence"


def test_settings_accept_only_registered_backends(first_sentence: str) -> None:
    assert Settings(backend=first_sentence).backend == first_sentence
    with pytest.raises(ValidationError) as info:
        Settings(backend="telepathy")
    message = str(info.value)
    assert "unknown answer backend 'telepathy'" in message
    assert all(name in message for name in ("extractive", "openai", "ollama", first_sentence))
    assert registry.names()[:3] == ["extractive", "openai", "ollama"]  # the default first


def test_listing_backends_imports_none_of_them() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from assistant.answer import registry; from assistant.config import Settings; "
        "Settings(backend='openai'); print(registry.names()); "
        "heavy = ('assistant.answer.generative', 'assistant.answer.extractive'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["['extractive', 'openai', 'ollama']", "[]"]


def test_a_registered_backend_answers_through_the_api_cli_and_ui(
    first_sentence: str, shared_index, embedder
) -> None:
    from assistant import Assistant

    index_dir, _ = shared_index
    assistant = Assistant.open(index_dir, Settings(index_dir=index_dir), embedder=embedder)
    backend = assistant.backend(first_sentence)
    assert backend.name == first_sentence and assistant.backend(first_sentence) is backend  # created once
    answer = assistant.ask("Who is the Baotou Party Secretary?", backend=first_sentence)
    assert answer.backend == first_sentence and answer.text.endswith("[1]") and answer.citations
    with pytest.raises(AssistantError, match="unknown answer backend 'telepathy'"):
        assistant.backend("telepathy")

    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "ask",
            "Who is the Baotou Party Secretary?",
            "--index",
            str(index_dir),
            "--backend",
            first_sentence,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["backend"] == first_sentence
    bad = runner.invoke(main, ["ask", "x", "--index", str(index_dir), "--backend", "telepathy"])
    assert bad.exit_code == 2 and first_sentence in bad.output and "telepathy" in bad.output

    from assistant.ui.app import build_app

    app = build_app(assistant)
    (menu,) = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "backend"]
    assert [value for _label, value in menu.choices] == registry.names()
