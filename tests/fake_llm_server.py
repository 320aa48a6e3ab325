"""A real local HTTP server speaking enough of two LLM protocols for tests, with scripted replies.

* OpenAI Chat Completions: ``POST /v1/chat/completions``, a JSON body when ``stream`` is false,
  Server-Sent Events (``data: {chunk}\\n\\n`` … ``data: [DONE]\\n\\n``) when it is true.
* Ollama: ``POST /api/chat``, NDJSON lines when ``stream`` is true, one JSON object otherwise.

Each request takes the next :class:`Reply` from a queue (``server.queue(...)``); an empty queue
answers HTTP 500 "no scripted reply" so a test that forgot one fails loudly. Every request is
recorded (``server.requests``: path, headers, parsed JSON body) so a test can assert on the prompt.

Usage::

    with FakeLLMServer() as server:
        server.queue(Reply("Exports fell [1]."), Reply.error(500), Reply.slow(3.0))
        ... Settings(llm_base_url=server.openai_url, ...)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply: ``text`` (split into several stream chunks), or an HTTP ``status``
    error, after waiting ``delay`` seconds before answering; a streamed reply waits
    ``piece_delay`` seconds before each chunk (a model generating slowly). ``finish_reason``
    is what the server says at the end ("length": the token cap was reached)."""

    text: str = ""
    status: int = 200
    delay: float = 0.0
    piece_delay: float = 0.0
    finish_reason: str = "stop"

    @classmethod
    def error(cls, status: int = 500, message: str = "internal server error") -> Reply:
        return cls(text=message, status=status)

    @classmethod
    def slow(cls, seconds: float, text: str = "Too late [1].") -> Reply:
        return cls(text=text, delay=seconds)

    def pieces(self) -> list[str]:
        """The text cut into word-sized stream chunks (several per reply)."""
        return re.findall(r"\S+\s*|\s+", self.text) or [""]


@dataclass
class Request:
    """A request as received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))


class FakeLLMServer:
    """The server, bound to 127.0.0.1 on a free port, serving in a daemon thread."""

    def __init__(self, model: str = "fake-model", port: int = 0) -> None:
        self.model = model
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.chunks_sent = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the Ollama base URL)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the OpenAI-compatible base URL)."""
        return self.url + "/v1"

    def queue(self, *replies: Reply | str) -> None:
        """Append replies (a str is a 200 reply with that text)."""
        with self._lock:
            self.replies.extend(Reply(r) if isinstance(r, str) else r for r in replies)

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self.replies.clear()
            self.requests.clear()
            self.chunks_sent = 0

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _take(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.replies.popleft() if self.replies else Reply.error(500, "no scripted reply")


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            path = self.path.split("?")[0]
            if path not in ("/v1/chat/completions", "/api/chat"):
                server._record(Request(path, dict(self.headers), body))
                self._json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
                return
            reply = server._take(Request(path, dict(self.headers), body))
            if reply.delay:
                time.sleep(reply.delay)
            try:
                if reply.status != 200:
                    if path == "/api/chat":
                        self._json(reply.status, {"error": reply.text})
                    else:
                        self._json(reply.status, {"error": {"message": reply.text, "type": "server_error"}})
                elif path == "/api/chat":
                    self._ollama(reply, bool(body.get("stream", True)))
                else:
                    self._openai(reply, bool(body.get("stream", False)))
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def do_GET(self) -> None:
            server._record(Request(self.path, dict(self.headers), {}))
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        # ------------------------------------------------------------ protocols

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _openai(self, reply: Reply, stream: bool) -> None:
            base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": server.model}
            if not stream:
                self._json(
                    200,
                    {
                        **base,
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.text},
                                "finish_reason": reply.finish_reason,
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            for i, piece in enumerate(reply.pieces()):
                if reply.piece_delay:
                    time.sleep(reply.piece_delay)
                delta = {"content": piece} | ({"role": "assistant"} if i == 0 else {})
                self._event(
                    {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                )
            self._event(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}],
                }
            )
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, chunk: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
            with server._lock:
                server.chunks_sent += 1

        def _ollama(self, reply: Reply, stream: bool) -> None:
            base = {"model": server.model, "created_at": "2026-01-01T00:00:00Z"}
            done = {
                **base,
                "done": True,
                "done_reason": reply.finish_reason,
                "total_duration": 1,
                "prompt_eval_count": 10,
                "eval_count": 10,
            }
            if not stream:
                self._json(200, {**done, "message": {"role": "assistant", "content": reply.text}})
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            for piece in reply.pieces():
                if reply.piece_delay:
                    time.sleep(reply.piece_delay)
                line = {**base, "message": {"role": "assistant", "content": piece}, "done": False}
                self.wfile.write(json.dumps(line).encode() + b"\n")
                self.wfile.flush()
            final = {**done, "message": {"role": "assistant", "content": ""}}
            self.wfile.write(json.dumps(final).encode() + b"\n")
            self.wfile.flush()

    return Handler
