"""Browser: submit to first streamed token (benchmark row 5).

Starts ``assistant serve`` on the shipped-corpus index and drives it with Playwright in Debian's
Chromium. For each of ``--questions`` eval questions (answerable ones, a fresh conversation each) the
page records, with ``performance.now()`` in the browser:

* ``submit``: the Enter keydown in the question box (capture listener);
* ``first``: the first mutation after which the new bot message shows answer text (a streaming answer
  without the "Searching the documents…" placeholder, or a final answer/refusal/error);
* ``final``: the final answer, refusal or error.

Pages wait for "load" and then for elements, never for "networkidle" (Gradio's heartbeat stays open).

    python benchmarks/bench_ui.py --questions 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

FINAL = ".answer:not(.streaming), .refusal, .chat-error"
INSTRUMENT = """() => {
  if (window.__benchInstalled) { return; }
  window.__benchInstalled = true;
  window.__t = null;
  const box = document.querySelector('#question textarea');
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      window.__t = {submit: performance.now(), ack: null, first: null, final: null,
                    n: document.querySelectorAll("#chat [data-testid='bot']").length};
    }
  }, true);
  new MutationObserver(() => {
    const t = window.__t;
    if (!t) { return; }
    const bots = document.querySelectorAll("#chat [data-testid='bot']");
    if (bots.length <= t.n) { return; }
    const bot = bots[t.n];
    const now = performance.now();
    if (t.ack === null) { t.ack = now; }
    const fin = bot.querySelector('.answer:not(.streaming), .refusal, .chat-error');
    if (t.first === null) {
      const s = bot.querySelector('.answer.streaming');
      const text = s && !s.querySelector('.pending') && s.textContent.replace('\u258d', '').trim().length > 0;
      if (text || fin) { t.first = now; }
    }
    if (t.final === null && fin) { t.final = now; }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
KIND = """() => {
  const b = document.querySelector("#chat [data-testid='bot']");
  return b.querySelector('.chat-error') ? 'error' : b.querySelector('.refusal') ? 'refusal' : 'answer';
}"""


def run(n_questions: int, index: Path | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    index = index or common.base_index()
    questions = common.eval_questions(n_questions, answerable_only=True)
    samples: list[dict[str, Any]] = []
    with common.Server(index, "ui") as server, sync_playwright() as p:
        common.progress(f"ui: serve ready after {server.ready_s:.1f}s at {server.url}")
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.url)
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto("/", wait_until="load")
        page.locator("#question textarea").wait_for()
        page.evaluate(INSTRUMENT)
        warm = page.locator("#question textarea")
        warm.fill("What are rare earth elements used for?")  # one warm-up question, not counted
        warm.press("Enter")
        page.locator("#chat [data-testid='bot']").first.locator(FINAL).first.wait_for()
        for i, q in enumerate(questions):
            page.locator("#new-conversation").click()
            page.wait_for_function("document.querySelectorAll(\"#chat [data-testid='bot']\").length === 0")
            box = page.locator("#question textarea")
            box.fill(q)
            box.press("Enter")
            bot = page.locator("#chat [data-testid='bot']").first
            bot.locator(FINAL).first.wait_for()
            page.wait_for_function("window.__t && window.__t.final !== null")
            t = page.evaluate("window.__t")
            kind = page.evaluate(KIND)
            sample = {
                "question": q,
                "first_ms": round(t["first"] - t["submit"], 1),
                "ack_ms": round(t["ack"] - t["submit"], 1),
                "final_ms": round(t["final"] - t["submit"], 1),
                "kind": kind,
            }
            samples.append(sample)
            common.progress(
                f"  {i + 1}/{len(questions)} first {sample['first_ms']} ms, final {sample['final_ms']} ms"
            )
        context.close()
        browser.close()
        ready = server.ready_s
    first = [s["first_ms"] / 1000 for s in samples]
    final = [s["final_ms"] / 1000 for s in samples]
    ack = [s["ack_ms"] / 1000 for s in samples]
    return {
        "index": str(index),
        "serve_ready_s": round(ready, 2),
        "first_token": common.summary_ms(first),
        "final_answer": common.summary_ms(final),
        "placeholder_shown": common.summary_ms(ack),
        "errors": sum(1 for s in samples if s["kind"] == "error"),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--index", type=Path, help="index to serve (default: results/tmp/base-index)")
    parser.add_argument("--name", default="ui")
    a = parser.parse_args()
    result = run(a.questions, a.index)
    result["command"] = "python benchmarks/bench_ui.py " + " ".join(sys.argv[1:])
    common.write_result(a.name, result)


if __name__ == "__main__":
    main()
