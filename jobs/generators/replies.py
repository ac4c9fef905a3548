"""The replies we ask a model for: their strict JSON Schemas, and a lenient way to read them.

A schema here is the whole contract of a reply: a provider that enforces it (``strict: true``)
cannot send anything we would refuse. Fixed counts are ``minItems == maxItems``; the objectives a
lesson may claim are an ``enum`` of the requested ones; each lesson's ``kind`` is an ``enum`` of
the contract's kinds, so the model chooses the course's shape.

Providers that ignore the schema are read kindly: JSON in a markdown fence, with prose around it,
wrapped in a single key, with trailing commas or unquoted keys (``json_repair``, a maintained
lenient parser), keyed objects where a list was asked (``{"m2": ..., "m1": ...}`` is read in key
order, lessons keyed by id are read by id).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

import json_repair
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from jobs.models import LESSON_KINDS, LessonKind

_Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=3000)]
_ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]

MODULE_OBJECTIVES = (1, 8)
ACTIVITIES = (2, 6)
#: Rough minutes a model may give a lesson before we call it nonsense (the planner fits the real ones).
ROUGH_MINUTES = (5, 600)


def _drop_blank(value: object) -> object:
    """Models sometimes pad lists with empty strings; drop those instead of re-asking."""
    if isinstance(value, list):
        return [item for item in value if not (isinstance(item, str) and not item.strip())]
    return value


def _in_key_order(value: object) -> object:
    """``{"m2": {...}, "m1": {...}}`` (a provider that keyed what we asked as a list): by key number."""
    if not isinstance(value, dict):
        return value

    def number(key: str) -> tuple[int, str]:
        digits = re.findall(r"\d+", key)
        return (int(digits[-1]) if digits else 0, key)

    return [value[k] for k in sorted(value, key=number)]


def _kind(value: object) -> object:
    """A kind outside the contract's (``"lecture"``) is a core lesson; case and spaces are forgiven."""
    if isinstance(value, str):
        clean = value.strip().casefold()
        return clean if clean in LESSON_KINDS else "core"
    return value


def _rough(value: object) -> object:
    if isinstance(value, str):
        digits = re.findall(r"\d+", value)
        return int(digits[0]) if digits else 45
    return value


_Items = Annotated[list[_ItemText], BeforeValidator(_drop_blank)]


class Malformed(Exception):
    """A reply that is not the JSON we asked for; the message names the problem, not the content.

    ``hint`` is for the model only (it may quote the request, which never goes into logs).
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AssessmentReply(Reply):
    title: _Title
    kind: _Title
    description: _Text


class DesignLessonReply(Reply):
    title: _Title
    kind: Annotated[LessonKind, BeforeValidator(_kind)]
    objectives: Annotated[list[str], BeforeValidator(_drop_blank)] = Field(default_factory=list)
    minutes: Annotated[int, BeforeValidator(_rough), Field(ge=ROUGH_MINUTES[0], le=ROUGH_MINUTES[1])] = 45


class DesignModuleReply(Reply):
    title: _Title
    summary: _Text
    objectives: Annotated[_Items, Field(min_length=1, max_length=24)]
    assessment: AssessmentReply
    lessons: Annotated[list[DesignLessonReply], BeforeValidator(_in_key_order), Field(min_length=1)]


class CourseOutlineReply(Reply):
    """A whole course in one reply (short courses)."""

    modules: Annotated[list[DesignModuleReply], BeforeValidator(_in_key_order), Field(min_length=1)]


class ModulePlanReply(Reply):
    title: _Title
    summary: _Text
    objectives: Annotated[_Items, Field(min_length=1, max_length=24)]
    teaches: Annotated[list[str], BeforeValidator(_drop_blank)] = Field(default_factory=list)
    lessons: Annotated[int, BeforeValidator(_rough), Field(ge=1, le=1000)]
    assessment: AssessmentReply


class ModuleListReply(Reply):
    """A long course's modules, each with its number of lessons (their lessons come per module)."""

    modules: Annotated[list[ModulePlanReply], BeforeValidator(_in_key_order), Field(min_length=1)]


class ModuleOutlineReply(Reply):
    """One module's lessons (long courses)."""

    lessons: Annotated[list[DesignLessonReply], BeforeValidator(_in_key_order), Field(min_length=1)]


class WrittenLesson(Reply):
    """One lesson's words. ``title`` is not asked for; a provider that ignores the schema sometimes
    sends it (or no id), and it is then used to find the lesson."""

    id: str = ""
    title: str = ""
    summary: _Text
    activities: Annotated[_Items, Field(min_length=1, max_length=12)]


def _keyed_lessons(value: object) -> object:
    """Lessons keyed by id (``{"m1-l2": {...}}``) are read as a list carrying the id."""
    if isinstance(value, dict):
        return [{"id": k, **v} if isinstance(v, dict) else v for k, v in value.items()]
    return value


class ModuleLessonsReply(Reply):
    """The words of one module's lessons."""

    lessons: Annotated[list[WrittenLesson], BeforeValidator(_keyed_lessons), Field(min_length=1)]


R = TypeVar("R", bound=Reply)


# --- schemas --------------------------------------------------------------------------------------


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A strict-mode object: every property required, nothing else allowed."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _array(items: dict[str, Any], low: int, high: int) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": low, "maxItems": high}


def _strings(low: int, high: int, enum: Sequence[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "string"}
    if enum is not None:
        item["enum"] = list(enum)
    return _array(item, low, high)


def _claims(objectives: Sequence[str], most: int) -> dict[str, Any]:
    return _strings(0, min(most, len(objectives)), objectives) if objectives else _strings(0, 0)


_STRING = {"type": "string"}
_ASSESSMENT = _object({"title": _STRING, "kind": _STRING, "description": _STRING})


def design_lesson_schema(objectives: Sequence[str], claims: int) -> dict[str, Any]:
    return _object({"title": _STRING, "kind": {"type": "string", "enum": list(LESSON_KINDS)},
                    "objectives": _claims(objectives, claims), "minutes": {"type": "integer"}})


def course_outline_schema(objectives: Sequence[str], modules: tuple[int, int], lessons: int, claims: int
                          ) -> dict[str, Any]:
    """A whole course: ``modules`` (fewest, most) modules of at most ``lessons`` lessons each."""
    module = _object({
        "title": _STRING, "summary": _STRING, "objectives": _strings(*MODULE_OBJECTIVES), "assessment": _ASSESSMENT,
        "lessons": _array(design_lesson_schema(objectives, claims), 1, lessons),
    })
    return _object({"modules": _array(module, *modules)})


def module_list_schema(objectives: Sequence[str], modules: tuple[int, int]) -> dict[str, Any]:
    module = _object({
        "title": _STRING, "summary": _STRING, "objectives": _strings(*MODULE_OBJECTIVES),
        "teaches": _claims(objectives, len(objectives)), "lessons": {"type": "integer"}, "assessment": _ASSESSMENT,
    })
    return _object({"modules": _array(module, *modules)})


def module_outline_schema(objectives: Sequence[str], count: int, claims: int) -> dict[str, Any]:
    """Exactly ``count`` lessons of one module."""
    return _object({"lessons": _array(design_lesson_schema(objectives, claims), count, count)})


def module_lessons_schema(lesson_ids: Sequence[str]) -> dict[str, Any]:
    """The words of exactly these lessons, each naming its id."""
    lesson = _object({"id": {"type": "string", "enum": list(lesson_ids)}, "summary": _STRING,
                      "activities": _strings(*ACTIVITIES)})
    return _object({"lessons": _array(lesson, len(lesson_ids), len(lesson_ids))})


# --- lenient reading ------------------------------------------------------------------------------

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)


def _texts(content: str) -> list[str]:
    return [content, *(m.group(1) for m in _FENCE.finditer(content))]


def _whole(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _repaired(text: str) -> dict[str, Any] | None:
    """What ``json_repair`` makes of the text from its first brace (trailing commas, missing quotes...)."""
    start = text.find("{")
    if start < 0:
        return None
    value = json_repair.loads(text[start:])
    return value if isinstance(value, dict) and value else None


def _embedded(text: str) -> dict[str, Any] | None:
    """Prose around the JSON: the first ``{...}`` that parses as it is."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _json_objects(content: str) -> list[dict[str, Any]]:
    """Readings of ``content``, most faithful first: the whole text or a fenced block as JSON, then the
    JSON embedded in prose, then what the lenient parser makes of it."""
    found: list[dict[str, Any]] = []
    for reader in (_whole, _embedded, _repaired):
        for text in _texts(content):
            value = reader(text)
            if value is not None and value not in found:
                found.append(value)
    return found


def _candidates(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The object itself, then (when it is one key around an object) what it wraps."""
    if len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict):
            return [data, inner]
    return [data]


def _problems(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'reply'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)[:5]
    ]
    return "reply does not match the schema (" + "; ".join(problems) + ")"


def parse_reply(content: str | None, schema: type[R]) -> R:
    """The reply as ``schema``; ``Malformed`` naming the first problem when no reading fits."""
    if not content or not content.strip():
        raise Malformed("empty reply")
    objects = _json_objects(content.strip())
    if not objects:
        raise Malformed("invalid JSON: no JSON object in the reply")
    first: ValidationError | None = None
    for data in objects:
        for candidate in _candidates(data):
            try:
                return schema.model_validate(candidate)
            except ValidationError as exc:
                first = first or exc
    assert first is not None
    raise Malformed(_problems(first))
