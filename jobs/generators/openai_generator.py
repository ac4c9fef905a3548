"""The openai generator: an outline call, then one call per lesson in parallel.

The model only writes words. Module/lesson counts, minutes and the schedule come from
``jobs.planner.plan``; the outline prompt tells the model the exact shape, and a reply of another
shape counts as malformed. Malformed replies are re-asked (with the problem named) up to
``max_malformed_retries`` times. SDK retries are off: the job layer retries ``TransientJobError``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Annotated, Any, TypeVar, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from jobs import llm_gate
from jobs.cache import Cache, llm_key
from jobs.context import model_call
from jobs.generators import GeneratorConfig, ProgressFn, guarded_progress
from jobs.models import Assessment, Curriculum, CurriculumRequest, GeneratorInfo
from jobs.planner import LessonContent, ModuleContent, Plan, assemble, plan
from worker.errors import PermanentJobError, TransientJobError

logger = logging.getLogger(__name__)

_Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=3000)]
_ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]


def _drop_blank(value: object) -> object:
    """Models sometimes pad lists with empty strings; drop those instead of re-asking."""
    if isinstance(value, list):
        return [item for item in value if not (isinstance(item, str) and not item.strip())]
    return value


_Items = Annotated[list[_ItemText], BeforeValidator(_drop_blank)]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _AssessmentReply(_Reply):
    title: _Title
    kind: _Title
    description: _Text


class _ModuleReply(_Reply):
    title: _Title
    summary: _Text
    objectives: Annotated[_Items, Field(min_length=1, max_length=24)]
    lessons: Annotated[list[_Title], Field(min_length=1)]
    assessment: _AssessmentReply


class OutlineReply(_Reply):
    modules: Annotated[list[_ModuleReply], Field(min_length=1)]


class LessonReply(_Reply):
    summary: _Text
    activities: Annotated[_Items, Field(min_length=1, max_length=12)]


_OUTLINE_SCHEMA = {
    "modules": [
        {
            "title": "string",
            "summary": "string (1-3 sentences)",
            "objectives": ["string (what a learner can do after the module)"],
            "lessons": ["lesson title (exactly the number of lessons asked for this module)"],
            "assessment": {"title": "string", "kind": "string (e.g. quiz, project)", "description": "string"},
        }
    ]
}
_LESSON_SCHEMA = {"summary": "string (2-4 sentences)", "activities": ["string (a concrete learner activity)"]}

_SYSTEM = (
    "You are an expert instructional designer. You reply with exactly one JSON object and nothing "
    "else, following the task's reply_schema. Order content so foundations come before what depends "
    "on them. Write all text in the language given by the task's language tag."
)

R = TypeVar("R", bound=_Reply)
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_SAFE_CODE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


class _Malformed(Exception):
    """A reply that is not the JSON we asked for; the message names the problem, not the content."""


def _dump(task: dict[str, Any]) -> str:
    return json.dumps(task, ensure_ascii=False, indent=1)


def _parse(content: str | None, schema: type[R]) -> R:
    if not content:
        raise _Malformed("empty reply")
    try:
        data = json.loads(content)
    except ValueError as exc:
        detail = (
            f"{exc.msg} at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise _Malformed(f"invalid JSON ({detail})") from None
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'reply'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)[:5]
        ]
        raise _Malformed("reply does not match the schema (" + "; ".join(problems) + ")") from None


def _error_code(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
    code = body.get("code") or body.get("type") if isinstance(body, dict) else None
    if isinstance(code, str) and 0 < len(code) <= 64 and set(code.lower()) <= _SAFE_CODE_CHARS:
        return code
    return ""


def map_status_error(exc: openai.APIStatusError) -> TransientJobError | PermanentJobError:
    """Our own message for an HTTP error from the model API: status, error code, no request details."""
    status = exc.status_code
    code = _error_code(exc)
    suffix = f", code {code}" if code else ""
    if code == "insufficient_quota":
        return PermanentJobError(f"model API quota exhausted (HTTP {status}{suffix})")
    if status in _RETRYABLE_STATUS or status >= 500:
        kind = "rate limited" if status == 429 else "temporarily failed"
        return TransientJobError(f"model API {kind} (HTTP {status}{suffix})")
    if status in (401, 403):
        return PermanentJobError(
            f"model API refused our credentials (HTTP {status}{suffix}); check the API key"
        )
    return PermanentJobError(f"model API rejected the request (HTTP {status}{suffix})")


class OpenAIGenerator:
    """Generates curricula with any OpenAI-compatible chat-completions endpoint."""

    name = "openai"

    def __init__(self, config: GeneratorConfig, cache: Cache | None = None) -> None:
        self._config = config
        self._cache = cache
        self.model = config.model

    def generate(self, request: CurriculumRequest, progress: ProgressFn) -> Curriculum:
        report = guarded_progress(progress)
        the_plan = plan(request)
        client = openai.OpenAI(
            api_key=self._config.api_key,
            base_url=self._config.base_url,
            timeout=self._config.request_timeout_s,
            max_retries=0,
        )
        with client:
            report("outline", 0, 1)
            outline = self._outline(client, request, the_plan)
            report("outline", 1, 1)
            details = self._lessons(client, request, the_plan, outline, report)
        contents = []
        for module_reply, module_details in zip(outline.modules, details, strict=True):
            assessment = module_reply.assessment
            contents.append(
                ModuleContent(
                    title=module_reply.title,
                    summary=module_reply.summary,
                    objectives=tuple(module_reply.objectives),
                    assessment=Assessment(
                        title=assessment.title, kind=assessment.kind, description=assessment.description
                    ),
                    lessons=tuple(
                        LessonContent(
                            title=title, summary=detail.summary, activities=tuple(detail.activities)
                        )
                        for title, detail in zip(module_reply.lessons, module_details, strict=True)
                    ),
                )
            )
        return assemble(request, the_plan, contents, GeneratorInfo(name=self.name, model=self.model))

    # --- stages ---

    def _outline(self, client: openai.OpenAI, request: CurriculumRequest, the_plan: Plan) -> OutlineReply:
        objectives = list(the_plan.objectives)  # blank and repeated objectives dropped
        task = {
            "task": "outline",
            "instructions": (
                "Design the modules of a curriculum. Return exactly len(modules) modules, in the given "
                "order, each with exactly the given number of lesson titles. Respect each module's phase "
                "(foundation -> teaching -> capstone). Cover every requested objective; "
                "objectives_to_cover suggests where. A final module of phase capstone is a capstone project."
            ),
            "topic": request.topic,
            "level": request.level,
            "language": request.language,
            "duration_weeks": request.duration_weeks,
            "hours_per_week": request.hours_per_week,
            "objectives": objectives,
            "modules": [
                {
                    "phase": module.kind,
                    "lessons": len(module.lessons),
                    "objectives_to_cover": list(module.objectives),
                }
                for module in the_plan.modules
            ],
            "reply_schema": _OUTLINE_SCHEMA,
        }
        shape = [len(module.lessons) for module in the_plan.modules]

        def check(reply: OutlineReply) -> None:
            got = [len(module.lessons) for module in reply.modules]
            if len(got) != len(shape):
                raise _Malformed(f"outline has {len(got)} modules, expected {len(shape)}")
            if got != shape:
                raise _Malformed(f"lesson counts per module are {got}, expected {shape}")

        return self._ask(client, _dump(task), OutlineReply, "the outline", check)

    def _lessons(
        self,
        client: openai.OpenAI,
        request: CurriculumRequest,
        the_plan: Plan,
        outline: OutlineReply,
        report: ProgressFn,
    ) -> list[list[LessonReply]]:
        jobs: list[tuple[int, int, str]] = []
        for slot, module_reply in zip(the_plan.modules, outline.modules, strict=True):
            for lesson_slot, title in zip(slot.lessons, module_reply.lessons, strict=True):
                task = {
                    "task": "lesson",
                    "instructions": "Write the summary and concrete learner activities for this lesson, "
                    "sized for the given minutes and level.",
                    "topic": request.topic,
                    "level": request.level,
                    "language": request.language,
                    "module_title": module_reply.title,
                    "module_summary": module_reply.summary,
                    "lesson_title": title,
                    "lesson_id": lesson_slot.id,
                    "minutes": lesson_slot.minutes,
                    "reply_schema": _LESSON_SCHEMA,
                }
                jobs.append((slot.index, lesson_slot.position, _dump(task)))
        results: list[list[LessonReply | None]] = [[None] * len(m.lessons) for m in the_plan.modules]
        total = len(jobs)
        report("lessons", 0, total)
        workers = min(self._config.concurrency, total)
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="curriculum-llm")
        try:
            futures: dict[Future[LessonReply], tuple[int, int]] = {
                executor.submit(self._ask, client, prompt, LessonReply, f"lesson m{m + 1}-l{p + 1}"): (m, p)
                for m, p, prompt in jobs
            }
            for done, future in enumerate(as_completed(futures), start=1):
                m, p = futures[future]
                results[m][p] = future.result()  # re-raises the first failure; finally cancels the rest
                report("lessons", done, total)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return [[r for r in module if r is not None] for module in results]

    # --- one question, with cache and re-asks ---

    def _ask(
        self,
        client: openai.OpenAI,
        prompt: str,
        schema: type[R],
        what: str,
        check: Callable[[R], None] | None = None,
    ) -> R:
        messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}]
        key = llm_key(messages, self.model, response_format="json_object")
        cached = self._cache.get_llm(key) if self._cache is not None else None
        if cached is not None:
            try:
                reply = _parse(cached, schema)
                if check is not None:
                    check(reply)
                return reply
            except _Malformed:
                logger.info("ignoring an unusable cached model reply", extra={"event": "cache.bad_entry"})
        attempts = 1 + self._config.max_malformed_retries
        conversation: list[dict[str, str]] = list(messages)
        problem = ""
        for attempt in range(1, attempts + 1):
            content = self._complete(client, conversation)
            try:
                reply = _parse(content, schema)
                if check is not None:
                    check(reply)
            except _Malformed as exc:
                problem = str(exc)
                logger.warning(
                    "malformed model reply for %s (attempt %s of %s): %s",
                    what,
                    attempt,
                    attempts,
                    problem,
                    extra={"event": "llm.malformed", "model": self.model},
                )
                conversation = [
                    *messages,
                    {"role": "assistant", "content": content or ""},
                    {
                        "role": "user",
                        "content": f"That reply was invalid: {problem}. Reply again with one JSON object "
                        "that follows reply_schema exactly.",
                    },
                ]
                continue
            if self._cache is not None and content is not None:
                self._cache.put_llm(key, content)
            return reply
        raise PermanentJobError(
            f"model reply for {what} was malformed after {attempts} attempt(s): {problem}"
        )

    def _complete(self, client: openai.OpenAI, messages: Sequence[dict[str, str]]) -> str | None:
        try:
            # LLM_GLOBAL_CONCURRENCY (across processes and instances), then the call's own metrics.
            with llm_gate.current().slot(), model_call():
                response = client.chat.completions.create(
                    model=self.model,
                    messages=cast("list[ChatCompletionMessageParam]", list(messages)),
                    response_format={"type": "json_object"},
                )
        except openai.APIStatusError as exc:
            # from None: the SDK's message holds the response body, which may echo request details.
            raise map_status_error(exc) from None
        except openai.APITimeoutError as exc:
            raise TransientJobError(f"model API timed out after {self._config.request_timeout_s} s") from exc
        except openai.APIConnectionError as exc:
            raise TransientJobError("could not connect to the model API") from exc
        except openai.OpenAIError as exc:
            raise PermanentJobError(f"model API call failed ({type(exc).__name__})") from None
        if not response.choices:
            return None
        content: str | None = response.choices[0].message.content
        return content
