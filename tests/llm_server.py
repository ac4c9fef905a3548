"""A real local HTTP server that speaks enough of the chat-completions API for the generator tests.

Behaviours are scripted per request in arrival order (``queue(...)``); when the script is empty
the ``default`` behaviour is used. Good replies are generated deterministically from the task JSON
the generator sends as its user message. Standing quirks apply to every request:
``rejected_formats`` (HTTP 400 for those ``response_format`` types, as many providers do),
``rejected_params`` (HTTP 400 naming one of those request parameters),
``bad_lessons`` (lesson ids whose replies are always malformed), ``vague_lessons`` (lesson ids
whose title and summary never name their objectives), ``min_max_tokens`` (replies are cut
off, ``finish_reason: length``, while the request's ``max_tokens`` is below it).

The server keeps its own record: request bodies, arrival times, and for every 429 it sends the
moment it sent it and the wait it asked for; ``early`` lists every request that arrived before such
a wait had expired (the server's clock, not the test's). ``gate`` makes lesson requests wait until
that many are in flight (so a concurrency limit is observable without relying on timing).
``limiter`` (``tests.rate_limits.RateLimiter``) makes it a rate-limited provider: every good reply
is charged its ``usage`` on arrival, carries the ``x-ratelimit-*`` headers, and becomes a 429 with
``Retry-After`` when it does not fit. ``usage`` counts about four characters per token.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.rate_limits import RateLimiter

BEHAVIOURS = (
    "good", "malformed_json", "bad_schema", "wrong_shape", "429", "500", "503", "slow", "401",
    "fenced", "prose", "wrapped", "length", "refusal", "content_filter", "duplicate_titles",
    "paraphrase",
)  # fmt: skip


def _title(topic: str, lesson: dict[str, Any], vague: Collection[str]) -> str:
    if lesson["id"] in vague:
        return f"{topic} lesson {lesson['id']}"
    if lesson["must_teach"]:
        return f"{lesson['must_teach'][0]}: {lesson['kind']} ({lesson['id']})"
    if lesson.get("project_step"):
        return f"{topic} capstone, {lesson['project_step']} ({lesson['id']})"
    return f"{topic} {lesson['kind']} lesson {lesson['id']}"


def outline_reply(task: dict[str, Any], behaviour: str, vague: Collection[str] = ()) -> dict[str, Any]:
    """A good outline for the task (or one with the scripted flaw): titles name what lessons teach."""
    topic = task["topic"]
    modules: dict[str, Any] = {}
    for number, spec in enumerate(task["modules"], start=1):
        lessons = [
            {
                "title": _title(topic, lesson, vague) if behaviour != "duplicate_titles" else f"{topic} lesson",
                "objectives": [
                    f"Be able to {o.lower()}" if behaviour == "paraphrase" else o for o in lesson["must_teach"]
                ],
            }
            for lesson in spec["lessons"]
        ]
        if behaviour == "wrong_shape":
            lessons.append({"title": "One lesson too many", "objectives": []})
        modules[spec["id"]] = {
            "title": f"{topic} module {number}",
            "summary": f"Part {number} of {topic}.",
            "objectives": [f"Master part {number} of {topic}"],
            "lessons": lessons,
            "assessment": {"title": f"Check {number}", "kind": "quiz", "description": f"Quiz on {topic}."},
            "extra_field_models_like_to_add": True,
        }
    return {"modules": modules}


def lesson_reply(task: dict[str, Any], vague: Collection[str] = ()) -> dict[str, Any]:
    """A good lesson for the task: its summary quotes the objectives it must teach."""
    title = task["lesson_title"]
    if task["lesson_id"] in vague:
        return {"summary": f"About lesson {task['lesson_id']}.", "activities": ["Read", "Discuss"]}
    teaches = f" Teaches: {'; '.join(task['must_teach'])}." if task["must_teach"] else ""
    # Models do not respect budgets; the generator must not trust anything numeric.
    return {
        "summary": f"About {title} ({task['level']}, {task['kind']}).{teaches}",
        "activities": [f"Read about {title}", f"Practise {title}"],
        "minutes": 100000,
    }


def _content(behaviour: str, task: dict[str, Any], vague: Collection[str]) -> str:
    is_outline = task.get("task") == "outline"
    if behaviour == "malformed_json":
        return '{"modules": [ this is not json'
    if behaviour == "bad_schema":
        return json.dumps({"unexpected": "shape"})
    reply = outline_reply(task, behaviour, vague) if is_outline else lesson_reply(task, vague)
    text = json.dumps(reply, ensure_ascii=False, indent=1)
    if behaviour == "fenced":
        return f"```json\n{text}\n```"
    if behaviour == "prose":
        return f"Sure! Here is the {'outline' if is_outline else 'lesson'} you asked for:\n\n{text}\n\nEnjoy."
    if behaviour == "wrapped":
        return json.dumps({"outline" if is_outline else "lesson": reply})
    if behaviour == "length":
        return text[: len(text) // 2]
    return text


def _completion(body: dict[str, Any], number: int, content: str | None, finish: str,
                refusal: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "test-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(body, content),
    }


def _usage(body: dict[str, Any], content: str | None) -> dict[str, int]:
    prompt = len(json.dumps(body.get("messages", []))) // 4 + 1
    completion = len(content or "") // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class LLMServer:
    def __init__(self, *, gate: int | None = None, slow_s: float = 5.0, gate_timeout_s: float = 10.0) -> None:
        self.gate = gate
        self.slow_s = slow_s
        self.gate_timeout_s = gate_timeout_s
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
        self.requests = self.in_flight = self.max_in_flight = self.lessons_in_flight = 0
        self.authorizations.clear()
        self.bodies.clear()
        self.rejected_formats: set[str] = set()
        #: Request parameters answered with HTTP 400 naming them (as reasoning models do for
        #: max_tokens and temperature).
        self.rejected_params: set[str] = set()
        self.bad_lessons: set[str] = set()
        #: Lesson ids whose outline title and lesson summary never name what the lesson must teach.
        self.vague_lessons: set[str] = set()
        self.min_max_tokens: int | None = None
        #: Headers sent with every 429, e.g. {"Retry-After": "1"} or {"retry-after-ms": "300"}.
        self.retry_headers: dict[str, str] = {}
        self.limiter: RateLimiter | None = None
        self.arrivals: list[float] = []
        self.waits: list[tuple[float, float]] = []  # (sent at, seconds asked) for every 429 sent
        self.early: list[float] = []  # how much too early each premature request arrived

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
            for sent, wait in self.waits:
                if now < sent + wait:
                    self.early.append(sent + wait - now)
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.bodies.append(body)
            self.authorizations.append(auth)
            behaviour = self._script.popleft() if self._script else self.default
            if task.get("task") == "lesson":
                if task.get("lesson_id") in self.bad_lessons and behaviour == "good":
                    behaviour = "bad_schema"
                self.lessons_in_flight += 1
                if self.gate is not None:
                    epoch = self._epoch
                    if self.lessons_in_flight >= self.gate:
                        self._epoch += 1  # release everybody waiting, all at once
                        self._lock.notify_all()
                    self._lock.wait_for(
                        lambda: self._stop.is_set() or self._epoch != epoch, timeout=self.gate_timeout_s
                    )
            return behaviour

    def _leave(self, is_lesson: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            if is_lesson:
                self.lessons_in_flight -= 1

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
        budget = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
        short = self.min_max_tokens is not None and budget < self.min_max_tokens
        if short or behaviour == "length":
            return 200, _completion(body, self.requests, _content("length", task, self.vague_lessons), "length")
        return 200, _completion(body, self.requests, _content(behaviour, task, self.vague_lessons), "stop")

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

    def _limit(self, status: int, payload: Any) -> tuple[int, Any, dict[str, str]]:
        """The rate limiter's verdict on a reply: charged (with headers) or turned into a 429."""
        limiter = self.limiter
        if limiter is None:
            return status, payload, {}
        if status != 200:
            return status, payload, {}
        admitted, headers = limiter.admit(int(payload["usage"]["total_tokens"]))
        if admitted:
            return status, payload, headers
        return 429, _error("Rate limit reached for tokens", "tokens", "rate_limit_exceeded"), headers

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
                    user = next(m["content"] for m in body.get("messages", []) if m.get("role") == "user")
                    task = json.loads(user)
                    auth = self.headers.get("Authorization", "")
                    behaviour = server._enter(task, body, auth)
                    try:
                        status, payload = server._reply(behaviour, body, task, auth)
                    finally:
                        server._leave(task.get("task") == "lesson")
                    status, payload, limits = server._limit(status, payload)
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in {**limits, **server._retry_headers(status)}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler
