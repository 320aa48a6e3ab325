"""Generative answer backends: any OpenAI-compatible Chat Completions server, or Ollama.

``openai`` talks to vLLM, llama.cpp's server, LM Studio, OpenAI… through LlamaIndex's
``OpenAILike``; ``ollama`` through LlamaIndex's ``Ollama``. Both are imported only when the backend
is created. :class:`GenerativeBackend` does the rest the same way for both. **Nothing the model
writes reaches the user unchecked:**

1. **Answerability first.** The extractive reader runs on the same retrieval; when it refuses
   (no aspect of the question is supported), the answer is a refusal and the model is not called.
2. **Prompt.** :func:`build_prompt` numbers the passages ``Source 1…n`` inside a delimited data
   block, adds one worked example, and fits everything into ``llm_context_window`` minus
   ``llm_max_tokens`` (lowest-ranked sources dropped first, the last one kept cut at a sentence end).
3. **Bounded generation.** JSON replies where the server supports them (``llm_response_format``),
   plain text otherwise; a token cap, stop sequences, a time limit, and retries with backoff on
   connection failures only. A reply that loops is cut while it streams
   (:func:`~assistant.answer.replies.cut_runaway`). The streamed text is a preview.
4. **Grounded or nothing.** :func:`post_check` keeps a sentence only when a passage it cites
   supports it (:func:`~assistant.answer.grounding.check_support`), with that passage's best
   sentence as the quote; every other sentence is dropped and listed in ``warnings``.
5. **Fallback.** When no sentence survives (or the model says the sources do not answer), the
   answer is the extractive one, with :data:`FALLBACK_NOTE` in ``warnings``.
6. **Complement.** When some survive, each sentence of the extractive answer that they do not
   already restate (:func:`~assistant.answer.grounding.restated`) follows them, quoted with its
   citation (:func:`complement`): a partly supported reply never holds less of what the passages
   say than the extractive answer does.

The final ``Draft.grounding`` is ``{"sentences", "kept", "dropped", "added", "fallback",
"model_called"}``; its ``status``/``not_stated`` are the reader's (answered or partial), and a
partial answer ends by naming what the documents do not answer, as the reader's does.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.answer.base import (
    PLACEHOLDER,
    AnswerBackend,
    Draft,
    content_words,
    not_answered,
    rewrite_follow_up,
    specific_terms,
)
from assistant.answer.grounding import check_support, restated
from assistant.answer.llm_errors import (
    connection_failure,
    describe_failure,
    format_rejected,
    http_status,
    redact,
)
from assistant.answer.prompts import (
    CITATION_QA_TEMPLATE,
    CONDENSE_PROMPT,
    EXAMPLE_QUESTION,
    NOT_IN_SOURCES,
    STOP_SEQUENCES,
    ReplyMode,
    answer_schema,
    example_answer,
    format_history,
    format_source,
    system_prompt,
)
from assistant.answer.replies import (
    SENTINEL,
    THINK,
    JsonPreview,
    cut_runaway,
    parse_reply,
    strip_markers,
)
from assistant.chunking import count_tokens, sentence_spans
from assistant.config import Settings
from assistant.types import AssistantError, Hit, Retrieval

log = logging.getLogger(__name__)

FALLBACK_NOTE = "the model's answer could not be checked against the documents; these passages answer it"

PROMPT_SLACK = 0.9
"""Share of (context window - max tokens) the prompt may use as counted with tiktoken's
cl100k_base: the server's own tokenizer usually counts somewhat more."""

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers), as OpenAI documents."""

MIN_SOURCE_TOKENS = 24
"""A source cut shorter than this is dropped rather than sent."""

HISTORY_SHARE = 0.25
"""At most this share of the prompt budget goes to earlier turns (the question is already
standalone, so sources matter more)."""

RUNAWAY_CHECK_CHARS = 80
"""While streaming, the reply is checked for a loop each time it has grown by this many characters."""

DROPPED_LISTED = 3
"""Dropped sentences quoted in the warnings (the rest are counted)."""

_LABEL = {"openai": "OpenAI-compatible", "ollama": "Ollama"}
_FORMATS = ("json_schema", "json_object", "text")


# ---------------------------------------------------------------------------------- prompt


@dataclass
class Prompt:
    """The chat messages of one answer request.

    ``messages``: ``[{"role": "system"|"user"|"assistant", "content": str}]``: system first, the
    worked example, earlier turns, the question with its sources last. ``shown``: for each source
    sent, the prefix of its hit's text that was sent (source ``k`` is ``hits[k-1]``; lower-ranked
    hits were dropped). ``tokens``: the prompt's size in cl100k_base tokens; ``dropped``: hits left
    out to fit; ``truncated``: the last source sent was cut (at a sentence end when possible).
    """

    messages: list[dict[str, str]]
    shown: list[str]
    tokens: int
    dropped: int = 0
    truncated: bool = False
    mode: ReplyMode = "text"


def _message_tokens(content: str) -> int:
    return count_tokens(content) + MESSAGE_OVERHEAD


def _cut_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` within ``max_tokens``, ending at a sentence end when one fits."""
    if count_tokens(text) <= max_tokens:
        return text
    best = ""
    for _a, b in sentence_spans(text):
        if count_tokens(text[:b]) > max_tokens:
            break
        best = text[:b]
    if best:
        return best
    lo, hi = 0, len(text)  # no whole sentence fits: cut inside the first one
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    space = cut.rfind(" ")
    return cut[:space] if space > len(cut) // 2 else cut


def build_prompt(
    question: str,
    hits: list[Hit],
    history: list[dict[str, str]],
    settings: Settings,
    mode: ReplyMode = "text",
) -> Prompt:
    """Fit system prompt, worked example, recent history and as many top-ranked sources as
    possible into ``llm_context_window`` after reserving ``llm_max_tokens`` for the answer.

    Raises :class:`AssistantError` when not even the question and one (cut) source fit.
    """
    budget = int((settings.llm_context_window - settings.llm_max_tokens) * PROMPT_SLACK)
    head = [
        {"role": "system", "content": system_prompt(mode)},
        {"role": "user", "content": EXAMPLE_QUESTION},
        {"role": "assistant", "content": example_answer(mode)},
    ]
    fixed = (
        3
        + sum(_message_tokens(m["content"]) for m in head)
        + _message_tokens(CITATION_QA_TEMPLATE.format(sources="", question=question))
    )
    if fixed + MIN_SOURCE_TOKENS > budget:
        raise AssistantError(
            f"the model's context window is too small for this question and any source: "
            f"ASSISTANT_LLM_CONTEXT_WINDOW={settings.llm_context_window} minus "
            f"ASSISTANT_LLM_MAX_TOKENS={settings.llm_max_tokens} leaves about {max(budget, 0)} tokens, the "
            f"instructions and question alone need {fixed}. Raise the window (if the model allows) or "
            "lower the answer length."
        )
    remaining = budget - fixed
    # earlier turns: most recent first, within history_tokens and a share of the budget
    turns: list[dict[str, str]] = []
    history_budget = min(settings.history_tokens, int(remaining * HISTORY_SHARE))
    used = 0
    for turn in reversed(history):
        content = turn.get("content", "")
        content = strip_markers(content) if turn.get("role") == "assistant" else content.strip()
        if turn.get("role") not in ("user", "assistant") or not content:
            continue
        cost = _message_tokens(content)
        if used + cost > history_budget:
            break
        turns.append({"role": turn["role"], "content": content})
        used += cost
    turns.reverse()
    remaining -= used
    # sources in rank order; the first that does not fit whole is cut, the rest dropped
    shown: list[str] = []
    blocks: list[str] = []
    truncated = False
    for n, h in enumerate(hits, start=1):
        sep = 1 if blocks else 0  # "\n\n" between sources
        block = format_source(n, h.title, h.date, h.text)
        cost = count_tokens(block) + sep
        if cost <= remaining:
            shown.append(h.text)
            blocks.append(block)
            remaining -= cost
            continue
        header = count_tokens(format_source(n, h.title, h.date, "")) + sep + 1
        room = remaining - header
        if room >= MIN_SOURCE_TOKENS:
            text = _cut_to_tokens(h.text, room)
            if count_tokens(text) >= MIN_SOURCE_TOKENS // 2:
                shown.append(text)
                blocks.append(format_source(n, h.title, h.date, text))
                truncated = True
        break
    if hits and not shown:
        if turns:  # sources matter more than earlier turns
            return build_prompt(question, hits, [], settings, mode)
        raise AssistantError(
            f"no source fits the model's context window (ASSISTANT_LLM_CONTEXT_WINDOW="
            f"{settings.llm_context_window}, ASSISTANT_LLM_MAX_TOKENS={settings.llm_max_tokens}): raise the "
            "window (if the model allows) or lower the answer length"
        )
    user = CITATION_QA_TEMPLATE.format(sources="\n\n".join(blocks), question=question)
    messages = [*head, *turns, {"role": "user", "content": user}]
    tokens = 3 + sum(_message_tokens(m["content"]) for m in messages)
    return Prompt(
        messages=messages,
        shown=shown,
        tokens=tokens,
        dropped=len(hits) - len(shown),
        truncated=truncated,
        mode=mode,
    )


# ---------------------------------------------------------------------------------- post-check


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass
class Checked:
    """A reply after the support check. ``draft`` is None when no sentence is supported.
    ``sentences``: distinct sentences the reply made; ``dropped``: ``(sentence, why)`` of each
    sentence removed; ``not_in_sources``: the model said the sources do not answer (part of) it."""

    draft: Draft | None
    sentences: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)
    not_in_sources: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.sentences - len(self.dropped)


def post_check(reply: str, hits: list[Hit], shown: list[str] | None, question: str, embedder: Any) -> Checked:
    """Check a model reply sentence by sentence against the sources it was given.

    ``shown[k-1]`` is the text of source ``k`` as sent (a prefix of ``hits[k-1].text``; default:
    the whole texts of ``hits``). A sentence is kept, cited only by the sources that support it,
    when at least one does; its quote is that passage's best-matching window. The kept text has
    ``{{cite:i}}`` placeholders (numbered later by :func:`~assistant.answer.base.number_citations`).
    """
    shown = list(shown) if shown is not None else [h.text for h in hits]
    parsed = parse_reply(reply, len(shown))
    out = Checked(draft=None, not_in_sources=parsed.not_in_sources)
    if parsed.invalid:
        listed = ", ".join(f"[{k}]" for k in parsed.invalid)
        out.warnings.append(
            f"removed citation marker{'s' if len(parsed.invalid) > 1 else ''} {listed} that "
            f"match{'' if len(parsed.invalid) > 1 else 'es'} no source "
            f"(the model was given {_plural(len(shown), 'source')})"
        )
    quotes: list[tuple[int, str, int | None, bool]] = []
    quote_index: dict[tuple[int, int, int], int] = {}
    kept: list[str] = []
    seen: set[str] = set()
    for claim in parsed.claims:
        key = " ".join(content_words(claim.text))
        if key in seen:  # a repeated sentence (a loop, or the model restating itself) counts once
            continue
        seen.add(key)
        out.sentences += 1
        if not claim.sources:
            out.dropped.append((claim.text, "it cites no source"))
            continue
        cites: list[int] = []
        why = ""
        for k in claim.sources:
            h = hits[k - 1]
            support = check_support(
                claim.text, shown[k - 1], question, embedder, meta=f"{h.title} {h.publisher} {h.date or ''}"
            )
            if not support.supported:
                why = why or f"source [{k}]: {support.reason}"
                continue
            a, b = support.quote
            qkey = (k - 1, a, b)
            if qkey not in quote_index:
                quote_index[qkey] = len(quotes)
                quotes.append((k - 1, h.text[a:b], h.start_char + a, True))
            if quote_index[qkey] not in cites:
                cites.append(quote_index[qkey])
        if not cites:
            out.dropped.append((claim.text, why))
            continue
        kept.append(_cited(claim.text, cites))
    if out.dropped:
        examples = "; ".join(f"“{_short(t)}” ({why})" for t, why in out.dropped[:DROPPED_LISTED])
        more = len(out.dropped) - DROPPED_LISTED
        out.warnings.append(
            f"dropped {_plural(len(out.dropped), 'sentence')} of the model's answer that no cited passage "
            f"supports: {examples}" + (f"; and {more} more" if more > 0 else "")
        )
    if kept:
        out.draft = Draft(text=" ".join(kept), quotes=quotes)
    for w in out.warnings:
        log.info("post-check: %s", w)
    return out


def _cited(sentence: str, quotes: list[int]) -> str:
    """``sentence`` with placeholders for ``quotes`` before its full stop: "… 2023 {{cite:0}}."."""
    body = sentence.rstrip()
    end = body[-1] if body[-1:] in ".!?" else "."
    body = body[:-1].rstrip() if body[-1:] in ".!?" else body
    return body + " " + "".join(f"{{{{cite:{q}}}}}" for q in quotes) + end


def _pieces(draft: Draft) -> list[tuple[str, list[int]]]:
    """The cited stretches of a draft's text (before any blank line: what is not stated), each
    with the quotes it cites; a full stop written after a marker ("… 2023 [1].") is dropped."""
    body = draft.text.split("\n\n", 1)[0]
    out: list[tuple[str, list[int]]] = []
    start = 0
    for m in PLACEHOLDER.finditer(body):
        text = body[start : m.start()].strip().lstrip(".!?;:, ").strip()
        if text:
            out.append((text, [int(m.group(1))]))
        elif out:  # a second marker on the same sentence
            out[-1][1].append(int(m.group(1)))
        start = m.end()
    return out


def complement(draft: Draft, reading: Draft) -> tuple[Draft, int]:
    """``draft`` (the model's supported sentences) followed by every unit of the reader's answer
    ``reading`` that no kept sentence restates, with its quotes (a quote
    already cited is cited again, not repeated); and how many units were added. Both are cited by
    construction, so the result holds at least what ``reading`` holds."""
    quotes = list(draft.quotes)
    parts = [draft.text]
    kept = [text for text, _ in _pieces(draft)]
    added = 0
    for text, cites in _pieces(reading):
        if any(restated(text, sentence) for sentence in kept):
            continue
        for i in cites:
            if reading.quotes[i] not in quotes:
                quotes.append(reading.quotes[i])
        # in the model's sentences' form: "… 2023 [2]."
        parts.append(_cited(text, [quotes.index(reading.quotes[i]) for i in cites]))
        added += 1
    return Draft(text=" ".join(parts), quotes=quotes), added


# ---------------------------------------------------------------------------------- backend


@dataclass
class _Reply:
    """What one model request gave: the reply text and why it was cut, if it was."""

    text: str = ""
    cut: str | None = None
    mode: ReplyMode = "text"


class GenerativeBackend(AnswerBackend):
    """Answers with a chat model through a LlamaIndex LLM (``stream_chat`` / ``chat``), checked
    sentence by sentence against the passages (see the module docstring).

    ``llm``: a LlamaIndex LLM; ``server``: how errors name it ("the Ollama server at …");
    ``reader``: the backend whose answer decides answerability and is the fallback (default: the
    extractive reader over ``embedder``); ``embedder``: for the support check's similarity.
    """

    def __init__(
        self,
        name: str,
        llm: Any,
        settings: Settings,
        server: str,
        embedder: Any,
        reader: AnswerBackend | None = None,
    ) -> None:
        self.name = name
        self.llm = llm
        self.settings = settings
        self.server = server
        self.embedder = embedder
        if reader is None:
            from assistant.answer.extractive import ExtractiveBackend

            reader = ExtractiveBackend(settings, embedder)
        self.reader = reader
        fmt = settings.llm_response_format
        self._formats: list[str] = list(_FORMATS) if fmt == "auto" else [fmt]
        self._formats_lock = threading.Lock()

    # ------------------------------------------------------------------ answer

    def generate(
        self, question: str, retrieval: Retrieval, history: list[dict[str, str]]
    ) -> Iterator[str | Draft]:
        grounding: dict[str, Any] = {
            "sentences": 0,
            "kept": 0,
            "dropped": 0,
            "added": 0,
            "fallback": False,
            "model_called": False,
        }
        hits = retrieval.hits
        reading = self._read(question, retrieval, history) if hits else None
        if reading is None or reading.refused:
            not_stated = reading.not_stated if reading else []
            yield Draft(text="", quotes=[], status="refused", not_stated=not_stated, grounding=grounding)
            return
        prompt = build_prompt(question, hits, history, self.settings, self._mode())
        if prompt.dropped:
            log.info("prompt fitting: %d of %d sources left out", prompt.dropped, len(hits))
        grounding["model_called"] = True
        reply = _Reply()
        yield from self._stream(prompt, reply)
        checked = post_check(reply.text, hits[: len(prompt.shown)], prompt.shown, question, self.embedder)
        grounding.update(sentences=checked.sentences, kept=checked.kept, dropped=len(checked.dropped))
        warnings = list(checked.warnings)
        if reply.cut:
            warnings.insert(0, reply.cut)
        if checked.draft is None:
            grounding["fallback"] = True
            if checked.not_in_sources:
                warnings.insert(0, "the model said the sources do not answer the question")
            elif not checked.sentences:
                warnings.insert(0, "the model's reply held no sentence")
            yield Draft(
                text=reading.text,
                quotes=reading.quotes,
                status=reading.status,
                not_stated=list(reading.not_stated),
                warnings=[FALLBACK_NOTE, *warnings, *reading.warnings],
                grounding=grounding,
            )
            return
        if checked.not_in_sources:
            warnings.append("the model said the sources do not answer part of the question")
        if prompt.dropped:
            warnings.append(
                f"{prompt.dropped} lower-ranked passage{'s were' if prompt.dropped > 1 else ' was'} left out "
                f"to fit the model's context window ({self.settings.llm_context_window} tokens)"
            )
        draft, grounding["added"] = complement(checked.draft, reading)
        if grounding["added"]:
            n = grounding["added"]
            follow = "it follows" if n == 1 else "they follow"
            warnings.append(
                f"the model's answer left out what {_plural(n, 'quote')} of the extractive answer "
                f"say{'s' if n == 1 else ''}; {follow} the model's sentences"
            )
        if reading.status == "partial" and reading.not_stated:
            draft.text += "\n\n" + not_answered(reading.not_stated)
        draft.status, draft.not_stated = reading.status, list(reading.not_stated)
        draft.warnings, draft.grounding = warnings, grounding
        yield draft

    def _read(self, question: str, retrieval: Retrieval, history: list[dict[str, str]]) -> Draft:
        """The reader's answer to the same retrieval (its text deltas are not shown)."""
        draft: Draft | None = None
        for item in self.reader.generate(question, retrieval, history):
            if isinstance(item, Draft):
                draft = item
        if draft is None or (not draft.refused and not draft.text.strip()):
            return Draft(text="", quotes=[], status="refused")
        return draft

    # ------------------------------------------------------------------ bounded generation

    def _mode(self) -> ReplyMode:
        return "text" if self._formats[0] == "text" else "json"

    def _request_kwargs(self, fmt: str, n_sources: int) -> dict[str, Any]:
        """Per-request arguments of LlamaIndex's ``stream_chat`` for reply format ``fmt``."""
        schema = answer_schema(n_sources, self.settings.max_sentences)
        if self.name == "ollama":
            if fmt == "text":
                return {}
            return {"format": schema if fmt == "json_schema" else "json"}
        kwargs: dict[str, Any] = {"stop": STOP_SEQUENCES}
        if fmt == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "cited_answer", "schema": schema},
            }
        elif fmt == "json_object":  # llama.cpp servers read a "schema" here; others ignore it
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        return kwargs

    def _stream(self, prompt: Prompt, reply: _Reply) -> Iterator[str]:
        """Stream the model's reply into ``reply``, yielding preview text; enforces the token cap,
        the time limit and the loop cut, retries connection failures, and steps down the reply
        formats a server rejects."""
        s = self.settings
        attempt = 0
        while True:
            fmt = self._formats[0]
            reply.mode = "text" if fmt == "text" else "json"
            messages = (
                prompt.messages if reply.mode == prompt.mode else _with_mode(prompt.messages, reply.mode)
            )
            try:
                yield from self._read_stream(messages, fmt, len(prompt.shown), reply)
                return
            except AssistantError:
                raise
            except Exception as exc:
                received = bool(reply.text)
                if not received and len(self._formats) > 1 and format_rejected(exc):
                    log.info(
                        "%s rejected reply format %s (HTTP %s); trying the next",
                        self.server,
                        fmt,
                        http_status(exc),
                    )
                    with self._formats_lock:  # another answer may have stepped down already
                        if self._formats[0] == fmt and len(self._formats) > 1:
                            self._formats.pop(0)
                    continue
                if not received and connection_failure(exc) and attempt < s.llm_retries:
                    delay = s.llm_retry_backoff * (2**attempt)
                    attempt += 1
                    log.warning(
                        "could not reach %s (%s); retry %d of %d in %.1f s",
                        self.server,
                        type(exc).__name__,
                        attempt,
                        s.llm_retries,
                        delay,
                    )
                    time.sleep(delay)
                    continue
                error = self._error(exc, attempts=attempt + 1)
                log.warning("%s", error)
                raise error from None

    def _read_stream(
        self, messages: list[dict[str, str]], fmt: str, n_sources: int, reply: _Reply
    ) -> Iterator[str]:
        s = self.settings
        started = time.monotonic()
        tokens = 0
        checked_at = 0
        preview = JsonPreview() if reply.mode == "json" else None
        pending = ""
        released = False
        chunks = self.llm.stream_chat(self._messages(messages), **self._request_kwargs(fmt, n_sources))
        try:
            for chunk in chunks:
                delta = chunk.delta or ""
                if _finish_reason(chunk) == "length":
                    reply.cut = _capped(s)
                if not delta:
                    continue
                reply.text += delta
                tokens += count_tokens(delta)
                if preview is not None and reply.text.lstrip()[:1] not in ("", "{", "`"):
                    preview = None  # the server ignored the JSON request: a text reply
                    delta = reply.text
                if preview is not None:
                    shown = preview.feed(delta)
                    if shown:
                        yield shown
                elif released:
                    yield delta
                else:  # held back while the reply could still be the refusal sentinel
                    pending += delta
                    probe = pending.lstrip().upper()
                    if probe and not (NOT_IN_SOURCES.startswith(probe) or probe.startswith(NOT_IN_SOURCES)):
                        released = True
                        yield pending
                if len(reply.text) - checked_at >= RUNAWAY_CHECK_CHARS:
                    checked_at = len(reply.text)
                    text, looped = cut_runaway(reply.text)
                    if looped:
                        reply.text = text
                        reply.cut = "the model's reply repeated itself; it was cut where the repetition began"
                        return
                if tokens >= s.llm_max_tokens:
                    reply.cut = _capped(s)
                    return
                if time.monotonic() - started > s.llm_timeout:
                    reply.cut = (
                        f"the model was still writing after {s.llm_timeout:g} s (ASSISTANT_LLM_TIMEOUT); "
                        "its reply was cut there"
                    )
                    return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # stop reading: the server may stop generating
        text, looped = cut_runaway(reply.text)
        if looped:
            reply.text = text
            reply.cut = "the model's reply repeated itself; it was cut where the repetition began"

    # ------------------------------------------------------------------ follow-ups

    def condense(self, question: str, history: list[dict[str, str]]) -> str:
        """The deterministic :func:`~assistant.answer.base.rewrite_follow_up` unless
        ``llm_condense`` is set; then the model's standalone question, or the deterministic one
        when the request fails or the reply does not read as a rewrite of this follow-up."""
        if not history:
            return question
        if not self.settings.llm_condense:
            return rewrite_follow_up(question, history)
        turns: list[dict[str, str]] = []
        used = 0
        for turn in reversed(history):
            content = strip_markers(turn.get("content", ""))
            cost = count_tokens(content)
            if used + cost > self.settings.history_tokens:
                break
            turns.append({"role": turn.get("role", "user"), "content": content})
            used += cost
        prompt = CONDENSE_PROMPT.format(chat_history=format_history(list(reversed(turns))), question=question)
        try:
            response = self.llm.chat(self._messages([{"role": "user", "content": prompt}]))
            reply = response.message.content or ""
        except Exception as exc:
            log.warning("%s; condensing the follow-up deterministically instead", self._error(exc))
            return rewrite_follow_up(question, history)
        reply = THINK.sub("", reply).strip()
        reply = re.sub(r"^(?:<?standalone question>?|standalone question\s*:)\s*", "", reply, flags=re.I)
        reply = reply.strip().splitlines()[0].strip().strip("\"“”'") if reply.strip() else ""
        if not usable_rewrite(reply, question, history):
            log.info("condense: unusable reply from the model; using the deterministic rewrite")
            return rewrite_follow_up(question, history)
        return reply

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _messages(messages: list[dict[str, str]]) -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role=m["role"], content=m["content"]) for m in messages]

    def _error(self, exc: BaseException, attempts: int = 1) -> AssistantError:
        """A user-facing error for a failed model request: which server, what happened, what to do.
        Never contains the API key."""
        message = describe_failure(exc, self.server, self.settings)
        if attempts > 1:
            message += f" ({attempts} attempts)"
        return AssistantError(redact(message, self.settings))


def _with_mode(messages: list[dict[str, str]], mode: ReplyMode) -> list[dict[str, str]]:
    """``messages`` with the system prompt and worked example of reply ``mode``."""
    out = [dict(m) for m in messages]
    out[0]["content"] = system_prompt(mode)
    out[2]["content"] = example_answer(mode)
    return out


def _capped(settings: Settings) -> str:
    return (
        f"the model's reply reached the token cap (ASSISTANT_LLM_MAX_TOKENS={settings.llm_max_tokens}) "
        "and was cut there"
    )


def _finish_reason(chunk: Any) -> str | None:
    """Why the server stopped, from a streamed chunk's raw payload (OpenAI or Ollama), if it says."""
    raw = getattr(chunk, "raw", None)
    if isinstance(raw, dict):
        return raw.get("done_reason") if raw.get("done") else None
    choices = getattr(raw, "choices", None)
    if choices:
        return getattr(choices[0], "finish_reason", None)
    return None


def usable_rewrite(rewrite: str, question: str, history: list[dict[str, str]]) -> bool:
    """Whether a model's standalone question reads as a rewrite of the follow-up ``question``:
    a single question (ending in "?" when the follow-up does) of reasonable length that keeps the
    follow-up's names and figures and brings at least one content word of the earlier turns (not
    an answer, not a new topic)."""
    if not rewrite or SENTINEL.search(rewrite) or len(rewrite) > max(300, 3 * len(question)):
        return False
    if question.rstrip().endswith("?") and not rewrite.rstrip().endswith("?"):
        return False  # an answer, not a question
    words = {w.lower() for w in content_words(rewrite)}
    if not all(t.lower() in words for t in specific_terms(question)):
        return False
    earlier = {w.lower() for t in history for w in content_words(t.get("content", ""))}
    own = {w.lower() for w in content_words(question)}
    return bool((words - own) & earlier) or words <= own


# ---------------------------------------------------------------------------------- factories


def make_generative_backend(
    name: str, settings: Settings, embedder: Any, reader: AnswerBackend | None = None
) -> GenerativeBackend:
    """The ``openai`` or ``ollama`` backend configured from ``settings``.

    Raises :class:`AssistantError` naming the ``ASSISTANT_LLM_*`` variable to set when the base
    URL or model is missing, or the package to install when its LlamaIndex integration is absent.
    """
    if name not in _LABEL:
        raise AssistantError(f"unknown generative backend {name!r}; use openai or ollama")
    example = {"openai": "http://127.0.0.1:8000/v1", "ollama": "http://127.0.0.1:11434"}[name]
    if not settings.llm_base_url:
        raise AssistantError(
            f"the {name} backend needs the model server's address: set ASSISTANT_LLM_BASE_URL "
            f"(e.g. {example}), or use --backend extractive"
        )
    if not settings.llm_model:
        raise AssistantError(
            f"the {name} backend needs a model name: set ASSISTANT_LLM_MODEL to a model the server at "
            f"{settings.llm_base_url} serves, or use --backend extractive"
        )
    base_url = settings.llm_base_url.rstrip("/")
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    server = f"the {_LABEL[name]} server at {base_url} (model {settings.llm_model!r})"
    if name == "openai":
        try:
            from llama_index.llms.openai_like import OpenAILike
        except ImportError as exc:
            raise AssistantError(
                "the openai backend needs LlamaIndex's OpenAI-compatible client: "
                "pip install llama-index-llms-openai-like"
            ) from exc
        llm: Any = OpenAILike(
            model=settings.llm_model,
            api_base=base_url,
            api_key=key or "no-key",  # local servers ignore it; the client insists on one
            is_chat_model=True,
            context_window=settings.llm_context_window,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            max_retries=0,  # retried here, on connection failures only
            timeout=settings.llm_timeout,
        )
    else:
        try:
            from llama_index.llms.ollama import Ollama
        except ImportError as exc:
            raise AssistantError(
                "the ollama backend needs LlamaIndex's Ollama client: pip install llama-index-llms-ollama"
            ) from exc
        llm = Ollama(
            model=settings.llm_model,
            base_url=base_url,
            request_timeout=settings.llm_timeout,
            context_window=settings.llm_context_window,  # set, so it never calls /api/show
            temperature=settings.llm_temperature,
            additional_kwargs={"num_predict": settings.llm_max_tokens, "stop": STOP_SEQUENCES},
            headers={"Authorization": f"Bearer {key}"} if key else None,
        )
    return GenerativeBackend(name, llm, settings, server, embedder, reader)


def openai_backend(settings: Settings, embedder: Any) -> GenerativeBackend:
    """Registry factory: any OpenAI-compatible Chat Completions server (``ASSISTANT_LLM_*``)."""
    return make_generative_backend("openai", settings, embedder)


def ollama_backend(settings: Settings, embedder: Any) -> GenerativeBackend:
    """Registry factory: an Ollama server (``ASSISTANT_LLM_*``)."""
    return make_generative_backend("ollama", settings, embedder)
