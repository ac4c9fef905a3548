"""A real local HTTP server that speaks enough of the chat-completions API for the generator tests.

A cooperative model: replies come from ``tests/llm_replies.py`` (built from the task JSON the
generator sends), take ``first_token_s + completion_tokens / tokens_per_s`` to arrive when a rate
is set (waiting cooperatively, so shutting the server down never hangs), honour ``max_tokens``
(a longer reply is cut there with ``finish_reason: length``) and report ``usage`` (tokens counted
as characters / 4).

Behaviours are scripted per request in arrival order (``queue(...)``); when the script is empty
the ``default`` behaviour is used; ``module_quirks`` applies a behaviour to every writing call of
the given module numbers. Standing quirks apply to every request: ``rejected_formats`` (HTTP 400
for those ``response_format`` types), ``rejected_params`` (HTTP 400 naming one of those request
parameters), ``min_max_tokens`` (replies are cut off while the request's ``max_tokens`` is below it).

The server keeps its own record: request bodies, arrival times, and for every 429 it sends the
moment it sent it and the wait it asked for; ``early`` lists every request that arrived before such
a wait had expired (the server's clock, not the test's). ``gate`` makes writing requests wait until
that many are in flight (so a concurrency limit is observable without relying on timing).
``limiter`` (``tests.rate_limits.RateLimiter``) makes it a rate-limited provider: every good reply
is charged its ``usage`` on arrival, carries the ``x-ratelimit-*`` headers, and becomes a 429 with
``Retry-After`` when it does not fit. ``usage`` counts about four characters per token.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.llm_replies import good_reply, quirky_reply, with_trailing_commas
from tests.rate_limits import RateLimiter

Maker = Callable[[dict[str, Any]], dict[str, Any]]

BEHAVIOURS = (
    "good", "malformed_json", "bad_schema", "429", "500", "503", "slow", "401", "fenced", "prose", "wrapped",
    "length", "refusal", "content_filter", "duplicate_titles", "uncovered", "modules_shuffled",
    "lessons_reversed", "lessons_keyed", "ids_dropped", "identical", "echo_shape", "english", "html_200",
    "empty_choices",
    "reset", "trailing_comma", "tool_calls", "drip",
)  # fmt: skip
#: Behaviours answered at the HTTP level, before any content is made.
_TRANSPORT = ("html_200", "empty_choices", "reset", "drip")


def task_of(body: dict[str, Any]) -> dict[str, Any]:
    """The last user message that is a task (re-asks append plain-text messages after it)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        try:
            task = json.loads(message["content"])
        except ValueError:
            continue
        if isinstance(task, dict) and "task" in task:
            return task
    return {}


def _content(behaviour: str, task: dict[str, Any], make: Maker = good_reply) -> str:
    if behaviour == "malformed_json":
        return '{"modules": [ this is not json'
    if behaviour == "bad_schema":
        return json.dumps({"unexpected": "shape"})
    reply = quirky_reply(task, behaviour, make)
    if behaviour == "trailing_comma":
        return with_trailing_commas(reply)
    text = json.dumps(reply, ensure_ascii=False, indent=1)
    if behaviour == "fenced":
        return f"```json\n{text}\n```"
    if behaviour == "prose":
        return f"Sure! Here is what you asked for:\n\n{text}\n\nEnjoy."
    if behaviour == "wrapped":
        return json.dumps({"reply": reply})
    if behaviour == "length":
        return text[: len(text) // 2]
    return text


def _completion(body: dict[str, Any], number: int, content: str | None, finish: str,
                refusal: str | None = None, tool_call: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_call:
        message["content"] = None
        message["tool_calls"] = [{"id": "call_1", "type": "function",
                                  "function": {"name": "reply", "arguments": content}}]
    prompt = sum(len(m.get("content") or "") for m in body.get("messages", []))
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "test-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": math.ceil(prompt / 4), "completion_tokens": tokens(content),
                  "total_tokens": math.ceil(prompt / 4) + tokens(content)},
    }


def tokens(text: str | None) -> int:
    """Tokens of ``text`` as the server counts them (characters / 4, rounded up)."""
    return math.ceil(len(text or "") / 4)


def _error(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class LLMServer:
    def __init__(self, *, gate: int | None = None, slow_s: float = 5.0, gate_timeout_s: float = 10.0,
                 first_token_s: float = 0.0, tokens_per_s: float | None = None) -> None:
        self.gate = gate
        self.slow_s = slow_s
        self.gate_timeout_s = gate_timeout_s
        self.first_token_s = first_token_s
        self.tokens_per_s = tokens_per_s
        self._script: deque[str] = deque()
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._epoch = 0
        self.bodies: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self._clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-server", daemon=True
        )

    def _clear(self) -> None:
        self.default = "good"
        self.gate = None
        self.requests = self.in_flight = self.max_in_flight = self.writes_in_flight = 0
        self.authorizations.clear()
        self.bodies.clear()
        self.rejected_formats: set[str] = set()
        #: Request parameters answered with HTTP 400 naming them (as reasoning models do for
        #: max_tokens and temperature).
        self.rejected_params: set[str] = set()
        #: Module number -> behaviour of every writing call for that module.
        self.module_quirks: dict[int, str] = {}
        self.min_max_tokens: int | None = None
        #: Bytes per second of a "drip" reply.
        self.drip_bytes_per_s = 20.0
        #: Headers sent with every 429, e.g. {"Retry-After": "1"} or {"retry-after-ms": "300"}.
        self.retry_headers: dict[str, str] = {}
        self.limiter: RateLimiter | None = None
        self._reply_headers = threading.local()  # the limiter's headers, per handler thread
        self.arrivals: list[float] = []
        self.waits: list[tuple[float, float]] = []  # (sent at, seconds asked) for every 429 sent
        self.early: list[float] = []  # how much too early each premature request arrived
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        #: Replies cut off at max_tokens (finish_reason length).
        self.truncated = 0
        #: Makes the good reply to every task instead of tests/llm_replies.good_reply (a model's own design).
        self.design_hook: Maker | None = None

    # --- control ---

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def queue(self, *behaviours: str) -> None:
        assert all(b in BEHAVIOURS for b in behaviours), behaviours
        with self._lock:
            self._script.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._clear()

    def formats(self) -> list[str]:
        """The ``response_format`` type of every request so far (``"none"`` when absent)."""
        return [(b.get("response_format") or {}).get("type", "none") for b in self.bodies]

    def names(self) -> list[str]:
        """The json_schema name of every request so far (``""`` when absent)."""
        return [((b.get("response_format") or {}).get("json_schema") or {}).get("name", "") for b in self.bodies]

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    # --- request handling ---

    def _enter(self, task: dict[str, Any], body: dict[str, Any], auth: str) -> str:
        now = time.monotonic()
        with self._lock:
            self.arrivals.append(now)
            self.early += [sent + wait - now for sent, wait in self.waits if now < sent + wait]
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.bodies.append(body)
            self.authorizations.append(auth)
            behaviour = self._script.popleft() if self._script else self.default
            if task.get("task") == "write_module":
                if behaviour == "good":
                    behaviour = self.module_quirks.get(task.get("module", 0), behaviour)
                self.writes_in_flight += 1
                self._wait_for_gate()
            return behaviour

    def _wait_for_gate(self) -> None:
        if self.gate is None:
            return
        epoch = self._epoch
        if self.writes_in_flight >= self.gate:
            self._epoch += 1  # release everybody waiting, all at once
            self._lock.notify_all()
        self._lock.wait_for(lambda: self._stop.is_set() or self._epoch != epoch, timeout=self.gate_timeout_s)

    def _leave(self, is_write: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            if is_write:
                self.writes_in_flight -= 1

    def _quirk(self, body: dict[str, Any], behaviour: str) -> tuple[int, Any] | None:
        fmt = (body.get("response_format") or {}).get("type")
        if fmt in self.rejected_formats:
            return 400, _error(
                f"Invalid parameter: 'response_format' of type '{fmt}' is not supported with this model.",
                "invalid_request_error", None, "response_format",
            )  # fmt: skip
        for param in sorted(self.rejected_params & set(body)):
            return 400, _error(
                f"Unsupported parameter: '{param}' is not supported with this model.",
                "invalid_request_error", "unsupported_parameter", param,
            )  # fmt: skip
        if behaviour == "429":
            return 429, _error("Rate limit reached", "requests", "rate_limit_exceeded")
        if behaviour in ("500", "503"):
            return int(behaviour), _error("The server had an error", "server_error", None)
        return None

    def _reply(self, behaviour: str, body: dict[str, Any], task: dict[str, Any], auth: str) -> tuple[int, Any]:
        quirk = self._quirk(body, behaviour)
        if quirk is not None:
            return quirk
        if behaviour == "401":
            # Real providers echo (part of) the key; the generator must not pass it on.
            key = auth.removeprefix("Bearer ")
            return 401, _error(f"Incorrect API key provided: {key}", "invalid_request_error", "invalid_api_key")
        if behaviour == "slow":
            self._stop.wait(self.slow_s)
        if behaviour == "refusal":
            return 200, _completion(body, self.requests, None, "stop", "I'm sorry, I can't help with that.")
        if behaviour == "content_filter":
            return 200, _completion(body, self.requests, "", "content_filter")
        if behaviour == "empty_choices":
            return 200, {"id": "x", "object": "chat.completion", "choices": [], "usage": None}
        content = _content(behaviour, task, self.design_hook or good_reply)
        budget = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
        finish = "stop"
        if behaviour == "length" or (self.min_max_tokens is not None and budget < self.min_max_tokens):
            content, finish = _content("length", task), "length"
        elif budget and tokens(content) > budget:
            content, finish = content[: budget * 4], "length"
        return self._answer(_completion(body, self.requests, content, finish, tool_call=behaviour == "tool_calls"))

    def _answer(self, reply: dict[str, Any]) -> tuple[int, Any]:
        """A good reply: charged to the rate limiter on arrival (or a 429), then given the model's time."""
        if not self._admitted(reply):
            return 429, _error("Rate limit reached for tokens", "tokens", "rate_limit_exceeded")
        self._take_time(reply["usage"]["completion_tokens"])
        with self._lock:
            self.truncated += reply["choices"][0]["finish_reason"] == "length"
            for name in self.usage:
                self.usage[name] += reply["usage"][name]
        return 200, reply

    def _take_time(self, completion_tokens: int) -> None:
        """First-token time plus tokens at the stream's rate, as a real model takes (cooperatively)."""
        if self.tokens_per_s:
            self._stop.wait(self.first_token_s + completion_tokens / self.tokens_per_s)

    def _retry_headers(self, status: int) -> dict[str, str]:
        if status != 429:
            return {}
        headers = dict(self.retry_headers)
        asked = 0.0
        if "retry-after-ms" in headers:
            asked = float(headers["retry-after-ms"]) / 1000
        elif "Retry-After" in headers:
            asked = float(headers["Retry-After"])
        with self._lock:
            self.waits.append((time.monotonic(), asked))
        return headers

    def _write_body(self, handler: BaseHTTPRequestHandler, data: bytes, behaviour: str) -> None:
        """The body as sent: whole, broken off halfway ("reset"), or a few bytes at a time ("drip")."""
        if behaviour == "reset":
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.connection.shutdown(2)  # the connection breaks off mid-body
            handler.close_connection = True
        elif behaviour == "drip":
            for start in range(0, len(data), 4):
                if self._stop.wait(4 / self.drip_bytes_per_s):
                    return
                handler.wfile.write(data[start:start + 4])
                handler.wfile.flush()
        else:
            handler.wfile.write(data)

    def _admitted(self, reply: dict[str, Any]) -> bool:
        """The rate limiter's verdict, on arrival: charged (headers kept for the reply) or refused."""
        if self.limiter is None:
            return True
        admitted, self._reply_headers.headers = self.limiter.admit(int(reply["usage"]["total_tokens"]))
        return admitted

    def limit_headers(self) -> dict[str, str]:
        """The rate limiter's headers for the reply this handler thread is sending (once)."""
        headers: dict[str, str] = getattr(self._reply_headers, "headers", {})
        self._reply_headers.headers = {}
        return headers

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length) or b"{}")
                    task = task_of(body)
                    auth = self.headers.get("Authorization", "")
                    server.limit_headers()  # none left over from an earlier request on this connection
                    behaviour = server._enter(task, body, auth)
                    try:
                        status, payload = server._reply(behaviour, body, task, auth)
                    finally:
                        server._leave(task.get("task") == "write_module")
                    self._send(status, payload, behaviour)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _send(self, status: int, payload: Any, behaviour: str) -> None:
                data = json.dumps(payload).encode()
                kind = "application/json"
                if behaviour == "html_200":
                    data, kind = b"<html><body><h1>Welcome to the corporate proxy</h1></body></html>", "text/html"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in {**server.limit_headers(), **server._retry_headers(status)}.items():
                    self.send_header(name, value)
                self.end_headers()
                server._write_body(self, data, behaviour)

        return Handler
