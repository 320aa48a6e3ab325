"""The web UI in a real Chromium against a real ``assistant serve`` (see ``ui_fixtures``).

Screenshots land in ``test-artifacts/`` at the repo root. Pages wait for "load" and then for
elements, never for "networkidle" (Gradio's heartbeat keeps a request open).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

if TYPE_CHECKING:
    from ui_fixtures import UiServer

pytestmark = pytest.mark.browser
pytest_plugins = ["ui_fixtures"]

BAOTOU = "Who is the Baotou Party Secretary?"
OUT_OF_CORPUS = "What did the EU Critical Raw Materials Act require in 2024?"
ZORVEX_NOTE = b"# Zorvex tungsten note\n\nThe Zorvex smelter processed 40 tonnes of tungsten in 2025.\n"
FINAL = ".answer:not(.streaming), .refusal, .chat-error"
ANSWER_TIMEOUT_MS = 90_000
WATCH_STREAMING = """() => {
  window.__sawStreaming = false;
  new MutationObserver(() => {
    if (document.querySelector('#chat .answer.streaming')) { window.__sawStreaming = true; }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        yield browser
        browser.close()


def _open(chromium: Browser, server: UiServer, width: int = 1400, height: int = 900) -> Page:
    context = chromium.new_context(viewport={"width": width, "height": height}, base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/", wait_until="load")
    page.locator("#question textarea").wait_for()
    return page


@pytest.fixture
def page(
    chromium: Browser, ui_server: UiServer, artifacts_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    pg = _open(chromium, ui_server)
    yield pg
    _shot(pg, artifacts_dir, f"{request.node.name}-end")
    pg.context.close()


def _shot(page: Page, artifacts_dir: Path, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=full_page)


def ask(page: Page, question: str) -> Locator:
    """Send ``question`` and return the bot message once it is final (answer, refusal or error)."""
    before = page.locator("#chat [data-testid='bot']").count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    bot = page.locator("#chat [data-testid='bot']").nth(before)
    bot.locator(FINAL).first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return bot


def _choose_document(page: Page, title_part: str) -> None:
    page.locator("#filters").get_by_text("Filters").first.click()
    field = page.locator("#doc-filter input")
    field.click()
    field.fill(title_part)
    field.press("Enter")
    expect(page.locator("#doc-filter .token")).to_have_count(1)
    field.press("Escape")


def _platform_fonts(page: Page, selector: str) -> list[dict[str, Any]]:
    """The fonts Chromium drew the text of the first ``selector`` element with (DevTools'
    ``CSS.getPlatformFontsForNode``: family, whether a web font, glyphs drawn)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, f"no element {selector}"
        return list(cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"])
    finally:
        cdp.detach()


def _feedback_records(server: UiServer) -> list[dict[str, Any]]:
    if not server.feedback_file.exists():
        return []
    return [json.loads(line) for line in server.feedback_file.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------------------------ tests


def test_streamed_answer_marker_brings_source_into_view(
    chromium: Browser, ui_server: UiServer, artifacts_dir: Path
) -> None:
    # A narrow window stacks the sources panel under the chat, out of view until a marker is clicked.
    page = _open(chromium, ui_server, width=720, height=800)
    try:
        page.evaluate(WATCH_STREAMING)
        bot = ask(page, BAOTOU)
        assert page.evaluate("window.__sawStreaming") is True, "no streaming state was shown"
        marker = bot.locator("a.cite", has_text="[1]")
        expect(marker).to_be_visible()
        assert marker.get_attribute("href") == "#src-1"
        source = page.locator("#src-1")
        expect(source).not_to_be_in_viewport()
        marker.click()
        expect(source).to_be_in_viewport()
        expect(source.locator("mark")).to_contain_text("Ding Xiufeng")
        expect(source).to_contain_text("Rare Earth Exchanges")
        _shot(page, artifacts_dir, "source-after-click")
    finally:
        page.context.close()


def test_answer_reads_well(page: Page, artifacts_dir: Path) -> None:
    bot = ask(page, BAOTOU)
    expect(bot.locator("a.cite").first).to_have_text("[1]")
    expect(page.locator("#sources .latest .source mark").first).to_contain_text("Ding Xiufeng")
    _shot(page, artifacts_dir, "answered-chat", full_page=False)


GLYPH_PROBE = "FACT SHEET: ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789"
ADD_GLYPH_PROBE = """(text) => {
  const article = document.createElement("article");
  article.className = "source";
  article.id = "glyph-probe";
  article.innerHTML = '<header><span class="n">[9]</span> <span class="title"></span></header>';
  article.querySelector(".title").textContent = text;
  document.querySelector("#sources .sources-panel").appendChild(article);
  return document.fonts.ready.then(() => true);
}"""


def test_source_titles_are_drawn_in_one_font(page: Page, artifacts_dir: Path) -> None:
    """Every letter of a source title (semibold) comes from the page's own web font: Gradio's
    theme shipped a semibold face holding only "A" and "B", so the other letters of a title fell
    back to a system font. Checked on a real source and on a made-up title with every letter."""
    ask(page, BAOTOU)
    expect(page.locator("#sources .latest .source header .title").first).to_be_visible()
    page.evaluate(ADD_GLYPH_PROBE, GLYPH_PROBE)
    assert page.locator("#glyph-probe .title").evaluate("e => getComputedStyle(e).fontWeight") == "600"
    for selector in ("#sources .latest .source header .title", "#glyph-probe .title"):
        fonts = _platform_fonts(page, selector)
        assert len(fonts) == 1 and fonts[0]["isCustomFont"], f"{selector} is drawn with {fonts}"
    # the app's title (semibold, with a regular subtitle) and the [n] markers: web fonts only
    for selector in (".app-title", "#sources .latest .source header .n"):
        fonts = _platform_fonts(page, selector)
        assert fonts and all(f["isCustomFont"] for f in fonts), f"{selector} is drawn with {fonts}"
    page.locator("#glyph-probe").screenshot(path=str(artifacts_dir / "title-glyphs.png"))


def test_example_question_on_the_empty_screen(page: Page) -> None:
    examples = page.locator("#chat button.example")
    expect(examples.first).to_be_visible()
    text = examples.first.inner_text().strip()
    examples.first.click()
    bot = page.locator("#chat [data-testid='bot']").first
    bot.locator(FINAL).first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#chat [data-testid='user']").first).to_contain_text(text[:30])
    expect(bot.locator(".chat-error")).to_have_count(0)
    expect(examples).to_have_count(0)


def test_out_of_corpus_question_is_refused(page: Page, artifacts_dir: Path) -> None:
    bot = ask(page, OUT_OF_CORPUS)
    refusal = bot.locator(".refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("Not answered by the documents")
    expect(refusal).to_contain_text("Closest documents")
    expect(refusal.locator("li").first).to_be_visible()
    expect(bot.locator("a.cite")).to_have_count(0)
    _shot(page, artifacts_dir, "refusal")


def test_filter_to_one_document(page: Page, artifacts_dir: Path) -> None:
    doc = "wh_2022-02-22_fact_sheet_made_in_america_critical_minerals"
    _choose_document(page, "Securing a Made in America")
    ask(page, "What did the administration do to secure critical mineral supply chains?")
    sources = page.locator("#sources .latest .source")
    expect(sources.first).to_be_visible()
    doc_ids = {sources.nth(i).get_attribute("data-doc-id") for i in range(sources.count())}
    assert doc_ids == {doc}
    _shot(page, artifacts_dir, "filtered")


def test_follow_up_question_uses_history(page: Page) -> None:
    ask(page, BAOTOU)
    second = ask(page, "What is its date?")
    expect(second.locator(".chat-error")).to_have_count(0)
    expect(page.locator("#sources .latest .standalone")).to_contain_text("Baotou")
    # the first answer's markers now point at the earlier-answers section of the panel
    first_marker = page.locator("#chat [data-testid='bot']").first.locator("a.cite").first
    assert first_marker.get_attribute("href") == "#src-t0-1"
    expect(page.locator("#src-t0-1")).to_have_count(1)


def test_new_conversation_forgets_history(page: Page) -> None:
    ask(page, BAOTOU)
    page.locator("#new-conversation").click()
    expect(page.locator("#chat [data-testid='bot']")).to_have_count(0)
    expect(page.locator("#sources .source")).to_have_count(0)
    ask(page, "What is its date?")
    expect(page.locator("#sources .latest .standalone")).to_have_count(0)


def test_document_markup_is_inert(page: Page, ui_probe: dict[str, str], artifacts_dir: Path) -> None:
    bot = ask(page, ui_probe["question"])
    expect(bot).to_contain_text("<script>window.__pwned=1</script>")
    source = page.locator("#sources .latest .source").first
    assert source.get_attribute("data-doc-id") == ui_probe["doc_id"]
    expect(source).to_contain_text('<img src=x onerror="window.__pwned=1">')
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#chat script, #sources script").count() == 0
    page.locator("button[role='tab']", has_text="Corpus").click()
    expect(page.locator("#documents")).to_contain_text('Markup probe <img src=x onerror="window.__pwned=1">')
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    _shot(page, artifacts_dir, "markup-inert")


@pytest.mark.parametrize(
    ("question", "expected"),
    [("", "empty"), ("  \t  ", "empty"), ("\x01\x02\x03", "empty"), ("x" * 100_000, "limit")],
    ids=["empty", "whitespace", "control-characters", "100k-characters"],
)
def test_bad_question_shows_clear_error(page: Page, question: str, expected: str) -> None:
    before = page.locator("#chat [data-testid='bot']").count()
    page.locator("#question textarea").fill(question)
    page.locator("#ask-btn").click()
    bot = page.locator("#chat [data-testid='bot']").nth(before)
    error = bot.locator(".chat-error")
    expect(error).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(error).to_contain_text(expected)
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and 'File "' not in body


def test_thumbs_down_is_recorded(page: Page, ui_server: UiServer) -> None:
    before = len(_feedback_records(ui_server))
    bot = ask(page, BAOTOU)
    page.locator("#feedback-comment textarea").fill("The quote stops mid-sentence.")
    page.locator("#chat button[aria-label='Dislike']").last.click()
    deadline = time.monotonic() + 20
    while len(_feedback_records(ui_server)) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    records = _feedback_records(ui_server)
    assert len(records) == before + 1, "no feedback line was written"
    record = records[-1]
    assert record["verdict"] == "down"
    assert record["question"] == BAOTOU
    assert "[1]" in record["answer"]
    assert record["comment"] == "The quote stops mid-sentence."
    assert record["citations"] and "Ding Xiufeng" in record["citations"][0]["quote"]
    assert record["history"] == []
    assert datetime.fromisoformat(record["time"]).tzinfo is not None
    expect(page.locator("#feedback-comment textarea")).to_have_value("")
    expect(bot.locator("a.cite")).to_have_count(len(record["citations"]))


def test_corpus_tab_lists_documents_and_ingests_an_upload(
    page: Page, ui_server: UiServer, artifacts_dir: Path
) -> None:
    page.locator("button[role='tab']", has_text="Corpus").click()
    table = page.locator("#documents")
    expect(table).to_contain_text("Rare Earths, in Mineral Commodity Summaries 2025")
    expect(page.locator("#index-status")).to_contain_text("documents")
    expect(page.locator("#index-status")).to_contain_text(str(ui_server.index_dir))
    page.locator("#upload input[type='file']").set_input_files(
        [
            {"name": "evil.sh", "mimeType": "text/x-sh", "buffer": b"rm -rf /\n"},
            {"name": "Zorvex tungsten note.md", "mimeType": "text/markdown", "buffer": ZORVEX_NOTE},
        ]
    )
    expect(page.get_by_text("Invalid file type").first).to_be_visible()
    page.locator("#upload-btn").click()
    report = page.locator("#upload-report .upload-report")
    expect(report).to_contain_text("Zorvex_tungsten_note.md", timeout=120_000)
    expect(report).to_contain_text("1 added")
    expect(table).to_contain_text("Zorvex tungsten note")
    _shot(page, artifacts_dir, "upload")
    assert (ui_server.corpus_dir / "Zorvex_tungsten_note.md").is_file()
    assert not (ui_server.corpus_dir / "evil.sh").exists()
    assert not list(ui_server.corpus_dir.glob(".upload-*"))
    page.locator("button[role='tab']", has_text="Ask").click()
    ask(page, "How much tungsten did the Zorvex smelter process?")
    expect(page.locator("#sources .latest .source").first).to_contain_text("Zorvex")
