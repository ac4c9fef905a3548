"""A best-effort Redis cache for model replies (``llm``) and finished curricula (``content``).

Any Redis failure degrades to "no cache": the operation returns a miss / does nothing, a warning is
logged once per ``Cache`` instance, and Redis is not tried again for ``retry_after_s`` seconds.

Keys: ``jobs.keys.CACHE``. A miss there is looked up once more under the prefix releases before the
key registry used (``jobs.keys.LEGACY_CACHE``), so a rolling upgrade does not pay the provider again
for what the old workers cached; those entries expire within ``CONTENT_TTL_S`` and are never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

import redis

from jobs import keys
from jobs.generators import PROMPT_VERSION
from jobs.models import CurriculumRequest

logger = logging.getLogger(__name__)

Namespace = Literal["llm", "content"]

LLM_TTL_S = 3600
CONTENT_TTL_S = 24 * 3600


def digest(payload: object) -> str:
    """sha256 of the canonical JSON of ``payload`` (sorted keys, no whitespace)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_key(request: CurriculumRequest, generator: str, model: str) -> str:
    """Cache key of a finished curriculum: request, generator, model and ``PROMPT_VERSION``."""
    return digest(
        {
            "request": request.model_dump(mode="json"),
            "generator": generator,
            "model": model,
            "prompt_version": PROMPT_VERSION,
        }
    )


def llm_key(messages: Sequence[dict[str, str]], model: str, **params: object) -> str:
    """Cache key of one model reply: the messages, the model and any request parameters."""
    return digest(
        {"messages": list(messages), "model": model, "params": params, "prompt_version": PROMPT_VERSION}
    )


class Cache:
    """Two namespaces over one optional Redis connection (``None`` means no caching at all)."""

    def __init__(
        self,
        connection: redis.Redis | None,
        *,
        prefix: str = keys.CACHE,
        llm_ttl_s: int = LLM_TTL_S,
        content_ttl_s: int = CONTENT_TTL_S,
        retry_after_s: float = 30.0,
    ) -> None:
        self._redis = connection
        self._prefix = prefix
        # Only the service's own cache has a predecessor; a test's private prefix has none.
        self._legacy = keys.LEGACY_CACHE if prefix == keys.CACHE else None
        self._ttl: dict[Namespace, int] = {"llm": llm_ttl_s, "content": content_ttl_s}
        self._retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._warned = False
        self._down_until = 0.0

    # --- content namespace (used by the job wrapper) ---

    content_key = staticmethod(content_key)

    def get_curriculum(self, key: str) -> dict[str, Any] | None:
        raw = self._get("content", key)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put_curriculum(self, key: str, curriculum: dict[str, Any]) -> None:
        self._set("content", key, json.dumps(curriculum, ensure_ascii=False, separators=(",", ":")))

    # --- llm namespace (used by the openai generator) ---

    def get_llm(self, key: str) -> str | None:
        return self._get("llm", key)

    def put_llm(self, key: str, reply: str) -> None:
        self._set("llm", key, reply)

    # --- plumbing ---

    def redis_key(self, namespace: Namespace, key: str) -> str:
        return keys.cache(namespace, key, self._prefix)

    def _usable(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def _failed(self, namespace: Namespace, exc: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self._retry_after_s
            first, self._warned = not self._warned, True
        if first:
            logger.warning(
                "cache unavailable, continuing without it: %s",
                type(exc).__name__,
                extra={"event": "cache.unavailable", "namespace": namespace},
            )

    def _get(self, namespace: Namespace, key: str) -> str | None:
        if not self._usable():
            return None
        assert self._redis is not None
        try:
            value = self._redis.get(self.redis_key(namespace, key))
            if value is None and self._legacy is not None:  # a miss costs a model call: one more GET is cheap
                value = self._redis.get(keys.cache(namespace, key, self._legacy))
        except (redis.RedisError, OSError) as exc:
            self._failed(namespace, exc)
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return value if isinstance(value, str) else None

    def _set(self, namespace: Namespace, key: str, value: str) -> None:
        if not self._usable():
            return
        assert self._redis is not None
        try:
            self._redis.set(self.redis_key(namespace, key), value, ex=self._ttl[namespace])
        except (redis.RedisError, OSError) as exc:
            self._failed(namespace, exc)
