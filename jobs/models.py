"""Curriculum request and result models (docs/interface.md), and request parsing that never echoes values."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import ErrorDetails

from jobs.errors import RequestInvalid
from jobs.request_rules import LANGUAGE_PATTERN, NO_LONE_SURROGATE, TOPIC_PATTERN, WHITESPACE, integral

Level = Literal["beginner", "intermediate", "advanced"]
LEVELS: tuple[Level, ...] = ("beginner", "intermediate", "advanced")

TOPIC_MIN, TOPIC_MAX = 3, 200
WEEKS_MIN, WEEKS_MAX = 1, 52
HOURS_MIN, HOURS_MAX = 1, 40
MAX_OBJECTIVES, OBJECTIVE_MAX = 20, 300

Objective = Annotated[StrictStr, StringConstraints(max_length=OBJECTIVE_MAX), WithJsonSchema(
    {"type": "string", "maxLength": OBJECTIVE_MAX, **NO_LONE_SURROGATE})]
Language = Annotated[StrictStr, StringConstraints(pattern=LANGUAGE_PATTERN)]
Weeks = Annotated[StrictInt, Field(ge=WEEKS_MIN, le=WEEKS_MAX), BeforeValidator(integral)]


class CurriculumRequest(BaseModel):
    """What a client may ask for. Unknown fields are an error; types are not coerced, but a number
    is judged by its value: ``duration_weeks`` 10.0 is the integer 10."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="CurriculumRequest", regex_engine="python-re")

    topic: Annotated[StrictStr, Field(min_length=TOPIC_MIN, max_length=TOPIC_MAX, pattern=TOPIC_PATTERN,
                                      json_schema_extra=NO_LONE_SURROGATE)]
    level: Level = "beginner"
    duration_weeks: Weeks = 4
    hours_per_week: Annotated[StrictFloat, Field(ge=HOURS_MIN, le=HOURS_MAX, allow_inf_nan=False)] = 5.0
    objectives: Annotated[list[Objective], Field(max_length=MAX_OBJECTIVES)] = Field(default_factory=list)
    language: Language = "en"

    @field_validator("topic")
    @classmethod
    def _strip_topic(cls, value: str) -> str:
        return value.strip(WHITESPACE)  # TOPIC_PATTERN already holds 3 characters between the ends

    @field_validator("hours_per_week")
    @classmethod
    def _hours_finite(cls, value: float) -> float:
        if not math.isfinite(value):  # belt and braces: allow_inf_nan=False already refuses these
            raise ValueError("must be a finite number")
        return value

    @field_validator("objectives")
    @classmethod
    def _strip_objectives(cls, value: list[str]) -> list[str]:
        return [objective.strip(WHITESPACE) for objective in value]


class Assessment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    kind: str
    description: str


LessonKind = Literal["foundation", "core", "practice", "project", "review", "assessment"]
LESSON_KINDS: tuple[LessonKind, ...] = ("foundation", "core", "practice", "project", "review", "assessment")


LessonSource = Literal["model", "template"]


class Lesson(BaseModel):
    """One scheduled lesson. ``objectives`` are the requested objectives it teaches, verbatim;
    ``source`` says who wrote its words: the model, or a template (offline text, or template text
    standing in for a model reply that stayed unusable, which alone is also marked ``fallback``)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    summary: str
    minutes: int
    activities: list[str]
    kind: LessonKind
    objectives: list[str] = Field(default_factory=list)
    fallback: bool = False
    source: LessonSource


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
    """A requested objective, the lessons that teach it and the titles of their modules.

    Both lists are empty for an objective the plan could not fit (it is then listed in
    ``Curriculum.uncovered_objectives``): a claim is only made where a lesson teaches it.
    """

    model_config = ConfigDict(extra="forbid")

    objective: str
    lesson_ids: list[str]
    modules: list[str]


class GeneratorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    model: str


class Usage(BaseModel):
    """Model calls and tokens a curriculum cost, summed from the provider's own ``usage`` fields
    (all ``0`` offline)."""

    model_config = ConfigDict(extra="forbid")

    model_calls: int = Field(default=0, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class Curriculum(BaseModel):
    """A finished curriculum; ``check_invariants`` in ``jobs.invariants`` verifies the contract's rules."""

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
    uncovered_objectives: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    usage: Usage


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
    "string_unicode": "must be valid Unicode (no unpaired surrogates)",
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
        return f"must have at least {TOPIC_MIN} characters besides leading and trailing whitespace"
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


def result_json_schema() -> dict[str, Any]:
    """JSON Schema of the result a finished job stores (``Curriculum.model_dump(mode="json")``).

    Every property is marked required: a dump always writes every field, defaults included, so a
    client may rely on ``warnings`` or ``lessons[].objectives`` being there. The TypeScript client's
    result type is generated from this schema (clients/typescript/scripts/build-result-type.mjs).
    """
    schema = Curriculum.model_json_schema(mode="serialization")
    for model in [schema, *schema.get("$defs", {}).values()]:
        if model.get("type") == "object" and "properties" in model:
            model["required"] = list(model["properties"])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
