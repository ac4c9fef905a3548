"""The offline generator: deterministic curricula with no network, honest about being templates.

The plan (``jobs.planner``) decides every lesson's kind, minutes and objectives; this module only
writes words, from the objectives (or, without any, sub-themes of the level), the lesson's kind and
its place in the course. The result carries warnings that its text is a template and, for any
``language`` but ``en``, that it is in English. Same request -> same curriculum (but
``generated_at``). Phrase banks live in ``offline_text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jobs.generators import ProgressFn, guarded_progress
from jobs.generators import offline_text as text
from jobs.models import Assessment, Curriculum, CurriculumRequest, GeneratorInfo
from jobs.planner import LessonContent, LessonSlot, ModuleContent, ModuleSlot, Plan, assemble, plan

OFFLINE_MODEL = "offline-v3"


def _short(value: str, limit: int = 60) -> str:
    value = " ".join(value.split())
    if len(value) <= limit:
        return value
    cut = value[:limit].rsplit(" ", 1)[0] or value[:limit]
    return cut.rstrip(" ,;:.") + "…"


def _joined(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return f"{items[0]}, {items[1]} and {len(items) - 2} more"


def _title_case_start(label: str) -> str:
    """"clean CSV data" starts a title as "Clean CSV data"; "iPhone apps" or "pandas" stay as written
    only when the first word has capitals of its own (a name)."""
    first = label.split(" ", 1)[0]
    return label[:1].upper() + label[1:] if first.islower() and first.isalpha() else label


@dataclass(frozen=True)
class Focus:
    label: str  # short, for titles
    phrase: str  # full, for summaries and activities (an objective verbatim, quoted)


def focuses(request: CurriculumRequest, the_plan: Plan) -> list[Focus]:
    themes = text.THEMES[request.level]
    out = []
    for index, objective in enumerate(the_plan.focuses):
        if objective is not None:
            out.append(Focus(_title_case_start(_short(objective)), f"“{objective}”"))
        else:
            label, phrase = themes[index % len(themes)]
            out.append(Focus(label, phrase.format(topic=request.topic)))
    return out


class _Writer:
    """Words for one request; holds what every lesson needs (topic, level, focuses, modules)."""

    def __init__(self, request: CurriculumRequest, the_plan: Plan) -> None:
        self.topic, self.level = request.topic, request.level
        self.plan = the_plan
        self.focuses = focuses(request, the_plan)
        self.format_name, self.format_text = text.ASSESSMENT_FORMATS[request.level]

    def module_labels(self, module: ModuleSlot) -> list[str]:
        return [self.focuses[f].label for f in module.focuses]

    def module_phrases(self, module: ModuleSlot) -> list[str]:
        return [self.focuses[f].phrase for f in module.focuses]

    # --- lessons ---

    def lesson(self, module: ModuleSlot, slot: LessonSlot) -> LessonContent:
        writer = getattr(self, f"_{slot.kind}")
        title, summary, activities = writer(module, slot)
        return LessonContent(title=title, summary=summary, activities=tuple(activities), source="template")

    def _angle(self, slot: LessonSlot, bank: Sequence[tuple[str, str]]) -> tuple[str, str]:
        angle, summary = bank[(slot.part - 1) % len(bank)]
        rounds = (slot.part - 1) // len(bank)
        return (f"{angle} (round {rounds + 1})" if rounds else angle), summary

    def _core(self, module: ModuleSlot, slot: LessonSlot) -> tuple[str, str, list[str]]:
        focus = self.focuses[slot.focus or 0]
        angle, summary = self._angle(slot, text.CORE_ANGLES[self.level])
        where = f" Teaching lesson {slot.part} of {slot.of} on it." if slot.of > 1 else ""
        body = f"{summary.format(f=focus.phrase)}{where} {text.LEVEL_NOTES[self.level]}"
        bank = text.CORE_ACTIVITIES[self.level]
        activities = [bank[(slot.part - 1 + i) % len(bank)].format(f=focus.phrase) for i in range(self._count(slot))]
        return f"{focus.label}: {angle}", body, activities

    def _practice(self, module: ModuleSlot, slot: LessonSlot) -> tuple[str, str, list[str]]:
        focus = self.focuses[slot.focus or 0]
        angle, summary = self._angle(slot, text.PRACTICE_ANGLES)
        where = f" Practice session {slot.part} of {slot.of} on it." if slot.of > 1 else ""
        body = f"{summary.format(f=focus.phrase)}{where} {text.LEVEL_NOTES[self.level]}"
        bank = text.PRACTICE_ACTIVITIES
        exercises = max(3, slot.minutes // 10)
        activities = [
            bank[(slot.part - 1 + i) % len(bank)].format(f=focus.phrase, n=exercises) for i in range(self._count(slot))
        ]
        return f"{focus.label}: {angle}", body, activities

    def _foundation(self, module: ModuleSlot, slot: LessonSlot) -> tuple[str, str, list[str]]:
        bank = text.FOUNDATIONS[self.level]
        title, about, activity = (part.format(topic=self.topic) for part in bank[(slot.part - 1) % len(bank)])
        body = f"Sets up the course: {about}. {text.LEVEL_NOTES[self.level]}"
        return title, body, [activity, "Note one question you want the course to answer"]

    def _review(self, module: ModuleSlot, slot: LessonSlot) -> tuple[str, str, list[str]]:
        labels = _joined(self.module_labels(module))
        number = f" {slot.part}" if slot.of > 1 else ""
        body = (
            f"Revisits {_joined(self.module_phrases(module))} with retrieval practice and mixed exercises "
            f"before module {module.index + 1}'s assessment, and returns briefly to earlier modules."
        )
        activities = [
            f"Answer mixed questions on {labels} without notes, then check them",
            "Redo the hardest exercise of this module from scratch",
            "Write down what still feels unclear and look it up or ask",
        ]
        return f"Review{number}: {labels}", body, activities

    def _assessment(self, module: ModuleSlot, slot: LessonSlot) -> tuple[str, str, list[str]]:
        if module.kind == "foundation":
            body = f"Checks the foundations of {self.topic} with {self.format_text}, before the core lessons."
            return "Foundations check", body, ["Take the foundations check", "Review each answer you missed"]
        if module.kind == "capstone":
            body = (
                f"Assesses the finished capstone against its own success criteria and the course as a whole "
                f"({_joined([f.label for f in self.focuses])})."
            )
            activities = ["Submit the capstone and its reflection", "Receive and discuss feedback"]
            return f"{text.PROJECT_NAMES[self.level]}: assessment", body, activities
        phrases = self.module_phrases(module)
        body = f"Assesses what module {module.index + 1} taught ({'; '.join(phrases)}) with {self.format_text}."
        tasks = [f"Show on an unseen task that you can handle {p}" for p in phrases[:4]]
        title = f"Module {module.index + 1} assessment: {_joined(self.module_labels(module))}"
        return title, body, [*tasks, "Get feedback and note one thing to improve"]

    def _project(self, module: ModuleSlot, slot: LessonSlot) -> tuple[str, str, list[str]]:
        stage = "scope" if slot.part == 1 else "present" if slot.part == slot.of else "build"
        title, body, activities = text.PROJECT_STAGES[stage]
        number = slot.part - 1
        milestones = ["a first working version", *(f"bring in “{f.label}”" for f in self.focuses), "test and fix"]
        values = {
            "topic": self.topic, "n": number, "builds": slot.of - 2, "name": text.PROJECT_NAMES[self.level],
            "milestone": milestones[(number - 1) % len(milestones)],
            "focuses": _joined([f.label for f in self.focuses]),
        }
        return title.format(**values), body.format(**values), [a.format(**values) for a in activities]

    @staticmethod
    def _count(slot: LessonSlot) -> int:
        return max(2, min(4, slot.minutes // 20))

    # --- modules ---

    def module(self, module: ModuleSlot) -> ModuleContent:
        lessons = tuple(self.lesson(module, slot) for slot in module.lessons)
        closing = lessons[-1]
        assessment = Assessment(title=closing.title, kind=self.format_name, description=closing.summary)
        title, summary, objectives = self._module_words(module)
        return ModuleContent(title, summary, tuple(objectives), assessment, lessons)

    def _module_words(self, module: ModuleSlot) -> tuple[str, str, list[str]]:
        if module.kind == "foundation":
            return (
                f"Foundations of {self.topic}",
                f"The vocabulary, tools and first examples of {self.topic} that later modules rely on.",
                [],
            )
        if module.kind == "capstone":
            return (
                text.PROJECT_NAMES[self.level],
                f"One realistic {self.topic} project that uses the whole course: scope it, build it, present it.",
                [o for o in self.plan.focuses if o is not None],
            )
        phrases = self.module_phrases(module)
        review = " and a review" if any(s.kind == "review" for s in module.lessons) else ""
        summary = f"Teaches {_joined(phrases)}: core lessons, then practice{review}, closed by an assessment."
        # Only requested objectives: a course that names none gets none invented.
        return _joined(self.module_labels(module)) + self._part(module), summary, list(module.objectives)

    def _part(self, module: ModuleSlot) -> str:
        """" (part k)" when the module's single focus spans several modules."""
        sharing = [m.index for m in self.plan.modules if m.focuses == module.focuses]
        return f" (part {sharing.index(module.index) + 1})" if len(sharing) > 1 else ""


class OfflineGenerator:
    """Deterministic template generator; needs no network."""

    name = "offline"
    model = OFFLINE_MODEL

    def generate(self, request: CurriculumRequest, progress: ProgressFn) -> Curriculum:
        report = guarded_progress(progress)
        report("outline", 0, 1)
        the_plan = plan(request)
        writer = _Writer(request, the_plan)
        report("outline", 1, 1)
        total = len(the_plan.lessons)
        report("lessons", 0, total)
        contents = [writer.module(module) for module in the_plan.modules]
        report("lessons", total, total)
        info = GeneratorInfo(name=self.name, model=self.model)
        return assemble(request, the_plan, contents, info, offline_warnings(request.language))


def offline_warnings(language: str) -> list[str]:
    """What every offline result says about itself."""
    notes = [text.TEMPLATE_WARNING]
    if language.split("-")[0].lower() != "en":
        notes.append(text.LANGUAGE_WARNING.format(language=language))
    return notes

