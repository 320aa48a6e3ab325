"""Generative answer backends: any OpenAI-compatible Chat Completions server, or Ollama.

``openai`` talks to vLLM, llama.cpp's server, LM Studio, OpenAI… through LlamaIndex's
``OpenAILike``; ``ollama`` through LlamaIndex's ``Ollama``. Both are imported only when the backend
is created. :class:`GenerativeBackend` does the rest the same way for both:

1. :func:`build_prompt` numbers the retrieved passages ``Source 1…n`` inside a delimited data block
   (:mod:`assistant.answer.prompts`) and fits system prompt, history and sources into
   ``llm_context_window`` minus ``llm_max_tokens`` (lowest-ranked sources dropped first, then the
   last one kept is cut at a sentence end).
2. The model's reply is streamed with ``stream_chat``; its text pieces are yielded as they arrive
   (held back while the reply could still be the :data:`~assistant.answer.prompts.NOT_IN_SOURCES`
   sentinel, so a refusal never flashes on screen).
3. :func:`post_check` turns the reply into a :class:`~assistant.answer.base.Draft`.

Post-check rules
----------------
* The sentinel ``NOT_IN_SOURCES`` with no valid citation (or with little else) → ``Draft(refused=True)``;
  next to a cited answer it is removed and reported (the model says part of the question is not
  answered). An empty reply is a refusal too.
* A marker ``[k]`` (also ``[1, 2]``, ``[1-3]``, ``[Source 2]``) cites source ``k`` = ``hits[k-1]``.
  Markers citing no source that was in the prompt (``[9]`` with 5 sources) are removed and reported.
* A marker belongs to the sentence it ends (a marker opening a sentence, as in ``…rose. [1] Next``,
  belongs to the previous one). Its quote is the sentence of the cited passage sharing most content
  words with the answer sentence (``sentence_spans`` + token overlap); the quote is a slice of
  ``hit.text`` and starts at ``hit.start_char + a`` in the document. Identical quotes share a
  placeholder, so :func:`~assistant.answer.base.number_citations` numbers them 1, 2, 3… by first
  appearance with no gaps.
* Support: a cited sentence is supported when at least :data:`SUPPORT_THRESHOLD` (half) of its
  content words (stop words removed, light stemming) occur in its cited passages (text plus the
  title and date shown with them) **and** every figure in it (``3.5``, ``2023``, ``1,200``) occurs
  there too. Each citation of an unsupported sentence, and a citation whose passage shares no
  content word with the sentence, gets ``supported=False`` plus a warning.
* A reply with no valid citation at all is returned as written but flagged ("the model cited no
  source"); uncited sentences in a cited reply are reported too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.answer.base import (
    WORD,
    AnswerBackend,
    Draft,
    content_words,
    rewrite_follow_up,
)
from assistant.answer.prompts import (
    CITATION_QA_TEMPLATE,
    CITATION_SYSTEM_PROMPT,
    CONDENSE_PROMPT,
    NOT_IN_SOURCES,
    format_history,
    format_source,
)
from assistant.chunking import count_tokens, sentence_spans
from assistant.config import Settings
from assistant.types import AssistantError, Hit, Retrieval

log = logging.getLogger(__name__)

SUPPORT_THRESHOLD = 0.5
"""Share of an answer sentence's content words that must occur in its cited passages."""

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

_BACKEND_LABEL = {"openai": "OpenAI-compatible", "ollama": "Ollama"}


# ---------------------------------------------------------------------------------- prompt


@dataclass
class Prompt:
    """The chat messages of one answer request.

    ``messages``: ``[{"role": "system"|"user"|"assistant", "content": str}]``, system first, the
    question with its sources last. ``shown``: for each source sent, the prefix of its hit's text
    that was sent (source ``k`` is ``hits[k-1]``; lower-ranked hits were dropped). ``tokens``:
    the prompt's size in cl100k_base tokens; ``dropped``: hits left out to fit; ``truncated``: the
    last source sent was cut (at a sentence end when possible).
    """

    messages: list[dict[str, str]]
    shown: list[str]
    tokens: int
    dropped: int = 0
    truncated: bool = False


_MARKER_GROUP = re.compile(
    r"[ \t]*\[\s*(?:sources?\s*)?\d{1,3}(?:\s*(?:,|;|-|–|and|&)\s*(?:sources?\s*)?\d{1,3})*\s*\]",
    re.IGNORECASE,
)


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


def _strip_markers(text: str) -> str:
    return re.sub(r"\s{2,}", " ", _MARKER_GROUP.sub("", text)).strip()


def build_prompt(question: str, hits: list[Hit], history: list[dict[str, str]], settings: Settings) -> Prompt:
    """Fit system prompt, recent history and as many top-ranked sources as possible into
    ``llm_context_window`` after reserving ``llm_max_tokens`` for the answer (see module docs).

    Raises :class:`AssistantError` when not even the question and one (cut) source fit.
    """
    budget = int((settings.llm_context_window - settings.llm_max_tokens) * PROMPT_SLACK)
    fixed = (
        3
        + _message_tokens(CITATION_SYSTEM_PROMPT)
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
        content = (
            _strip_markers(turn.get("content", ""))
            if turn.get("role") == "assistant"
            else (turn.get("content", "").strip())
        )
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
            return build_prompt(question, hits, [], settings)
        raise AssistantError(
            f"no source fits the model's context window (ASSISTANT_LLM_CONTEXT_WINDOW="
            f"{settings.llm_context_window}, ASSISTANT_LLM_MAX_TOKENS={settings.llm_max_tokens}): raise the "
            "window (if the model allows) or lower the answer length"
        )
    user = CITATION_QA_TEMPLATE.format(sources="\n\n".join(blocks), question=question)
    messages = [
        {"role": "system", "content": CITATION_SYSTEM_PROMPT},
        *turns,
        {"role": "user", "content": user},
    ]
    tokens = 3 + sum(_message_tokens(m["content"]) for m in messages)
    return Prompt(
        messages=messages, shown=shown, tokens=tokens, dropped=len(hits) - len(shown), truncated=truncated
    )


# ---------------------------------------------------------------------------------- post-check


def _stem(word: str) -> str:
    w = word.lower().replace(",", "")
    if w[:1].isdigit():
        return w
    for suffix in ("ing", "ies", "es", "ed", "ly", "s", "'s", "’s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in content_words(text)}


def _figures(text: str) -> set[str]:
    return {w.replace(",", "") for w in WORD.findall(text) if w[0].isdigit()}


def _marker_numbers(group: str) -> list[int]:
    """``[1, 2]`` → [1, 2]; ``[2-4]`` → [2, 3, 4]; ``[Source 3]`` → [3]."""
    out: list[int] = []
    body = group.strip()[1:-1]
    for m in re.finditer(r"(\d{1,3})(?:\s*[-–]\s*(?:sources?\s*)?(\d{1,3}))?", body, re.IGNORECASE):
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        out.extend(range(a, b + 1) if a <= b <= a + 20 else [a, b] if m.group(2) else [a])
    return list(dict.fromkeys(out))


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_REFERENCES = re.compile(
    r"\n\s*(?:#+\s*)?\**(?:sources|references|citations)\**\s*:?\**\s*\n.*\Z", re.DOTALL | re.IGNORECASE
)
_SENTINEL = re.compile(r"\bNOT[_ ]IN[_ ]SOURCES\b\.?", re.IGNORECASE)


@dataclass
class _Sentence:
    start: int
    end: int
    numbers: list[int] = field(default_factory=list)


def post_check(reply: str, hits: list[Hit], shown: list[str] | None = None) -> Draft:
    """Validate a model reply against the sources it was given and build the ``Draft`` (rules in
    the module docstring). ``shown[k-1]`` is the text of source ``k`` as sent (a prefix of
    ``hits[k-1].text``; default: the whole texts of ``hits``)."""
    shown = list(shown) if shown is not None else [h.text for h in hits]
    n_sources = len(shown)
    warnings: list[str] = []
    text = _THINK.sub("", reply)
    text = _REFERENCES.sub("", "\n" + text).strip()
    if not text:
        return Draft(text="", quotes=[], refused=True, warnings=["the model returned an empty reply"])

    groups = list(_MARKER_GROUP.finditer(text))
    valid_anywhere = any(1 <= k <= n_sources for g in groups for k in _marker_numbers(g.group(0)))
    if _SENTINEL.search(text):
        rest = re.sub(r"[ \t]{2,}", " ", _SENTINEL.sub("", text)).strip()
        if not valid_anywhere or len(content_words(_strip_markers(rest))) < 3:
            return Draft(text="", quotes=[], refused=True)
        text = rest
        warnings.append("the model said the sources do not answer part of the question")
        groups = list(_MARKER_GROUP.finditer(text))

    # which sentence each marker group belongs to
    spans = sentence_spans(text) or [(0, len(text))]
    sentences = [_Sentence(a, b) for a, b in spans]
    owner: list[int] = []
    for g in groups:
        pos = g.start() + (len(g.group(0)) - len(g.group(0).lstrip()))
        i = max((j for j, s in enumerate(sentences) if s.start <= pos), default=0)
        lead = _MARKER_GROUP.sub("", text[sentences[i].start : pos]).strip()
        if not lead and i > 0:
            i -= 1  # "…rose 3%. [1] Next sentence": the marker closes the previous sentence
        owner.append(i)

    invalid: list[int] = []
    for g, i in zip(groups, owner, strict=True):
        for k in _marker_numbers(g.group(0)):
            if 1 <= k <= n_sources:
                if k not in sentences[i].numbers:
                    sentences[i].numbers.append(k)
            elif k not in invalid:
                invalid.append(k)
    if invalid:
        listed = ", ".join(f"[{k}]" for k in invalid)
        warnings.append(
            f"removed citation marker{'s' if len(invalid) > 1 else ''} {listed} that "
            f"match{'' if len(invalid) > 1 else 'es'} no source "
            f"(the model was given {n_sources} source{'s' if n_sources != 1 else ''})"
        )

    # quotes and support, sentence by sentence
    quotes: list[tuple[int, str, int | None, bool]] = []
    quote_index: dict[tuple[int, int], int] = {}
    placeholder: dict[tuple[int, int], int] = {}  # (sentence, source k) -> quote index
    uncited: list[str] = []
    for si, s in enumerate(sentences):
        claim = _strip_markers(text[s.start : s.end])
        if not s.numbers:
            if len(content_words(claim)) >= 3:
                uncited.append(claim)
            continue
        claim_terms, claim_figures = _terms(claim), _figures(claim)
        vocab: set[str] = set()
        figures: set[str] = set()
        per_source: dict[int, set[str]] = {}
        for k in s.numbers:
            h, passage = hits[k - 1], shown[k - 1]
            context = f"{h.title} {h.date or ''} {passage}"
            per_source[k] = _terms(context)
            vocab |= per_source[k]
            figures |= _figures(context)
        coverage = len(claim_terms & vocab) / len(claim_terms) if claim_terms else 1.0
        missing_figures = sorted(claim_figures - figures)
        supported = coverage >= SUPPORT_THRESHOLD and not missing_figures
        if not supported:
            why = (
                f"figure{'s' if len(missing_figures) > 1 else ''} {', '.join(missing_figures)} not in "
                "the cited source"
                if missing_figures
                else f"only {coverage:.0%} of its words are there"
            )
            warnings.append(f"not supported by the cited source ({why}): “{_short(claim)}”")
        for k in s.numbers:
            own = supported and (not claim_terms or bool(claim_terms & per_source[k]))
            if supported and not own:
                warnings.append(f"source [{k}] as cited shares nothing with: “{_short(claim)}”")
            a, b = _best_sentence(shown[k - 1], claim_terms)
            hit = hits[k - 1]
            key = (k - 1, a)
            if key not in quote_index:
                quote_index[key] = len(quotes)
                quotes.append((k - 1, hit.text[a:b], hit.start_char + a, own))
            else:
                qi = quote_index[key]
                hi_, q, qs, ok = quotes[qi]
                quotes[qi] = (hi_, q, qs, ok and own)
            placeholder[(si, k)] = quote_index[key]

    if not quotes:
        warnings.append(
            "the model cited no source: the answer is not grounded in the documents and was not checked"
        )
    elif uncited:
        warnings.append(
            f"{len(uncited)} sentence{'s' if len(uncited) > 1 else ''} without a citation, "
            f"e.g. “{_short(uncited[0])}”"
        )

    # rebuild the text with placeholders
    out: list[str] = []
    last = 0
    for g, i in zip(groups, owner, strict=True):
        out.append(text[last : g.start()])
        keys = [placeholder[(i, k)] for k in _marker_numbers(g.group(0)) if (i, k) in placeholder]
        lead_ws = g.group(0)[: len(g.group(0)) - len(g.group(0).lstrip())]
        if keys:
            out.append(lead_ws + "".join(f"{{{{cite:{q}}}}}" for q in dict.fromkeys(keys)))
        last = g.end()
    out.append(text[last:])
    final = re.sub(r"[ \t]+\n", "\n", "".join(out)).strip()
    for w in warnings:
        log.info("post-check: %s", w)
    return Draft(text=final, quotes=quotes, warnings=warnings)


def _best_sentence(passage: str, claim_terms: set[str]) -> tuple[int, int]:
    """Span of the passage sentence sharing most content words with the claim (first on ties)."""
    spans = sentence_spans(passage) or [(0, len(passage))]
    best, best_score = spans[0], (-1, 0.0)
    for a, b in spans:
        terms = _terms(passage[a:b])
        common = len(terms & claim_terms)
        score = (common, common / (len(terms) + 1))
        if score > best_score:
            best, best_score = (a, b), score
    return best


# ---------------------------------------------------------------------------------- backend


class GenerativeBackend(AnswerBackend):
    """Answers with a chat model through a LlamaIndex LLM (``stream_chat`` / ``chat``).

    ``llm``: a LlamaIndex LLM; ``server``: how errors name it ("the Ollama server at …").
    """

    def __init__(self, name: str, llm: Any, settings: Settings, server: str) -> None:
        self.name = name
        self.llm = llm
        self.settings = settings
        self.server = server

    # ------------------------------------------------------------------ answer

    def generate(
        self, question: str, retrieval: Retrieval, history: list[dict[str, str]]
    ) -> Iterator[str | Draft]:
        hits = retrieval.hits
        if not hits:
            yield Draft(text="", quotes=[], refused=True)
            return
        prompt = build_prompt(question, hits, history, self.settings)
        if prompt.dropped:
            log.info(
                "prompt fitting: %d of %d sources left out to fit the context window",
                prompt.dropped,
                len(hits),
            )
        pieces: list[str] = []
        pending = ""
        released = False
        try:
            for chunk in self.llm.stream_chat(self._messages(prompt.messages)):
                delta = chunk.delta or ""
                if not delta:
                    continue
                pieces.append(delta)
                if released:
                    yield delta
                    continue
                pending += delta
                probe = pending.lstrip().upper()
                if probe and not (NOT_IN_SOURCES.startswith(probe) or probe.startswith(NOT_IN_SOURCES)):
                    released = True  # cannot be the refusal sentinel: show it
                    yield pending
        except AssistantError:
            raise
        except Exception as exc:
            error = self._error(exc)
            log.warning("%s", error)
            raise error from None
        draft = post_check("".join(pieces), hits[: len(prompt.shown)], prompt.shown)
        if prompt.dropped and not draft.refused:
            draft.warnings.append(
                f"{prompt.dropped} lower-ranked passage{'s were' if prompt.dropped > 1 else ' was'} left out "
                f"to fit the model's context window ({self.settings.llm_context_window} tokens)"
            )
        yield draft

    # ------------------------------------------------------------------ follow-ups

    def condense(self, question: str, history: list[dict[str, str]]) -> str:
        """Ask the model for a standalone question; on any failure or an odd reply, fall back to
        the deterministic :func:`~assistant.answer.base.rewrite_follow_up`."""
        if not history:
            return question
        turns: list[dict[str, str]] = []
        used = 0
        for turn in reversed(history):
            content = _strip_markers(turn.get("content", ""))
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
        reply = _THINK.sub("", reply).strip()
        reply = re.sub(r"^(?:<?standalone question>?|standalone question\s*:)\s*", "", reply, flags=re.I)
        reply = reply.strip().splitlines()[0].strip().strip("\"“”'") if reply.strip() else ""
        if not reply or len(reply) > max(1000, 4 * len(question)) or _SENTINEL.search(reply):
            log.info("condense: unusable reply from the model; using the deterministic rewrite")
            return rewrite_follow_up(question, history)
        return reply

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _messages(messages: list[dict[str, str]]) -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role=m["role"], content=m["content"]) for m in messages]

    def _error(self, exc: BaseException) -> AssistantError:
        """A user-facing error for a failed model request: which server, what happened, what to do.
        Never contains the API key."""
        return AssistantError(_redact(describe_failure(exc, self.server, self.settings), self.settings))


def _redact(message: str, settings: Settings) -> str:
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    return message.replace(key, "***") if key else message


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _detail(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return _short(str(msg), 160)
    for attr in ("error", "message"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value.strip():
            return _short(value, 160)
    return _short(str(exc), 160)


def describe_failure(exc: BaseException, server: str, settings: Settings) -> str:
    """What went wrong with a request to ``server`` and what to do about it (no traceback)."""
    import httpx

    try:
        import openai

        timeouts: tuple[type[BaseException], ...] = (
            openai.APITimeoutError,
            httpx.TimeoutException,
            TimeoutError,
        )
        connects: tuple[type[BaseException], ...] = (
            openai.APIConnectionError,
            httpx.TransportError,
            ConnectionError,
        )
    except ImportError:  # the ollama backend alone does not need openai
        timeouts = (httpx.TimeoutException, TimeoutError)
        connects = (httpx.TransportError, ConnectionError)
    chain = _chain(exc)
    offline = "or answer offline with --backend extractive"
    if any(isinstance(e, timeouts) for e in chain):
        return (
            f"{server} did not reply within {settings.llm_timeout:g} s (ASSISTANT_LLM_TIMEOUT). The model "
            f"may still be loading or the server is overloaded: try again, raise ASSISTANT_LLM_TIMEOUT, "
            f"{offline}."
        )
    status = getattr(exc, "status_code", None)
    if status is None and isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
    if isinstance(status, int) and status > 0:
        detail = _detail(exc)
        if status in (401, 403):
            todo = "set ASSISTANT_LLM_API_KEY to a key this server accepts"
        elif status == 404:
            todo = (
                f"check that ASSISTANT_LLM_MODEL ({settings.llm_model!r}) is served there and that "
                "ASSISTANT_LLM_BASE_URL is the API root (for OpenAI-compatible servers it usually "
                "ends in /v1)"
            )
        elif status == 429:
            todo = f"the server is rate-limiting: wait and try again, {offline}"
        elif status >= 500:
            todo = f"the fault is on the server side: check its logs and try again, {offline}"
        else:
            todo = (
                "if the prompt is too long, set ASSISTANT_LLM_CONTEXT_WINDOW to the model's real "
                "window; otherwise check the server's logs"
            )
        return f"{server} answered with HTTP {status} ({detail}): {todo}."
    if any(isinstance(e, connects) for e in chain):
        refused = any("refused" in str(e).lower() for e in chain)
        what = "the connection was refused" if refused else f"the connection failed ({_detail(chain[-1])})"
        return (
            f"could not reach {server}: {what}. Check that the server is running and that "
            f"ASSISTANT_LLM_BASE_URL is right, {offline}."
        )
    return f"the request to {server} failed ({type(exc).__name__}: {_detail(exc)})."


# ---------------------------------------------------------------------------------- factory


def make_generative_backend(name: str, settings: Settings) -> GenerativeBackend:
    """The ``openai`` or ``ollama`` backend configured from ``settings``.

    Raises :class:`AssistantError` naming the ``ASSISTANT_LLM_*`` variable to set when the base
    URL or model is missing, or the package to install when its LlamaIndex integration is absent.
    """
    if name not in _BACKEND_LABEL:
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
    server = f"the {_BACKEND_LABEL[name]} server at {base_url} (model {settings.llm_model!r})"
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
            max_retries=0,
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
            additional_kwargs={"num_predict": settings.llm_max_tokens},
            headers={"Authorization": f"Bearer {key}"} if key else None,
        )
    return GenerativeBackend(name, llm, settings, server)
