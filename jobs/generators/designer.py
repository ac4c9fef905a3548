"""The design step: the model designs the course inside ``jobs.design.Limits``.

A short course is designed in one call (``course_outline``). A long one is designed in two steps
so no reply meets an output limit: the module list with each module's size
(``course_outline_modules``), then every module's lessons in parallel (``module_outline``, with a
fixed count). Duplicate titles and uncovered objectives are re-asked once (``Soft``); the planner
(``jobs.fitting``) repairs or reports whatever stays wrong.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jobs.design import (
    MAX_CLAIMS,
    MAX_MODULE_LESSONS,
    Design,
    DesignedAssessment,
    DesignedLesson,
    DesignedModule,
    Limits,
    design_problems,
    normal,
)
from jobs.generators import ProgressFn
from jobs.generators.asking import Asker, Question, Soft
from jobs.generators.prompts import DESIGN_SYSTEM, design_task, module_design_task, module_list_task
from jobs.generators.replies import (
    CourseOutlineReply,
    DesignLessonReply,
    DesignModuleReply,
    Malformed,
    ModuleListReply,
    ModuleOutlineReply,
    ModulePlanReply,
    course_outline_schema,
    module_list_schema,
    module_outline_schema,
)
from jobs.models import CurriculumRequest
from jobs.proportions import split

#: Generous token sizes of design replies, so they start with a budget that fits.
TOKENS_PER_MODULE = 250
TOKENS_PER_LESSON = 70


def _messages(task: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": DESIGN_SYSTEM}, {"role": "user", "content": task}]


def _lesson(reply: DesignLessonReply) -> DesignedLesson:
    return DesignedLesson(reply.title, reply.kind, tuple(reply.objectives), reply.minutes)


def _assessment(reply: DesignModuleReply | ModulePlanReply) -> DesignedAssessment:
    a = reply.assessment
    return DesignedAssessment(a.title, a.kind, a.description)


def _one_call(asker: Asker, request: CurriculumRequest, limits: Limits) -> Design:
    schema = course_outline_schema(limits.objectives, (1, limits.max_modules), MAX_MODULE_LESSONS - 1, MAX_CLAIMS)
    expected = TOKENS_PER_MODULE * 4 + TOKENS_PER_LESSON * limits.suggested_lessons
    question = Question(_messages(design_task(request, limits)), "course_outline", schema, "the outline", expected)

    def to_design(reply: CourseOutlineReply) -> Design:
        return Design(tuple(
            DesignedModule(m.title, m.summary, tuple(m.objectives), _assessment(m),
                           tuple(_lesson(ls) for ls in m.lessons))
            for m in reply.modules))

    def check(reply: CourseOutlineReply, soft: bool) -> None:
        if not soft:
            return
        design = to_design(reply)
        problems, hint = design_problems(design, limits)
        count = len(design.lessons) + len(design.modules)
        if limits.clamp_lessons(count) != count:
            problems.append(f"the course has {count} lessons with its assessments")
            hint += f" The course needs {limits.min_lessons}-{limits.max_lessons} lessons in all."
        if problems:
            raise Soft("; ".join(problems), hint)

    return to_design(asker.ask(question, CourseOutlineReply, check))


def _sizes(modules: list[ModulePlanReply], limits: Limits) -> list[int]:
    """Each module's lesson count (with its assessment), scaled so the course fits the budget."""
    wanted = [max(2, m.lessons) for m in modules]
    total = min(limits.clamp_lessons(sum(wanted)), MAX_MODULE_LESSONS * len(modules))
    low = 2 if total < 5 * len(modules) else min(5, total // len(modules))
    return split(total, wanted, low, MAX_MODULE_LESSONS)


def _continued(modules: list[ModulePlanReply], limits: Limits) -> list[ModulePlanReply]:
    """Too few modules to hold the lessons the time needs (at most ``MAX_MODULE_LESSONS`` each): the
    largest is split in two, its second half "continued", until they fit."""
    modules = list(modules)
    total = limits.clamp_lessons(sum(m.lessons for m in modules))
    while total > MAX_MODULE_LESSONS * len(modules) and len(modules) < limits.max_modules:
        i = max(range(len(modules)), key=lambda k: modules[k].lessons)
        big = modules[i]
        first = big.model_copy(update={"lessons": max(2, (big.lessons + 1) // 2)})
        second = big.model_copy(update={"lessons": max(2, big.lessons // 2), "title": f"{big.title} (continued)"})
        modules[i:i + 1] = [first, second]
    return modules


def _merge_plans(modules: list[ModulePlanReply], most: int) -> list[ModulePlanReply]:
    """At most ``most`` modules: the smallest is folded into its neighbour (sizes and objectives add up)."""
    modules = list(modules)
    while len(modules) > max(1, most):
        i = min(range(len(modules)), key=lambda k: modules[k].lessons)
        j = i - 1 if i > 0 else 1
        keep, gone = modules[j], modules[i]
        modules[j] = keep.model_copy(update={"lessons": keep.lessons + gone.lessons,
                                             "teaches": [*keep.teaches, *gone.teaches]})
        del modules[i]
    return modules


def _module_list(asker: Asker, request: CurriculumRequest, limits: Limits) -> list[ModulePlanReply]:
    schema = module_list_schema(limits.objectives, (1, limits.max_modules))
    expected = TOKENS_PER_MODULE * limits.max_modules
    question = Question(_messages(module_list_task(request, limits)), "course_outline_modules", schema,
                        "the module list", expected)

    def check(reply: ModuleListReply, soft: bool) -> None:
        taught = {normal(o) for m in reply.modules for o in m.teaches}
        missing = [o for o in limits.objectives if normal(o) not in taught]
        if soft and missing:
            raise Soft(f"{len(missing)} requested objective(s) are taught by no module",
                       "Objectives no module teaches yet: " + "; ".join(missing))

    reply = asker.ask(question, ModuleListReply, check)
    total = limits.clamp_lessons(sum(m.lessons for m in reply.modules))
    return _continued(_merge_plans(reply.modules, limits.module_range(total)[1]), limits)


def _module_lessons(asker: Asker, request: CurriculumRequest, limits: Limits, outline: list[dict[str, Any]],
                    index: int, count: int, teaches: list[str]) -> tuple[DesignedLesson, ...]:
    schema = module_outline_schema(limits.objectives, count, MAX_CLAIMS)
    task = module_design_task(request, limits, outline, index, count)
    question = Question(_messages(task), "module_outline", schema, f"module {index + 1}'s outline",
                        TOKENS_PER_LESSON * count + TOKENS_PER_MODULE)

    def check(reply: ModuleOutlineReply, soft: bool) -> None:
        titles = [normal(ls.title) for ls in reply.lessons]
        claimed = {normal(o) for ls in reply.lessons for o in ls.objectives}
        missing = [o for o in teaches if normal(o) not in claimed]
        problems = []
        if len(set(titles)) != len(titles):
            problems.append("lesson titles repeat")
        if missing:
            problems.append(f"{len(missing)} of the module's objectives are taught by no lesson")
        if len(reply.lessons) != count:
            raise Malformed(f"the module has {len(reply.lessons)} lessons, expected {count}")
        if soft and problems:
            raise Soft("; ".join(problems), "Titles must be unique; objectives to teach: " + "; ".join(teaches))

    return tuple(_lesson(ls) for ls in asker.ask(question, ModuleOutlineReply, check).lessons)


def _two_steps(asker: Asker, request: CurriculumRequest, limits: Limits, concurrency: int,
               report: ProgressFn) -> Design:
    plans = _module_list(asker, request, limits)
    sizes = _sizes(plans, limits)
    outline = [{"module": i + 1, "title": m.title, "summary": m.summary, "teaches": m.teaches, "lessons": size}
               for i, (m, size) in enumerate(zip(plans, sizes, strict=True))]
    report("outline", 1, 1 + len(plans))
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(plans))),
                            thread_name_prefix="curriculum-design") as pool:
        futures = [pool.submit(_module_lessons, asker, request, limits, outline, i, size - 1, m.teaches)
                   for i, (m, size) in enumerate(zip(plans, sizes, strict=True))]
        try:
            lessons = []
            for done, future in enumerate(futures, start=2):
                lessons.append(future.result())
                report("outline", done, 1 + len(plans))
        finally:
            for future in futures:
                future.cancel()
    return Design(tuple(
        DesignedModule(m.title, m.summary, tuple(m.objectives), _assessment(m), ls)
        for m, ls in zip(plans, lessons, strict=True)))


def design_course(asker: Asker, request: CurriculumRequest, limits: Limits, concurrency: int,
                  report: ProgressFn) -> Design:
    """The model's design of ``request``'s course (before the planner fits it)."""
    if not limits.split:
        report("outline", 0, 1)
        design = _one_call(asker, request, limits)
        report("outline", 1, 1)
        return design
    report("outline", 0, math.ceil(limits.suggested_lessons / MAX_MODULE_LESSONS) + 1)
    return _two_steps(asker, request, limits, concurrency, report)
