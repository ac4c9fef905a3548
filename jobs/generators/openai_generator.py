"""The openai generator: an outline call, then one call per lesson in parallel.

The model only writes words. Module/lesson counts, minutes and the schedule come from
``jobs.planner.plan``; the outline's JSON Schema fixes the exact shape, and a reply of another
shape counts as malformed. Malformed replies are re-asked (with the problem named) up to
``max_malformed_retries`` times. Transport concerns (structured-output fallbacks, per-call retries,
truncation, refusals) live in ``jobs.generators.chat``.

The plan decides which requested objectives each lesson teaches; the outline must list them per
lesson (verbatim: the schema makes them an enum) and each lesson's summary must name them. A lesson
whose reply stays malformed, truncated or silent about its objectives after its re-asks does not
throw the course away: its text comes from the offline generator for the same plan slot (which
names them), flagged ``fallback`` with a warning. Only when more than a quarter of the lessons
needed that does the job fail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from jobs.cache import Cache, llm_key
from jobs.errors import PermanentJobError
from jobs.generators import GeneratorConfig, ProgressFn, guarded_progress
from jobs.generators.chat import ChatClient, ReplyTruncated
from jobs.generators.outline_check import Outline, check_outline, untaught
from jobs.generators.prompts import (
    SYSTEM,
    LessonBrief,
    coverable,
    lesson_task,
    module_id,
    neighbours,
    outline_task,
    step,
)
from jobs.generators.replies import (
    LessonReply,
    Malformed,
    OutlineReply,
    R,
    lesson_schema,
    outline_schema,
    parse_reply,
)
from jobs.models import Assessment, Curriculum, CurriculumRequest, GeneratorInfo, Lesson
from jobs.planner import LessonContent, ModuleContent, Plan, assemble, plan

logger = logging.getLogger(__name__)

#: Share of lessons that may fall back to template text before the course is not worth delivering.
MAX_FALLBACK_SHARE = 0.25
#: Generous sizes of an outline's parts in tokens: a long course's outline starts with a budget
#: that fits instead of being cut off at ``max_tokens`` and asked again.
OUTLINE_TOKENS_PER_MODULE = 200
OUTLINE_TOKENS_PER_LESSON = 60


class StillMalformed(PermanentJobError):
    """A reply stayed malformed after every re-ask."""


@dataclass(frozen=True)
class _Question:
    prompt: str
    name: str  # the json_schema name: contains "outline" or "lesson"
    schema: dict[str, Any]
    what: str  # for messages: "the outline", "lesson m1-l2"
    expect_tokens: int = 0  # a size estimate for long replies (the outline of a long course)


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
        with ChatClient(self._config, self._cache) as chat:
            report("outline", 0, 1)
            outline = self._outline(chat, request, the_plan)
            report("outline", 1, 1)
            details = self._lessons(chat, request, the_plan, outline, report)
        fallbacks = [lesson_id for lesson_id, reply in details.items() if reply is None]
        self._check_fallback_share(len(fallbacks), len(details))
        filler = _offline_lessons(request) if fallbacks else {}
        contents = _contents(the_plan, outline, details, filler)
        notes = _fallback_notes(request) if fallbacks else []
        return assemble(request, the_plan, contents, GeneratorInfo(name=self.name, model=self.model), notes)

    def _check_fallback_share(self, fallbacks: int, total: int) -> None:
        if fallbacks > total * MAX_FALLBACK_SHARE:
            raise PermanentJobError(
                f"{fallbacks} of {total} lessons stayed malformed after their re-asks "
                f"(more than {MAX_FALLBACK_SHARE:.0%}); the course is not delivered"
            )
        if fallbacks:
            logger.warning(
                "%s of %s lessons use template text after malformed model replies",
                fallbacks,
                total,
                extra={"event": "llm.lesson_fallback", "model": self.model, "lessons": fallbacks},
            )

    # --- stages ---

    def _outline(self, chat: ChatClient, request: CurriculumRequest, the_plan: Plan) -> Outline:
        shape = [len(module.lessons) for module in the_plan.modules]
        ids = [module_id(module.index) for module in the_plan.modules]
        expected = [ls.objectives for ls in the_plan.lessons]
        question = _Question(
            outline_task(request, the_plan),
            "curriculum_outline",
            outline_schema(ids, shape, coverable(the_plan)),
            "the outline",
            OUTLINE_TOKENS_PER_MODULE * len(shape) + OUTLINE_TOKENS_PER_LESSON * sum(shape),
        )
        checked: list[Outline] = []

        def check(reply: OutlineReply, final: bool) -> None:
            checked.append(check_outline(reply, shape, expected, final))

        self._ask(chat, question, OutlineReply, check)
        return checked[-1]

    def _briefs(self, the_plan: Plan, outline: Outline) -> list[LessonBrief]:
        briefs = []
        for slot, module_reply in zip(the_plan.modules, outline.reply.modules, strict=True):
            for ls in slot.lessons:
                before, after = neighbours(outline.titles, ls.course_position)
                briefs.append(
                    LessonBrief(
                        lesson_id=ls.id,
                        title=outline.titles[ls.course_position],
                        kind=ls.kind,
                        project_step=step(ls),
                        minutes=ls.minutes,
                        must_teach=ls.objectives,
                        module_title=module_reply.title,
                        module_summary=module_reply.summary,
                        module_objectives=tuple(module_reply.objectives),
                        module_teaches=slot.objectives,
                        previous_title=before,
                        next_title=after,
                    )
                )
        return briefs

    def _lessons(
        self, chat: ChatClient, request: CurriculumRequest, the_plan: Plan, outline: Outline, report: ProgressFn
    ) -> dict[str, LessonReply | None]:
        """Lesson id -> its reply, or ``None`` when it stayed malformed (fill it from the template)."""
        briefs = self._briefs(the_plan, outline)
        results: dict[str, LessonReply | None] = {}
        total = len(briefs)
        report("lessons", 0, total)
        executor = ThreadPoolExecutor(
            max_workers=min(self._config.concurrency, total), thread_name_prefix="curriculum-llm"
        )
        try:
            futures: dict[Future[LessonReply | None], str] = {
                executor.submit(self._lesson, chat, request, brief): brief.lesson_id for brief in briefs
            }
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()  # first failure re-raised; finally cancels the rest
                report("lessons", done, total)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return {brief.lesson_id: results[brief.lesson_id] for brief in briefs}

    def _lesson(self, chat: ChatClient, request: CurriculumRequest, brief: LessonBrief) -> LessonReply | None:
        what = f"lesson {brief.lesson_id}"
        question = _Question(lesson_task(request, brief), "curriculum_lesson", lesson_schema(), what)

        def check(reply: LessonReply, final: bool) -> None:
            missing = untaught(brief.must_teach, brief.title, reply.summary)
            if missing:
                quoted = [brief.must_teach[i - 1] for i in missing]
                raise Malformed(
                    f"the summary does not name must_teach objective(s) #{', #'.join(map(str, missing))}",
                    "Quote verbatim in the summary: " + json.dumps(quoted, ensure_ascii=False),
                )

        try:
            return self._ask(chat, question, LessonReply, check)
        except (StillMalformed, ReplyTruncated) as exc:
            logger.warning(
                "%s falls back to template text: %s",
                what,
                exc,
                extra={"event": "llm.lesson_fallback", "model": self.model, "lesson_id": brief.lesson_id},
            )
            return None

    # --- one question, with cache and re-asks ---

    def _ask(
        self,
        chat: ChatClient,
        question: _Question,
        schema: type[R],
        check: Callable[[R, bool], None] | None = None,
    ) -> R:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question.prompt}]
        key = llm_key(messages, self.model, temperature=self._config.temperature, seed=self._config.seed)
        cached = self._cache.get_llm(key) if self._cache is not None else None
        if cached is not None:
            try:
                return _read(cached, schema, check, final=True)
            except Malformed:
                logger.info("ignoring an unusable cached model reply", extra={"event": "cache.bad_entry"})
        attempts = 1 + self._config.max_malformed_retries
        conversation = list(messages)
        problem = ""
        for attempt in range(1, attempts + 1):
            content = chat.ask(conversation, question.name, question.schema, question.what, question.expect_tokens)
            try:
                reply = _read(content, schema, check, final=attempt == attempts)
            except Malformed as exc:
                problem = str(exc)
                logger.warning(
                    "malformed model reply for %s (attempt %s of %s): %s",
                    question.what,
                    attempt,
                    attempts,
                    problem,
                    extra={"event": "llm.malformed", "model": self.model},
                )
                conversation = [*messages, {"role": "assistant", "content": content}, _reask(exc)]
                continue
            if self._cache is not None:
                self._cache.put_llm(key, content)
            return reply
        raise StillMalformed(
            f"model reply for {question.what} was malformed after {attempts} attempt(s): {problem}"
        )


def _contents(
    the_plan: Plan, outline: Outline, details: dict[str, LessonReply | None], filler: dict[str, Lesson]
) -> list[ModuleContent]:
    """The outline's and the lessons' words per plan slot; template text (flagged) where a reply failed."""
    contents = []
    titles = iter(outline.titles)
    for slot, module_reply in zip(the_plan.modules, outline.reply.modules, strict=True):
        lessons = []
        for ls in slot.lessons:
            detail, title = details[ls.id], next(titles)
            if detail is None:
                text = filler[ls.id]
                lessons.append(LessonContent(title, text.summary, tuple(text.activities), fallback=True))
            else:
                lessons.append(LessonContent(title, detail.summary, tuple(detail.activities)))
        a = module_reply.assessment
        contents.append(
            ModuleContent(
                title=module_reply.title,
                summary=module_reply.summary,
                objectives=tuple(module_reply.objectives),
                assessment=Assessment(title=a.title, kind=a.kind, description=a.description),
                lessons=tuple(lessons),
            )
        )
    return contents


def _read(content: str, schema: type[R], check: Callable[[R, bool], None] | None, final: bool) -> R:
    reply = parse_reply(content, schema)
    if check is not None:
        check(reply, final)
    return reply


def _reask(exc: Malformed) -> dict[str, str]:
    hint = f" {exc.hint}" if exc.hint else ""
    return {
        "role": "user",
        "content": f"That reply was invalid: {exc}.{hint} Reply again with one JSON object that follows "
        "reply_shape exactly.",
    }


def _fallback_notes(request: CurriculumRequest) -> list[str]:
    """Said once when template text stands in for model replies (``assemble`` counts the lessons)."""
    if request.language.split("-")[0].lower() == "en":
        return []
    return [f"template text for lessons marked fallback is in English, not {request.language}"]


def _offline_lessons(request: CurriculumRequest) -> dict[str, Lesson]:
    """The offline generator's lessons for the same plan, by id: template text for fallbacks."""
    from jobs.generators.offline import OfflineGenerator

    offline = OfflineGenerator().generate(request, lambda *_: None)
    return {lesson.id: lesson for module in offline.modules for lesson in module.lessons}
