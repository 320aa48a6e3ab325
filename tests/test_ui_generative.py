"""The UI with a generative backend, in a real Chromium against a real ``assistant serve`` whose
model is ``fake_llm_server`` (the OpenAI protocol, streaming slowly): the streamed draft is replaced
by the checked answer, a sentence no passage supports never stays on screen as a claim, and the
warnings and what the check removed are shown next to the answer."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fake_llm_server import FakeLLMServer, Reply
from playwright.sync_api import Browser, Page, sync_playwright

if TYPE_CHECKING:
    from ui_fixtures import UiServer

pytestmark = [pytest.mark.browser, pytest.mark.server]
pytest_plugins = ["ui_fixtures"]

QUESTION = "Who is the Baotou Party Secretary?"
INVENTED = "He is also the Secretary of Defense of the United States"
FINAL = "#chat .answer:not(.streaming), #chat .refusal, #chat .chat-error"
WATCH_DRAFT = """() => {
  window.__draft = '';
  new MutationObserver(() => {
    const s = document.querySelector('#chat .answer.streaming');
    if (s && s.textContent.length > window.__draft.length) { window.__draft = s.textContent; }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def generative_ui(
    llm: FakeLLMServer, ui_corpus: Path, ui_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    from ui_fixtures import UiServer, _wait_until_up, assistant_command, free_port, subprocess_env

    base = tmp_path_factory.mktemp("ui_generative")
    port = free_port()
    env = subprocess_env(
        index_dir=str(ui_index),
        corpus_dir=str(ui_corpus),
        feedback_dir=str(base / "feedback"),
        backend="openai",
        llm_base_url=llm.openai_url,
        llm_model="fake-model",
        llm_response_format="text",
    )
    log_path = base / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *assistant_command(),
                "serve",
                "--index",
                str(ui_index),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
        )
    server = UiServer(f"http://127.0.0.1:{port}", ui_corpus, ui_index, base / "feedback", log_path)
    try:
        _wait_until_up(proc, server, timeout=240)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture
def page(generative_ui: UiServer, artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    with sync_playwright() as p:
        browser: Browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=generative_ui.url)
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        pg.goto("/", wait_until="load")
        pg.locator("#question textarea").wait_for()
        pg.evaluate(WATCH_DRAFT)
        yield pg
        pg.screenshot(path=str(artifacts_dir / f"{request.node.name}-end.png"), full_page=True)
        browser.close()


def ask(page: Page, question: str) -> str:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    final = page.locator(FINAL).first
    final.wait_for(timeout=90_000)
    return final.inner_html()


def test_dropped_sentence_leaves_the_screen_and_is_reported(page: Page, llm: FakeLLMServer) -> None:
    llm.reset()
    llm.queue(Reply(f"The Baotou Party Secretary is Ding Xiufeng [1]. {INVENTED} [1].", piece_delay=0.08))
    html = ask(page, QUESTION)
    assert INVENTED in page.evaluate("window.__draft"), "the model's draft was not streamed"
    answer = page.locator(FINAL).first
    text = answer.inner_text()
    body = text.split("Check:")[0]
    assert "Ding Xiufeng" in body and "[1]" in body
    assert "Secretary of Defense" not in body  # not shown as a claim
    assert "1 of the model's 2 sentences was removed" in text
    assert "dropped 1 sentence" in text  # the warning, quoting what was removed
    assert 'class="cite"' in html
    assert page.locator("#sources .source").count() >= 1


def test_fallback_is_shown_as_such(page: Page, llm: FakeLLMServer) -> None:
    llm.reset()
    llm.queue(Reply("The Party Secretary chairs the National Security Council. He was appointed in 1998."))
    ask(page, QUESTION)
    text = page.locator(FINAL).first.inner_text()
    assert text.count("could not be checked against the documents") == 1  # said once, not twice
    assert "so it is not shown: these passages answer the question" in text
    assert "Ding Xiufeng" in text.split("Check:")[0]  # the extractive answer, cited
    assert "National Security Council" not in text.split("Check:")[0]
