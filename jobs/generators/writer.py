"""The writing step: one call per module, every prompt opening with the same text.

Each call sends the writing instructions and the whole checked outline (identical for every call
of a course, so providers' prompt caches apply), then the module's lesson briefs. The reply is read
by lesson id, so lessons in any order land in the right place. A lesson whose text is a
placeholder, an echo of the reply shape, a repeat of another lesson's text or in the wrong
language is asked again once (only those lessons); what stays unusable becomes template text
(``fallback``, ``source: template``) with a warning. A module whose reply stays malformed falls
back as a whole. Once more than ``MAX_FALLBACK_SHARE`` of the course has fallen back, the job
stops asking and fails: the course cannot be delivered anyway.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from jobs.design import normal
from jobs.errors import PermanentJobError
from jobs.generators.asking import Asker, Question, StillMalformed
from jobs.generators.briefs import ModuleWords, module_briefs
from jobs.generators.chat import ReplyTruncated
from jobs.generators.prompts import SHAPE_HINTS, WRITING_SYSTEM, module_task
from jobs.generators.replies import ModuleLessonsReply, WrittenLesson, module_lessons_schema
from jobs.generators.templates import template_lesson
from jobs.generators.text_check import placeholder, wrong_language
from jobs.models import CurriculumRequest
from jobs.planner import LessonContent, Plan

logger = logging.getLogger(__name__)

#: Share of lessons that may fall back to template text before the course is not worth delivering.
MAX_FALLBACK_SHARE = 0.25
#: Generous size of one written lesson in tokens (summary and activities), for the reply's budget.
TOKENS_PER_WRITTEN_LESSON = 260
#: Why a lesson has no text when its module's reply stayed malformed (not asked again: it was, already).
MALFORMED = "the reply stayed malformed"


@dataclass
class _Tally:
    """Shared by a course's module writers: fallbacks so far, and every accepted summary."""

    total: int
    fallbacks: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.summaries: set[str] = set()


class CourseWriter:
    """Writes the modules of one planned course (thread-safe: modules are written in parallel)."""

    def __init__(self, asker: Asker, request: CurriculumRequest, the_plan: Plan, words: list[ModuleWords],
                 outline: str) -> None:
        self._asker = asker
        self._request = request
        self._plan = the_plan
        self._words = words
        self._prefix = [{"role": "system", "content": WRITING_SYSTEM}, {"role": "user", "content": outline}]
        self._tally = _Tally(total=len(the_plan.lessons))
        self._titles = {ls.id: ls.title or "" for ls in the_plan.lessons}

    @property
    def shared_prefix(self) -> str:
        """What every writing prompt of the course begins with."""
        return "".join(m["content"] for m in self._prefix)

    @property
    def fallbacks(self) -> int:
        return self._tally.fallbacks

    def write(self, index: int) -> dict[str, LessonContent]:
        """Lesson id -> its words, for module ``index`` (template text where the model's stayed unusable)."""
        briefs = module_briefs(self._plan, self._words, index)
        written = self._round(index, briefs, "")
        bad = {b["id"]: why for b in briefs if isinstance(why := written.get(b["id"]), str) and why != MALFORMED}
        if bad:
            note = "Earlier text for these lessons was unusable (" + "; ".join(
                f"{i}: {why}" for i, why in bad.items()) + "). Write each again, in the course's language, " \
                "with its own text."
            again = self._round(index, [b for b in briefs if b["id"] in bad], note)
            written.update({i: text for i, text in again.items() if i in bad})
        return {b["id"]: self._content(b, written.get(b["id"])) for b in briefs}

    def _content(self, brief: dict[str, Any], text: WrittenLesson | str | None) -> LessonContent:
        if isinstance(text, WrittenLesson):
            return LessonContent(brief["title"], text.summary, tuple(text.activities), source="model")
        slot = next(ls for ls in self._plan.lessons if ls.id == brief["id"])
        self._fall_back(1, f"lesson {slot.id}: {text or 'no usable reply'}")
        return template_lesson(slot)

    def _round(self, index: int, briefs: list[dict[str, Any]], note: str) -> dict[str, WrittenLesson | str]:
        """One call (with its malformed re-asks): good lessons by id, and why the others are not."""
        self._check_hopeless()
        ids = [b["id"] for b in briefs]
        task = module_task(index + 1, briefs, self._request.language, note)
        question = Question([*self._prefix, {"role": "user", "content": task}], "module_lessons",
                            module_lessons_schema(ids), f"module {index + 1}",
                            TOKENS_PER_WRITTEN_LESSON * len(ids))
        try:
            reply = self._asker.ask(question, ModuleLessonsReply)
        except (StillMalformed, ReplyTruncated) as exc:
            logger.warning("module %s falls back to template text: %s", index + 1, exc,
                           extra={"event": "llm.lesson_fallback", "lessons": len(ids)})
            return {i: MALFORMED for i in ids}
        return self._judge(reply, ids)

    def _align(self, reply: ModuleLessonsReply, ids: list[str]) -> dict[str, WrittenLesson]:
        """Reply lessons by lesson id: by the id they name, else by their title, else (when none names a
        known id and the count is right) by position."""
        by_id: dict[str, WrittenLesson] = {}
        titles = {normal(self._titles.get(i, "")): i for i in ids}
        for written in reply.lessons:
            key = written.id if written.id in ids else titles.get(normal(written.title), "")
            if key and key not in by_id:
                by_id[key] = written
        if not by_id and len(reply.lessons) == len(ids):
            by_id = dict(zip(ids, reply.lessons, strict=True))
        return by_id

    def _judge(self, reply: ModuleLessonsReply, ids: list[str]) -> dict[str, WrittenLesson | str]:
        by_id = self._align(reply, ids)
        keys = [normal(written.summary) for written in by_id.values()]
        out: dict[str, WrittenLesson | str] = {}
        with self._tally.lock:
            for lesson_id in ids:
                lesson = by_id.get(lesson_id)
                if lesson is None:
                    out[lesson_id] = "missing from the reply"
                else:
                    out[lesson_id] = self._problem(lesson, keys) or lesson
            for text in out.values():
                if isinstance(text, WrittenLesson):
                    self._tally.summaries.add(normal(text.summary))
        return out

    def _problem(self, lesson: WrittenLesson, keys: list[str]) -> str | None:
        key = normal(lesson.summary)
        if placeholder(lesson.summary, SHAPE_HINTS) or any(placeholder(a, SHAPE_HINTS) for a in lesson.activities):
            return "placeholder text (the reply shape was echoed)"
        if keys.count(key) > 1 or key in self._tally.summaries:
            return "the same text as another lesson"
        names = (self._request.topic, self._titles.get(lesson.id, ""))
        if wrong_language(" ".join([lesson.summary, *lesson.activities]), self._request.language, names):
            return f"not in the course's language ({self._request.language})"
        return None

    def _fall_back(self, count: int, why: str) -> None:
        with self._tally.lock:
            self._tally.fallbacks += count
        logger.warning("%s falls back to template text", why.split(":")[0],
                       extra={"event": "llm.lesson_fallback", "lessons": count})

    def _check_hopeless(self) -> None:
        """Stop asking once more than the allowed share has fallen back: no reply can save the course."""
        t = self._tally
        if t.fallbacks > t.total * MAX_FALLBACK_SHARE:
            raise PermanentJobError(
                f"{t.fallbacks} of {t.total} lessons stayed unusable after their re-asks "
                f"(more than {MAX_FALLBACK_SHARE:.0%}); the course is not delivered"
            )

    def check_share(self) -> None:
        """Fail the course when, all modules written, too many lessons fell back."""
        self._check_hopeless()
