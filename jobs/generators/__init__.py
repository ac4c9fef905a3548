"""Curriculum generators: ``offline`` (deterministic templates) and ``openai`` (a chat model)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from jobs.errors import JobConfigInvalid

if TYPE_CHECKING:
    from jobs.cache import Cache
    from jobs.models import Curriculum, CurriculumRequest

logger = logging.getLogger(__name__)

#: ``progress(stage, done, total)``; must be cheap, may be called from worker threads (serialised).
ProgressFn = Callable[[str, int, int], None]

#: Bump when prompts or offline templates change, so cached results are not reused.
PROMPT_VERSION = "curriculum-v2"

GeneratorName = Literal["offline", "openai"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Plain settings for a generator. ``repr`` never shows the API key."""

    name: GeneratorName = "offline"
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    concurrency: int = 8
    request_timeout_s: float = 60.0
    max_malformed_retries: int = 2
    #: Starting ``max_tokens`` of every call; a truncated reply is asked again with up to 4x this.
    max_tokens: int = 4096
    temperature: float = 0.4
    seed: int = 42
    #: Per-call retries of 429/5xx, their backoff base and the longest wait we sit out (seconds).
    call_retries: int = 4
    retry_base_s: float = 1.0
    retry_max_wait_s: float = 30.0
    #: Per-job caps (``OPENAI_MAX_CALLS_PER_JOB``, ``OPENAI_MAX_TOKENS_PER_JOB``): a year-long course at
    #: 40 h a week takes about 60 calls and 1.5 M tokens, so these leave room for re-asks and retries.
    max_calls_per_job: int = 200
    max_tokens_per_job: int = 3_000_000

    @property
    def max_tokens_cap(self) -> int:
        return self.max_tokens * 4

    def __post_init__(self) -> None:
        problems = []
        if self.name not in ("offline", "openai"):
            problems.append("CURRICULUM_GENERATOR: must be 'offline' or 'openai'")
        if self.name == "openai" and not self.api_key:
            problems.append("OPENAI_API_KEY: required by the openai generator")
        if self.name == "openai" and not self.model:
            problems.append("CURRICULUM_MODEL: must not be empty")
        if self.concurrency < 1:
            problems.append("LLM_CONCURRENCY: must be at least 1")
        if not self.request_timeout_s > 0:
            problems.append("request_timeout_s: must be positive")
        if self.max_malformed_retries < 0:
            problems.append("max_malformed_retries: must not be negative")
        problems += self._call_problems()
        if problems:
            raise JobConfigInvalid(problems)

    def _call_problems(self) -> list[str]:
        problems = []
        if self.max_tokens < 16:
            problems.append("OPENAI_MAX_TOKENS: must be at least 16")
        if not 0 <= self.temperature <= 2:
            problems.append("OPENAI_TEMPERATURE: must be between 0 and 2")
        if self.call_retries < 0:
            problems.append("OPENAI_MAX_RETRIES: must not be negative")
        if not (self.retry_base_s > 0 and self.retry_max_wait_s >= 0):
            problems.append("retry_base_s / OPENAI_RETRY_MAX_WAIT: must be positive")
        if self.max_calls_per_job < 1:
            problems.append("OPENAI_MAX_CALLS_PER_JOB: must be at least 1")
        if self.max_tokens_per_job < 1:
            problems.append("OPENAI_MAX_TOKENS_PER_JOB: must be at least 1")
        return problems


class Generator(Protocol):
    """Writes a curriculum for a validated request; raises ``JobError`` subclasses on failure."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    def generate(self, request: CurriculumRequest, progress: ProgressFn) -> Curriculum: ...


def build_generator(config: GeneratorConfig, cache: Cache | None = None) -> Generator:
    """The generator ``config.name`` selects; ``cache`` (llm namespace) is used by ``openai`` only."""
    if config.name == "openai":
        from jobs.generators.openai_generator import OpenAIGenerator

        return OpenAIGenerator(config, cache)
    from jobs.generators.offline import OfflineGenerator

    return OfflineGenerator()


def guarded_progress(progress: ProgressFn) -> ProgressFn:
    """Serialise calls to ``progress`` and never let a failing callback fail the job (logged once)."""
    lock = threading.Lock()
    failed = False

    def report(stage: str, done: int, total: int) -> None:
        nonlocal failed
        with lock:
            try:
                progress(stage, done, total)
            except Exception as exc:
                if not failed:
                    failed = True
                    logger.warning(
                        "progress callback failed: %s",
                        type(exc).__name__,
                        extra={"event": "progress.failed", "stage": stage},
                    )

    return report
