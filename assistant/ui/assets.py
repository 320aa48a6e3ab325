"""Style and the small script of the UI, installed by the app's ``load`` event (no external files)."""

from __future__ import annotations

import json

# Gradio's default theme declares its semibold (600) faces with files that hold only a few
# letters ("A", "B" and some Cyrillic: a subset): every other letter of semibold text (source
# titles, labels, [n] markers) fell back to another font, so "FACT SHEET" showed a lone thin "A".
# These faces, declared after the theme's, win for every character: weight 600 is drawn with the
# complete bold files Gradio ships next to them (it has no complete semibold).
FONT_FACES = """
@font-face {
  font-family: "Source Sans Pro"; font-style: normal; font-weight: 600;
  src: url("static/fonts/SourceSansPro/SourceSansPro-Bold.woff2") format("woff2");
}
@font-face {
  font-family: "IBM Plex Mono"; font-style: normal; font-weight: 600;
  src: url("static/fonts/IBMPlexMono/IBMPlexMono-Bold.woff2") format("woff2");
}
"""

CSS = """
.app-title { font-size: 1.35rem; font-weight: 600; padding: 4px 2px 8px; }
.app-title span { font-size: .9rem; font-weight: 400; opacity: .7; margin-left: .5em; }
#chat .answer, #chat .question { line-height: 1.55; }
#chat .answer a.cite, #sources a.cite {
  display: inline-block; padding: 0 .3em; margin: 0 .1em; border-radius: 4px; font-size: .85em;
  font-weight: 600; text-decoration: none; background: rgba(37, 99, 235, .12); color: #1d4ed8;
  cursor: pointer; vertical-align: baseline;
}
.dark #chat .answer a.cite { color: #93c5fd; background: rgba(147, 197, 253, .15); }
#chat .answer a.cite:hover { background: rgba(37, 99, 235, .25); }
#chat .answer .cursor { opacity: .6; animation: blink 1s steps(1) infinite; }
@keyframes blink { 50% { opacity: 0; } }
#chat .pending { opacity: .6; font-style: italic; }
#chat .answer-warnings {
  margin-top: .6em; font-size: .88em; border-left: 3px solid #d97706; padding-left: .6em;
}
#chat .answer-warnings ul { margin: .2em 0 0 1em; }
.refusal {
  border: 1px solid #d97706; border-left: 5px solid #d97706; background: rgba(245, 158, 11, .12);
  border-radius: 6px; padding: .6em .8em;
}
.refusal .refusal-title { font-weight: 700; color: #b45309; margin-bottom: .3em; }
.dark .refusal .refusal-title { color: #fbbf24; }
.refusal p { margin: 0 0 .4em; }
.refusal .closest-label { font-weight: 600; font-size: .9em; }
.refusal ul { margin: .2em 0 0 1.1em; font-size: .92em; }
.chat-error {
  border: 1px solid #dc2626; border-left: 5px solid #dc2626; background: rgba(220, 38, 38, .08);
  border-radius: 6px; padding: .5em .8em;
}
#chat .question.empty { opacity: .7; }
#sources .sources-panel { max-height: 78vh; overflow-y: auto; padding: 4px 8px 8px; }
#sources h3 { margin: 4px 0 8px; font-size: 1.05rem; }
#sources h4.earlier-label { margin: 18px 0 6px; font-size: .9rem; opacity: .75; text-transform: uppercase; }
#sources .turn-question { font-size: .85em; opacity: .75; margin: 2px 0 8px; }
#sources .turn.earlier { opacity: .85; }
#sources .source, #sources .closest {
  border: 1px solid var(--border-color-primary, #e5e7eb); border-radius: 8px; padding: 8px 10px;
  margin-bottom: 10px; background: var(--block-background-fill, transparent); scroll-margin: 16px;
}
#sources .source header, #sources .closest header { font-weight: 600; line-height: 1.35; }
#sources .source .n { color: #1d4ed8; margin-right: .25em; }
.dark #sources .source .n { color: #93c5fd; }
#sources .meta { font-size: .82em; opacity: .8; margin: 3px 0 6px; }
#sources .meta a.doc-link { text-decoration: underline; }
#sources blockquote.passage {
  margin: 0; padding: 6px 8px; border-left: 3px solid var(--border-color-primary, #d1d5db);
  font-size: .9em; line-height: 1.5; white-space: normal;
}
#sources mark { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: 2px; }
.dark #sources mark { background: rgba(253, 230, 138, .35); }
#sources .unsupported { font-size: .82em; color: #b45309; margin-top: 4px; }
#sources .no-sources { font-size: .9em; opacity: .75; margin-bottom: 8px; }
#sources .source.flash { animation: flash 1.6s ease-out; }
@keyframes flash { 0% { box-shadow: 0 0 0 3px #2563eb; } 100% { box-shadow: 0 0 0 0 transparent; } }
.index-status { padding: 6px 2px; }
.index-status .warn, .upload-refused { color: #b91c1c; }
.upload-report ul { margin: .2em 0 .4em 1.2em; }
.upload-report > div { margin-bottom: .4em; }
"""

# Runs once on page load: installs the style, and makes a click on an [n] marker bring its source
# into view inside the scrolling sources panel (plain #src-n navigation also works without it).
_LOAD_JS_TEMPLATE = """
() => {
  if (window.__corpusAssistantUi) { return; }
  window.__corpusAssistantUi = true;
  const style = document.createElement("style");
  style.textContent = __CSS__;
  document.head.appendChild(style);
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest("a.cite") : null;
    if (!link) { return; }
    const id = (link.getAttribute("href") || "").replace(/^#/, "");
    const target = id ? document.getElementById(id) : null;
    if (!target) { return; }
    event.preventDefault();
    event.stopPropagation();
    target.scrollIntoView({ behavior: "smooth", block: "center" });
    target.classList.remove("flash");
    void target.offsetWidth;
    target.classList.add("flash");
    history.replaceState(null, "", "#" + id);
  }, true);
}
"""

LOAD_JS = _LOAD_JS_TEMPLATE.replace("__CSS__", json.dumps(FONT_FACES + CSS))
