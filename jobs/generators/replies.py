"""The replies we ask a model for: their strict JSON Schemas, and a tolerant way to read them.

A schema here is the whole contract of a reply: a provider that enforces it (``strict: true``)
cannot send anything we would refuse. Fixed counts are ``minItems == maxItems``; objectives a
lesson may claim are an ``enum`` of the requested ones, so they come back verbatim. Providers
that ignore the schema still get read kindly: a reply in a markdown fence, with prose around the
JSON, or wrapped in a single key (``{"lesson": {...}}``) is accepted when its JSON is right.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

_Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=3000)]
_ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]

MODULE_OBJECTIVES = (1, 8)
ACTIVITIES = (2, 6)


def _drop_blank(value: object) -> object:
    """Models sometimes pad lists with empty strings; drop those instead of re-asking."""
    if isinstance(value, list):
        return [item for item in value if not (isinstance(item, str) and not item.strip())]
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


class OutlineLessonReply(Reply):
    title: _Title
    objectives: Annotated[list[str], BeforeValidator(_drop_blank)] = Field(default_factory=list)


class ModuleReply(Reply):
    title: _Title
    summary: _Text
    objectives: Annotated[_Items, Field(min_length=1, max_length=24)]
    lessons: Annotated[list[OutlineLessonReply], Field(min_length=1)]
    assessment: AssessmentReply


def _modules_in_order(value: object) -> object:
    """``{"m1": {...}, "m2": {...}}`` (what the schema asks for) or a plain list: a list in order."""
    if isinstance(value, dict):
        return list(value.values())
    return value


class OutlineReply(Reply):
    modules: Annotated[list[ModuleReply], BeforeValidator(_modules_in_order), Field(min_length=1)]


class LessonReply(Reply):
    summary: _Text
    activities: Annotated[_Items, Field(min_length=1, max_length=12)]


R = TypeVar("R", bound=Reply)


# --- schemas --------------------------------------------------------------------------------------


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A strict-mode object: every property required, nothing else allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _strings(low: int, high: int, enum: Sequence[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "string"}
    if enum is not None:
        item["enum"] = list(enum)
    return {"type": "array", "items": item, "minItems": low, "maxItems": high}


def _objectives_field(objectives: Sequence[str]) -> dict[str, Any]:
    if not objectives:
        return _strings(0, 0)
    return _strings(0, len(objectives), objectives)


def outline_schema(module_ids: Sequence[str], lesson_counts: Sequence[int], objectives: Sequence[str]
                   ) -> dict[str, Any]:
    """The outline: one property per module (in order), each with exactly its number of lessons."""
    lesson = _object({"title": {"type": "string"}, "objectives": _objectives_field(objectives)})
    assessment = _object(
        {"title": {"type": "string"}, "kind": {"type": "string"}, "description": {"type": "string"}}
    )

    def module(count: int) -> dict[str, Any]:
        return _object(
            {
                "title": {"type": "string"},
                "summary": {"type": "string"},
                "objectives": _strings(*MODULE_OBJECTIVES),
                "lessons": {"type": "array", "items": lesson, "minItems": count, "maxItems": count},
                "assessment": assessment,
            }
        )

    modules = {mid: module(count) for mid, count in zip(module_ids, lesson_counts, strict=True)}
    return _object({"modules": _object(modules)})


def lesson_schema() -> dict[str, Any]:
    """One lesson's content: a summary and a few concrete activities."""
    return _object({"summary": {"type": "string"}, "activities": _strings(*ACTIVITIES)})


# --- tolerant reading -----------------------------------------------------------------------------

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)


def _json_objects(content: str) -> list[dict[str, Any]]:
    """JSON objects found in ``content``: the whole text, fenced blocks, then the first ``{...}``."""
    texts = [content, *(m.group(1) for m in _FENCE.finditer(content))]
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    for text in texts:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            found.append(value)
            continue
        for match in re.finditer(r"\{", text):  # prose around the JSON: the first object that parses
            try:
                value, _ = decoder.raw_decode(text, match.start())
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
                break
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
        raise Malformed("invalid JSON: no complete JSON object in the reply")
    first: ValidationError | None = None
    for data in objects:
        for candidate in _candidates(data):
            try:
                return schema.model_validate(candidate)
            except ValidationError as exc:
                first = first or exc
    assert first is not None
    raise Malformed(_problems(first))
