"""A real local HTTP server that speaks enough of the chat-completions API for the generator tests.

Behaviours are scripted per request in arrival order (``queue(...)``); when the script is empty
the ``default`` behaviour is used. Good replies are generated deterministically from the task JSON
the generator sends as its user message. The server counts requests and the maximum number of
requests in flight at once; ``gate`` makes lesson requests wait until that many are in flight (so a
concurrency limit is observable without relying on timing).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BEHAVIOURS = ("good", "malformed_json", "bad_schema", "wrong_shape", "429", "500", "slow", "401")


def _outline(task: dict[str, Any], wrong_shape: bool) -> dict[str, Any]:
    topic = task["topic"]
    modules = []
    for number, spec in enumerate(task["modules"], start=1):
        phase = spec["phase"]
        count = spec["lessons"] + (1 if wrong_shape else 0)
        modules.append(
            {
                "title": f"{topic} module {number}: {phase}",
                "summary": f"The {phase} part of {topic}.",
                "objectives": [*spec["objectives_to_cover"], f"Master the {phase} of {topic}"],
                "lessons": [f"{topic} {phase} lesson {i + 1}" for i in range(count)],
                "assessment": {"title": f"{phase} check", "kind": "quiz", "description": f"Quiz on {topic}."},
                "extra_field_models_like_to_add": True,
            }
        )
    return {"modules": modules}


def _lesson(task: dict[str, Any]) -> dict[str, Any]:
    title = task["lesson_title"]
    # Models do not respect budgets; the generator must not trust anything numeric.
    return {
        "summary": f"About {title} ({task['level']}).",
        "activities": [f"Read about {title}", f"Practise {title}"],
        "minutes": 100000,
    }


class LLMServer:
    def __init__(self, *, gate: int | None = None, slow_s: float = 5.0, gate_timeout_s: float = 10.0) -> None:
        self.gate = gate
        self.slow_s = slow_s
        self.gate_timeout_s = gate_timeout_s
        self.default = "good"
        self._script: deque[str] = deque()
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._epoch = 0
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lessons_in_flight = 0
        self.authorizations: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-server", daemon=True
        )

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
            self.default = "good"
            self.gate = None
            self.requests = self.in_flight = self.max_in_flight = self.lessons_in_flight = 0
            self.authorizations.clear()
            self.bodies.clear()

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

    def _enter(self, is_lesson: bool, body: dict[str, Any], auth: str) -> str:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.bodies.append(body)
            self.authorizations.append(auth)
            behaviour = self._script.popleft() if self._script else self.default
            if is_lesson:
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

    def _reply(
        self, behaviour: str, body: dict[str, Any], task: dict[str, Any], auth: str
    ) -> tuple[int, Any]:
        if behaviour == "429":
            return 429, {
                "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
            }
        if behaviour == "500":
            return 500, {
                "error": {"message": "The server had an error", "type": "server_error", "code": None}
            }
        if behaviour == "401":
            # Real providers echo (part of) the key; the generator must not pass it on.
            key = auth.removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}"
            return 401, {
                "error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
            }
        if behaviour == "slow":
            self._stop.wait(self.slow_s)
        if behaviour == "malformed_json":
            content = '{"modules": [ this is not json'
        elif behaviour == "bad_schema":
            content = json.dumps({"unexpected": "shape"})
        elif task.get("task") == "outline":
            content = json.dumps(_outline(task, wrong_shape=behaviour == "wrong_shape"))
        else:
            content = json.dumps(_lesson(task))
        return 200, {
            "id": f"chatcmpl-{self.requests}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "test-model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

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
                    is_lesson = task.get("task") == "lesson"
                    behaviour = server._enter(is_lesson, body, auth)
                    try:
                        status, payload = server._reply(behaviour, body, task, auth)
                    finally:
                        server._leave(is_lesson)
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler
