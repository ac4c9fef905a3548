"""The offline generator: deterministic, topic-aware curricula from pedagogical templates.

Progression: fundamentals -> core concepts -> practice -> applied project; wording, activities and
assessments change with the level. Same request -> same curriculum (except ``generated_at``).
"""

from __future__ import annotations

from collections.abc import Sequence

from jobs.generators import ProgressFn, guarded_progress
from jobs.models import Assessment, Curriculum, CurriculumRequest, GeneratorInfo, Level
from jobs.planner import (
    LessonContent,
    LessonSlot,
    ModuleContent,
    ModuleSlot,
    Phase,
    assemble,
    assign_objectives,
    plan,
)

OFFLINE_MODEL = "offline-v1"

_FOCUS_AREAS: dict[Level, tuple[str, ...]] = {
    "beginner": (
        "the essential building blocks of {topic}",
        "everyday techniques in {topic}",
        "reading and evaluating {topic} examples",
        "solving typical {topic} problems",
        "good habits in {topic}",
    ),
    "intermediate": (
        "the core methods of {topic}",
        "structuring larger pieces of {topic} work",
        "quality and good practice in {topic}",
        "tools and workflows for {topic}",
        "common problems and how to approach them in {topic}",
    ),
    "advanced": (
        "advanced techniques in {topic}",
        "edge cases and limits of {topic}",
        "current research and open questions in {topic}",
        "analysing and critiquing {topic} work",
        "connections between {topic} and neighbouring fields",
    ),
}

_LESSON_TITLES: dict[Phase, tuple[str, ...]] = {
    "fundamentals": (
        "What {topic} is and why it matters",
        "Key terms and ideas in {topic}",
        "Tools and resources for studying {topic}",
        "A first hands-on look at {topic}",
        "Common misconceptions about {topic}",
        "How {topic} connects to related fields",
        "Reading and interpreting {topic} examples",
        "Fundamentals review and self-check",
    ),
    "core": (
        "Core concept: {focus}",
        "Step by step: {focus}",
        "Principles and patterns: {focus}",
        "Worked examples: {focus}",
        "Pitfalls and trade-offs: {focus}",
        "Putting it in context: {focus}",
    ),
    "practice": (
        "Guided practice: {focus}",
        "Exercise set: {focus}",
        "Case study: {focus}",
        "Spotting and fixing mistakes: {focus}",
        "Peer review: {focus}",
        "Mixed practice across {topic}",
    ),
    "project": (
        "Capstone brief: scoping your {topic} project",
        "Capstone research and planning",
        "Building the capstone",
        "Capstone feedback and refinement",
        "Presenting the capstone and reflecting on {topic}",
    ),
}

_LESSON_SUMMARIES: dict[Phase, str] = {
    "fundamentals": "Introduces {focus}: the vocabulary and mental models the rest of the course builds on.",
    "core": "Builds a working understanding of the core ideas behind “{focus}”: what they are, "
    "when they apply and how they connect to earlier lessons.",
    "practice": "Consolidates “{focus}” through hands-on work, with feedback on common mistakes.",
    "project": "Advances the capstone: a realistic {topic} task of your choice that uses the whole course.",
}

_LEVEL_NOTES: dict[Level, str] = {
    "beginner": "Paced gently with worked examples and short checks for understanding.",
    "intermediate": "Assumes the basics and moves quickly to realistic exercises.",
    "advanced": "Goes deep, with primary sources, open-ended problems and critique.",
}

_ACTIVITIES: dict[Level, tuple[str, ...]] = {
    "beginner": (
        "Read or watch a short walkthrough (focus: {focus})",
        "Follow a worked example step by step (focus: {focus})",
        "Answer a short quiz to check your understanding (focus: {focus})",
        "Summarise the lesson in one paragraph in your own words",
        "Make flashcards for the key terms of {topic} you met today",
    ),
    "intermediate": (
        "Work through a practical exercise (focus: {focus})",
        "Analyse a short case study (focus: {focus})",
        "Compare two approaches and note the trade-offs (focus: {focus})",
        "Explain the lesson to a peer and collect their questions",
        "Extend a worked example with your own variation (focus: {focus})",
    ),
    "advanced": (
        "Read and annotate a primary source (focus: {focus})",
        "Solve an open-ended problem (focus: {focus})",
        "Critique an existing piece of {topic} work (focus: {focus})",
        "Write a short analysis or design note (focus: {focus})",
        "Present and defend your approach to a peer group",
    ),
}

_PROJECT_ACTIVITIES = (
    "Define the scope, goal and success criteria for your {topic} capstone",
    "Build the next increment of the capstone",
    "Ask for feedback on the capstone and record what to change",
    "Document your decisions and what you learnt about {topic}",
)

_ASSESSMENTS: dict[Level, tuple[str, str]] = {
    "beginner": ("quiz", "A short quiz and a small guided exercise covering this module (focus: {focus})."),
    "intermediate": ("practical exercise", "A practical exercise checked against a rubric (focus: {focus})."),
    "advanced": ("written analysis", "A written analysis or critique, assessed for depth (focus: {focus})."),
}

_MODULE_TITLES: dict[Phase, str] = {
    "overview": "{topic}: a complete {level} course",
    "fundamentals": "Foundations of {topic}",
    "core": "Core concepts: {focus}",
    "practice": "Practice: {focus}",
    "project": "Applied project: {topic}",
}

_DEEPER: dict[Phase, tuple[str, ...]] = {
    "core": ("Deeper into {focus}", "Mastering {focus}"),
    "practice": ("Extended practice: {focus}", "Practice lab: {focus}"),
}

_MODULE_SUMMARIES: dict[Phase, str] = {
    "overview": "A compact path through {topic}, from fundamentals to a small applied task.",
    "fundamentals": "The vocabulary, tools and mental models of {topic} that later modules rely on.",
    "core": "The core ideas of {topic}, centred on “{focus}”.",
    "practice": "Deliberate practice that turns knowledge into skill (focus: “{focus}”).",
    "project": "A capstone project that brings the course together in a realistic {topic} task.",
}

_PHASE_OBJECTIVES: dict[Phase, str] = {
    "overview": "Explain the main ideas of {topic} and apply them to a small task",
    "fundamentals": "Explain the key terms and ideas of {topic}",
    "core": "Explain and apply the core ideas covered here ({focus})",
    "practice": "Work confidently on unfamiliar problems ({focus})",
    "project": "Plan, build and present a complete {topic} project",
}


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:.") + "…"


class OfflineGenerator:
    """Deterministic template generator; needs no network."""

    name = "offline"
    model = OFFLINE_MODEL

    def generate(self, request: CurriculumRequest, progress: ProgressFn) -> Curriculum:
        report = guarded_progress(progress)
        report("outline", 0, 1)
        the_plan = plan(request)
        phases = [m.phase for m in the_plan.modules]
        homes = assign_objectives(request.objectives, phases)
        report("outline", 1, 1)
        total = len(the_plan.lessons)
        report("lessons", 0, total)
        contents = []
        for module in the_plan.modules:
            own = [o for o, home in zip(request.objectives, homes, strict=True) if home == module.index and o]
            rank = phases[: module.index].count(module.phase)  # index among modules of the same phase
            contents.append(self._module(request, module, own, rank))
        report("lessons", total, total)
        return assemble(request, the_plan, contents, GeneratorInfo(name=self.name, model=self.model))

    def _module(
        self, request: CurriculumRequest, module: ModuleSlot, objectives: Sequence[str], rank: int
    ) -> ModuleContent:
        topic, level = request.topic, request.level
        areas = _FOCUS_AREAS[level]
        focuses = [_short(o) for o in objectives] or [areas[rank % len(areas)].format(topic=topic)]
        depth = rank // len(areas)
        focus = focuses[0]
        values = {"topic": topic, "focus": focus, "level": level}
        title = _MODULE_TITLES[module.phase].format(**values)
        if module.phase in _DEEPER and depth > 0:
            title = _DEEPER[module.phase][(depth - 1) % len(_DEEPER[module.phase])].format(**values)
        kind, description = _ASSESSMENTS[level]
        if module.phase == "project":
            kind, description = (
                "project presentation",
                "Present the capstone and explain the choices behind it.",
            )
        assessment = Assessment(
            title=f"{title}: {kind}",
            kind=kind,
            description=description.format(**values),
        )
        module_objectives = [*objectives, _PHASE_OBJECTIVES[module.phase].format(**values)]
        seen: dict[Phase, int] = {}
        positions = []
        for slot in module.lessons:
            positions.append(seen.get(slot.phase, 0))
            seen[slot.phase] = positions[-1] + 1
        lessons = tuple(
            self._lesson(request, slot, focuses, index, seen[slot.phase])
            for slot, index in zip(module.lessons, positions, strict=True)
        )
        return ModuleContent(
            title=title,
            summary=f"{_MODULE_SUMMARIES[module.phase].format(**values)} {_LEVEL_NOTES[level]}",
            objectives=tuple(module_objectives),
            assessment=assessment,
            lessons=lessons,
        )

    def _lesson(
        self, request: CurriculumRequest, slot: LessonSlot, focuses: Sequence[str], index: int, count: int
    ) -> LessonContent:
        """Lesson ``index`` of the ``count`` lessons of the same phase in its module."""
        topic, level = request.topic, request.level
        phase: Phase = slot.phase if slot.phase != "overview" else "core"
        focus = f"the foundations of {topic}" if phase == "fundamentals" else focuses[index % len(focuses)]
        values = {"topic": topic, "focus": focus}
        titles = _LESSON_TITLES[phase]
        if phase == "project":
            title = _project_title(index, count).format(**values)
        else:
            title = titles[index % len(titles)].format(**values)
            if index >= len(titles):
                title = f"{title} (part {index // len(titles) + 1})"
        pool = _PROJECT_ACTIVITIES if phase == "project" else _ACTIVITIES[level]
        number = max(2, min(len(pool), slot.minutes // 30))
        activities = tuple(pool[(index + i) % len(pool)].format(**values) for i in range(number))
        summary = f"{_LESSON_SUMMARIES[phase].format(**values)} {_LEVEL_NOTES[level]}"
        return LessonContent(title=title, summary=summary, activities=activities)


def _project_title(index: int, count: int) -> str:
    titles = _LESSON_TITLES["project"]
    if count == 1:
        return "Mini project: applying {topic} end to end"
    if index == 0:
        return titles[0]
    if index == count - 1:
        return titles[-1]
    middle = titles[1:-1]
    title = middle[(index - 1) % len(middle)]
    rounds = (index - 1) // len(middle)
    return f"{title} (iteration {rounds + 1})" if count - 2 > len(middle) else title
