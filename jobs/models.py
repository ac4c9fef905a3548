"""Curriculum request and result models (docs/interface.md), and request parsing that never echoes values."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from worker.errors import RequestInvalid

Level = Literal["beginner", "intermediate", "advanced"]
LEVELS: tuple[Level, ...] = ("beginner", "intermediate", "advanced")

TOPIC_MIN, TOPIC_MAX = 3, 200
WEEKS_MIN, WEEKS_MAX = 1, 52
HOURS_MIN, HOURS_MAX = 1, 40
MAX_OBJECTIVES, OBJECTIVE_MAX = 20, 300

Objective = Annotated[StrictStr, StringConstraints(max_length=OBJECTIVE_MAX)]
# A BCP 47-like tag ("en", "pt-BR", "zh-Hant"); the value is used in model prompts, so keep it tame.
Language = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")]


class CurriculumRequest(BaseModel):
    """What a client may ask for. Unknown fields are an error; types are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="CurriculumRequest")

    topic: Annotated[StrictStr, Field(min_length=TOPIC_MIN, max_length=TOPIC_MAX, pattern=r"\S")]
    level: Level = "beginner"
    duration_weeks: Annotated[StrictInt, Field(ge=WEEKS_MIN, le=WEEKS_MAX)] = 4
    hours_per_week: Annotated[StrictFloat, Field(ge=HOURS_MIN, le=HOURS_MAX, allow_inf_nan=False)] = 5.0
    objectives: Annotated[list[Objective], Field(max_length=MAX_OBJECTIVES)] = Field(default_factory=list)
    language: Language = "en"

    @field_validator("topic")
    @classmethod
    def _topic_not_blank(cls, value: str) -> str:
        stripped = value.strip()
        if len(stripped) < TOPIC_MIN:
            raise ValueError(f"must have at least {TOPIC_MIN} non-blank characters")
        return stripped

    @field_validator("hours_per_week")
    @classmethod
    def _hours_finite(cls, value: float) -> float:
        if not math.isfinite(value):  # belt and braces: allow_inf_nan=False already refuses these
            raise ValueError("must be a finite number")
        return value

    @field_validator("objectives")
    @classmethod
    def _strip_objectives(cls, value: list[str]) -> list[str]:
        return [objective.strip() for objective in value]


class Assessment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    kind: str
    description: str


class Lesson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    summary: str
    minutes: int
    activities: list[str]


class Module(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    summary: str
    objectives: list[str]
    lessons: list[Lesson]
    assessment: Assessment


class ScheduleWeek(BaseModel):
    model_config = ConfigDict(extra="forbid")

    week: int
    lesson_ids: list[str]
    minutes: int


class ObjectiveCoverage(BaseModel):
    """A requested objective and the titles of the modules that address it."""

    model_config = ConfigDict(extra="forbid")

    objective: str
    modules: list[str]


class GeneratorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    model: str


class Curriculum(BaseModel):
    """A finished curriculum; ``check_invariants`` in ``jobs.planner`` verifies the contract's rules."""

    model_config = ConfigDict(extra="forbid")

    topic: str
    level: Level
    duration_weeks: int
    hours_per_week: float
    modules: list[Module]
    schedule: list[ScheduleWeek]
    objectives_coverage: list[ObjectiveCoverage]
    total_minutes: int
    generator: GeneratorInfo
    generated_at: datetime


# --- parsing -------------------------------------------------------------------------------------

_MESSAGES: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "finite_number": "must be a finite number",
    "literal_error": "must be one of " + ", ".join(LEVELS),
    "string_pattern_mismatch": "has an invalid format",
}


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = part if len(part) <= 40 and part.isprintable() else repr(part[:40]) + "..."
            path += f".{name}" if path else name
    return path or "request"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "string_pattern_mismatch" and error["loc"][:1] == ("topic",):
        return "must not be blank"
    if kind == "string_pattern_mismatch" and error["loc"][:1] == ("language",):
        return "must be a language tag such as 'en' or 'pt-BR'"
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind in ("string_too_short", "too_short"):
        unit = "characters" if kind.startswith("string") else "items"
        return f"at least {ctx.get('min_length')} {unit}"
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind.startswith("string") else "items"
        return f"at most {ctx.get('max_length')} {unit}"
    bounds = {"greater_than_equal": "at least", "less_than_equal": "at most"}
    if kind in bounds:
        limit = ctx.get("ge", ctx.get("le"))
        return f"must be {bounds[kind]} {limit}"
    if kind == "value_error":
        return str(ctx.get("error", "invalid value"))
    # pydantic's own short messages hold no input values; the input itself is never included.
    return error["msg"]


def parse_request(data: object) -> CurriculumRequest:
    """Validate a raw request; raise ``RequestInvalid`` naming every bad field (never its value)."""
    if not isinstance(data, dict):
        raise RequestInvalid(["request: must be a JSON object"])
    try:
        return CurriculumRequest.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{_path(err['loc'])}: {_message(err)}"
            for err in exc.errors(include_url=False, include_input=False, include_context=True)
        ]
        raise RequestInvalid(problems) from None


def request_json_schema() -> dict[str, Any]:
    """JSON Schema of the request, for services that want to validate before enqueueing."""
    schema = CurriculumRequest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
