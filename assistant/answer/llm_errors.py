"""What went wrong with a model request, in words a user can act on (and never the API key)."""

from __future__ import annotations

import re
from typing import Any

from assistant.config import Settings


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def redact(message: str, settings: Settings) -> str:
    """``message`` with the API key replaced by ``***``."""
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
            return _short(str(msg))
    for attr in ("error", "message"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value.strip():
            return _short(value)
    return _short(str(exc))


def _kinds() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeout errors, connection errors) of the HTTP clients in use."""
    import httpx

    timeouts: tuple[type[BaseException], ...] = (httpx.TimeoutException, TimeoutError)
    connects: tuple[type[BaseException], ...] = (httpx.TransportError, ConnectionError)
    try:
        import openai
    except ImportError:  # the ollama backend alone does not need openai
        return timeouts, connects
    return (openai.APITimeoutError, *timeouts), (openai.APIConnectionError, *connects)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status a server answered with, when the failure was one."""
    status: Any = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) and status > 0 else None


def format_rejected(exc: BaseException) -> bool:
    """True when the server refused the request's reply format: HTTP 400/415/422, or any error
    status whose message names the format (llama-cpp-python answers an unknown
    ``response_format`` type with HTTP 500)."""
    status = http_status(exc)
    if status is None:
        return False
    if status in (400, 415, 422):
        return True
    return bool(
        re.search(r"response_format|json_schema|json_object|\bformat\b", f"{_detail(exc)} {exc}", re.I)
    )


def connection_failure(exc: BaseException) -> bool:
    """True when the request never reached a server that answered (refused, reset, DNS): the only
    failure worth retrying. A timeout or an HTTP error status is not one."""
    timeouts, connects = _kinds()
    chain = _chain(exc)
    if http_status(exc) is not None or any(isinstance(e, timeouts) for e in chain):
        return False
    return any(isinstance(e, connects) for e in chain)


def describe_failure(exc: BaseException, server: str, settings: Settings) -> str:
    """What went wrong with a request to ``server`` and what to do about it (no traceback)."""
    timeouts, connects = _kinds()
    chain = _chain(exc)
    offline = "or answer offline with --backend extractive"
    if any(isinstance(e, timeouts) for e in chain):
        return (
            f"{server} did not reply within {settings.llm_timeout:g} s (ASSISTANT_LLM_TIMEOUT). The model "
            f"may still be loading or the server is overloaded: try again, raise ASSISTANT_LLM_TIMEOUT, "
            f"{offline}."
        )
    status = http_status(exc)
    if status is not None:
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
