"""Entry point for the job wrapper: validate, reuse a cached result or generate, check, cache."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from jobs.cache import Cache, content_key
from jobs.generators import Generator, GeneratorConfig, ProgressFn, build_generator, guarded_progress
from jobs.invariants import check_invariants, invariant_problems
from jobs.models import Curriculum, CurriculumRequest, parse_request
from jobs.singleflight import SingleFlight

logger = logging.getLogger(__name__)


def _cached(cache: Cache, key: str, request: CurriculumRequest) -> dict[str, Any] | None:
    data = cache.get_curriculum(key)
    if data is None:
        return None
    try:
        curriculum = Curriculum.model_validate(data)
    except ValidationError:
        curriculum = None
    if curriculum is None or invariant_problems(curriculum, request):
        logger.warning("ignoring an invalid cached curriculum", extra={"event": "cache.bad_entry"})
        return None
    return curriculum.model_dump(mode="json")


def generate(
    request: object,
    config: GeneratorConfig,
    progress: ProgressFn,
    cache: Cache | None = None,
    flight: SingleFlight | None = None,
) -> dict[str, Any]:
    """Curriculum for a raw request, as a JSON-able dict.

    With ``cache`` and ``flight``, a request another job is generating right now is waited for and
    served from the cache instead of generated twice (see ``jobs.singleflight``).

    Raises ``RequestInvalid`` (bad request, never retry), ``TransientJobError`` (retry may help) or
    ``PermanentJobError`` (including ``CurriculumInvariantError``; retrying will not help).
    """
    parsed = parse_request(request)
    generator = build_generator(config, cache)
    key = content_key(parsed, generator.name, generator.model)
    context = {"generator": generator.name, "model": generator.model, "content_key": key[:16]}
    if cache is None:
        return _generate(generator, parsed, progress, None, key, context)
    hit = _cached(cache, key, parsed)
    if hit is None:
        if flight is None:
            return _generate(generator, parsed, progress, cache, key, context)

        def lookup() -> dict[str, Any] | None:
            return _cached(cache, key, parsed)

        with flight.turn(key, lookup, lambda: guarded_progress(progress)("waiting", 0, 1)) as hit:
            if hit is None:
                return _generate(generator, parsed, progress, cache, key, context)
    logger.info("curriculum served from cache", extra={"event": "curriculum.cached", **context})
    guarded_progress(progress)("cached", 1, 1)
    return hit


def _generate(generator: Generator, parsed: CurriculumRequest, progress: ProgressFn, cache: Cache | None,
              key: str, context: dict[str, str]) -> dict[str, Any]:
    curriculum = generator.generate(parsed, progress)
    check_invariants(curriculum, parsed)
    result = curriculum.model_dump(mode="json")
    if cache is not None:
        cache.put_curriculum(key, result)
    logger.info(
        "curriculum generated: %s modules, %s minutes",
        len(curriculum.modules),
        curriculum.total_minutes,
        extra={"event": "curriculum.generated", **context},
    )
    return result
