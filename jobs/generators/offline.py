"""The offline generator: deterministic curricula with no network, written as an honest draft.

The plan (``jobs.planner``) decides every lesson's kind, minutes and objectives; this module only
writes words, from the objectives (or, without any, generic sub-themes of the level), the lesson's
kind and its place in the course. Every lesson is ``source: "template"``. The text never refers to
material that does not exist: where a lesson needs exercises or a quiz, an activity starting
"To prepare:" says what the course author has to write. No two lessons share a title or an
activity; a course in a skill learnt by doing it (``jobs.skills``) practises it in sessions (runs,
painting sessions). The result warns that it is a template draft and, for any ``language`` but
``en``, that it is in English. Same request -> same curriculum (but ``generated_at``).
Phrase banks live in ``offline_text``, wording helpers in ``offline_words``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jobs.generators import ProgressFn, guarded_progress
from jobs.generators import offline_text as text
from jobs.generators.offline_words import fitted, joined, listed, short, unique_labels
from jobs.models import Assessment, Curriculum, CurriculumRequest, GeneratorInfo
from jobs.planner import LessonContent, LessonSlot, ModuleContent, ModuleSlot, Plan, assemble, plan
from jobs.shapes import brought_in
from jobs.skills import Skill, skill_of

OFFLINE_MODEL = "offline-v3"
#: Names for the modules one focus spans, in order, when it spans at most this many.
STAGES = ("first steps", "building up", "going further", "in depth", "consolidation", "mastery")

Words = tuple[str, str, list[str]]  # title, summary, activities


@dataclass(frozen=True)
class Focus:
    label: str  # short, for titles
    phrase: str  # full, for summaries and activities (an objective verbatim, quoted)


def focuses(request: CurriculumRequest, the_plan: Plan) -> list[Focus]:
    """One focus per plan focus: a requested objective, or a generic sub-theme of the level."""
    objectives = [o for o in the_plan.focuses if o is not None]
    if objectives:
        return [Focus(label, f"“{o}”") for label, o in zip(unique_labels(objectives), objectives, strict=True)]
    themes = text.SKILL_THEMES if skill_of(request) else text.THEMES[request.level]
    return [
        Focus(label, phrase.format(topic=request.topic))
        for label, phrase in (themes[i % len(themes)] for i in range(len(the_plan.focuses)))
    ]


def _placed(prefix: str, activity: str) -> str:
    """``activity`` led by ``prefix`` ("Lesson 7 of 40: "); an author's "To prepare:" item keeps its
    marker first ("To prepare: for lesson 7 of 40, …")."""
    if not prefix or not activity.startswith(text.PREPARE):
        return prefix + activity
    where = prefix[0].lower() + prefix[1:].removesuffix(": ")
    return f"{text.PREPARE} for {where}, {activity.removeprefix(text.PREPARE).lstrip()}"


def _numbered(slot: LessonSlot, bank_size: int) -> bool:
    """Whether lessons of this kind on this focus outnumber the bank (titles then say which one)."""
    return slot.of > bank_size


class _Writer:
    """Words for one request; holds what every lesson needs (topic, level, focuses, modules)."""

    def __init__(self, request: CurriculumRequest, the_plan: Plan) -> None:
        self.topic, self.level = request.topic, request.level
        self.short_topic = short(request.topic, 40)
        self.plan = the_plan
        self.focuses = focuses(request, the_plan)
        self.skill: Skill | None = skill_of(request)
        formats = text.SKILL_ASSESSMENT if self.skill else text.ASSESSMENT_FORMATS[self.level]
        self.project_name = text.SKILL_PROJECT_NAMES[self.skill.name] if self.skill else text.PROJECT_NAMES[self.level]
        self.format_name, self.format_text, self.format_prep = formats

    def module_labels(self, module: ModuleSlot) -> list[str]:
        return [self.focuses[f].label for f in module.focuses]

    def module_phrases(self, module: ModuleSlot) -> list[str]:
        return [self.focuses[f].phrase for f in module.focuses]

    # --- lessons ---

    def lesson(self, module: ModuleSlot, slot: LessonSlot) -> LessonContent:
        writer = getattr(self, f"_{slot.kind}")
        title, summary, activities = writer(module, slot)
        return LessonContent(title=title, summary=summary, activities=tuple(activities), source="template")

    def _sequenced(self, slot: LessonSlot, bank_size: int, noun: str, angle: str) -> tuple[str, str, str]:
        """Title, "where in the sequence" sentence and activity prefix of a core or practice lesson."""
        focus = self.focuses[slot.focus or 0]
        if not _numbered(slot, bank_size):
            where = f" {noun.capitalize()} {slot.part} of {slot.of} on it." if slot.of > 1 else ""
            return f"{focus.label}: {angle}", where, ""
        title = f"{short(focus.label, 40)}, {noun} {slot.part} of {slot.of}: {angle}"
        prefix = f"{noun.capitalize()} {slot.part} of {slot.of}: " if slot.part > bank_size else ""
        return title, f" {noun.capitalize()} {slot.part} of {slot.of} on it.", prefix

    def _core(self, module: ModuleSlot, slot: LessonSlot) -> Words:
        focus = self.focuses[slot.focus or 0]
        bank = text.CORE_ANGLES[self.level]
        angle, summary, activities = bank[(slot.part - 1) % len(bank)]
        title, where, prefix = self._sequenced(slot, len(bank), "lesson", angle)
        body = f"{summary.format(f=focus.phrase)}{where} {text.LEVEL_NOTES[self.level]}"
        return title, body, [_placed(prefix, a.format(f=focus.phrase)) for a in activities]

    def _practice(self, module: ModuleSlot, slot: LessonSlot) -> Words:
        if self.skill is not None:
            return self._session(self.skill, slot)
        focus = self.focuses[slot.focus or 0]
        angle, summary, activities = text.PRACTICE_ANGLES[(slot.part - 1) % len(text.PRACTICE_ANGLES)]
        title, where, prefix = self._sequenced(slot, len(text.PRACTICE_ANGLES), "practice session", angle)
        body = f"{summary.format(f=focus.phrase)}{where} {text.LEVEL_NOTES[self.level]}"
        exercises = max(3, slot.minutes // 10)
        return title, body, [_placed(prefix, a.format(f=focus.phrase, n=exercises)) for a in activities]

    def _session(self, skill: Skill, slot: LessonSlot) -> Words:
        """A practice lesson that is the skill itself: a run, a painting session, time on the instrument."""
        focus = self.focuses[slot.focus or 0]
        sessions = text.SKILL_SESSIONS[skill.name]
        # Each focus starts at another session type, so the course does not open every focus alike.
        kind, what = sessions[(slot.part - 1 + (slot.focus or 0)) % len(sessions)]
        title, where, prefix = self._sequenced(slot, len(sessions), skill.session, kind)
        main = max(5, slot.minutes - 15)
        body = f"This {skill.session}: {what}, about {slot.minutes} minutes in all, working on {focus.phrase}.{where}"
        activities = [
            f"{skill.warm_up} ({kind}: {short(focus.label, 40)})",
            f"{skill.main.format(minutes=main, f=focus.phrase)} ({kind})",
            f"{skill.wrap_up} ({kind}: {short(focus.label, 40)})",
        ]
        return title, body, [_placed(prefix, a) for a in activities]

    def _foundation(self, module: ModuleSlot, slot: LessonSlot) -> Words:
        bank = text.FOUNDATIONS[self.level]
        title, about, activity = bank[(slot.part - 1) % len(bank)]
        body = f"Sets up the course: {about.format(topic=self.topic)}. {text.LEVEL_NOTES[self.level]}"
        return title.format(topic=self.short_topic), body, [activity.format(topic=self.topic)]

    def _review(self, module: ModuleSlot, slot: LessonSlot) -> Words:
        number, labels = module.index + 1, self.module_labels(module)
        body = (
            f"Revisits {joined(self.module_phrases(module))} by retrieval and mixed practice before module "
            f"{number}'s assessment, and returns briefly to earlier modules."
        )
        activities = [
            f"Module {number} review: write five mixed questions on {joined(labels)}, swap with a peer and "
            "answer theirs without notes",
            f"Module {number} review: redo the hardest task of the module from scratch",
            f"Module {number} review: write down what still feels unclear and ask about it",
        ]
        return fitted(f"Review of module {number}: {{}}", labels), body, activities

    def _assessment(self, module: ModuleSlot, slot: LessonSlot) -> Words:
        if module.kind == "foundation":
            return self._foundation_check()
        if module.kind == "capstone":
            return self._capstone_assessment()
        number, phrases = module.index + 1, self.module_phrases(module)
        body = f"Assesses what module {number} taught ({'; '.join(phrases)}) with {self.format_text}."
        tasks = [f"Module {number}: a new task on {p}, done without notes" for p in phrases[:4]]
        activities = [
            f"{text.PREPARE} {self.format_prep.format(n=number)}",
            *tasks,
            f"Module {number}: go through the feedback and note one thing to improve",
        ]
        return fitted(f"Module {number} assessment: {{}}", self.module_labels(module)), body, activities

    def _foundation_check(self) -> Words:
        body = f"Checks the foundations of {self.topic} with {self.format_text}, before the core lessons."
        activities = [
            f"{text.PREPARE} a short check of the foundations of {self.topic}: terms, set-up and a first attempt",
            "Take the foundations check without notes",
            "Go over each answer you missed and note where the course covers it",
        ]
        return "Foundations check", body, activities

    def _capstone_assessment(self) -> Words:
        name = self.project_name
        phrases = [f.phrase for f in self.focuses]
        body = ("Assesses the finished project against its own success criteria and what it shows of "
                f"{'; '.join(phrases)}.")
        shown = [f"Point out where the finished project shows {p}" for p in phrases[:4]]
        activities = [*shown, "Hand in the project with a short reflection and discuss the feedback"]
        return f"{name}: assessment", body, activities

    def _project(self, module: ModuleSlot, slot: LessonSlot) -> Words:
        name, builds = self.project_name, slot.of - 2
        labels = [f.label for f in self.focuses]
        if slot.part == 1:
            return (
                f"{name}: define the scope",
                f"Chooses a realistic {self.topic} project that draws on {joined(labels)} and fixes its goal, "
                "scope and success criteria.",
                [f"Choose your {name.lower()} and write its goal in one sentence" if self.skill
                 else f"Pick a {self.topic} project idea and write its goal in one sentence",
                 "List what is in and out of the project's scope, and three success criteria",
                 f"Plan the {builds} build session(s) ahead, each with one milestone"],
            )
        if slot.part == slot.of:
            return (
                f"{name}: present and reflect",
                f"Presents the finished project after {builds} build session(s), explains the choices behind it "
                f"and reflects on what using {joined(labels)} taught.",
                ["Prepare a short presentation or demonstration of the project",
                 "Present the project and answer questions about your decisions",
                 "Write a reflection: what you would do differently next time"],
            )
        return self._build(slot, name, builds)

    def _build(self, slot: LessonSlot, name: str, builds: int) -> Words:
        build = slot.part - 1
        brought = [self.focuses[i] for i in brought_in(slot.part, slot.of, len(self.focuses))]
        last_new = max((b for b in range(1, builds + 1) if brought_in(b + 1, slot.of, len(self.focuses))), default=0)
        final = not brought and build == builds
        if brought:
            names = [brought[0].label] if len(brought) == 1 else [f"{brought[0].label} and {len(brought) - 1} more"]
            title = (f"{name} build 1: a first working version" if build == 1
                     else fitted(f"{name} build {build}: bring in {{}}", names))
            summary = (f"Build session {build} of {builds}: brings {listed([f.phrase for f in brought])} into the "
                       "project, then tests it and records what changed.")
        else:
            title = f"{name} build {build}: " + ("test and fix" if final else "extend and refine")
            summary = (f"Build session {build} of {builds}: " + ("tests the whole project and fixes what fails."
                       if final else f"extends the project beyond build {last_new} and refines what is there."))
        work = self._build_work(slot, build, name, brought, final)
        return title, summary, [*work, f"Build {build}: write a short log entry: what works, what is next"]

    def _build_work(self, slot: LessonSlot, build: int, name: str, brought: list[Focus], final: bool) -> list[str]:
        """What a build session does: for a skill, a session of the skill itself (a run towards the goal run)."""
        if self.skill is not None:
            aim = listed([f.phrase for f in brought]) if brought else f"what your {name.lower()} needs"
            main = self.skill.main.format(minutes=max(5, slot.minutes - 15), f=aim)
            return [f"Build {build}: " + (f"a full rehearsal of your {name.lower()}, then note what fell short"
                                          if final else main[:1].lower() + main[1:])]
        if brought:
            return [f"Build {build}: work {f.phrase} into the project" for f in brought[:3]]
        return [f"Build {build}: " + ("test every success criterion and fix what fails" if final
                                      else "add the next planned part and improve one that is already there")]

    # --- modules ---

    def module(self, module: ModuleSlot) -> ModuleContent:
        lessons = tuple(self.lesson(module, slot) for slot in module.lessons)
        closing = lessons[-1]
        kind = {"foundation": "foundations check", "capstone": "project assessment"}.get(module.kind, self.format_name)
        assessment = Assessment(title=closing.title, kind=kind, description=closing.summary)
        title, summary = self._module_words(module)
        # Only requested objectives: a course that names none gets none invented.
        return ModuleContent(title, summary, module.objectives, assessment, lessons)

    def _module_words(self, module: ModuleSlot) -> tuple[str, str]:
        if module.kind == "foundation":
            return (f"Foundations of {self.short_topic}",
                    f"The vocabulary, equipment and first steps in {self.topic} that the later modules build on.")
        if module.kind == "capstone":
            return (self.project_name,
                    f"One realistic {self.topic} project that uses the whole course: scope it, build it, present it.")
        phrases = self.module_phrases(module)
        review = " and a review" if any(s.kind == "review" for s in module.lessons) else ""
        practice = f"{self.skill.session}s" if self.skill else "practice"
        summary = f"Works on {joined(phrases)}: lessons, then {practice}{review}, closed by an assessment."
        return fitted("{}" + self._stage(module), self.module_labels(module)), summary

    def _stage(self, module: ModuleSlot) -> str:
        """": <stage>" when the module's focuses span several modules (first steps, building up, …)."""
        sharing = [m for m in self.plan.modules if m.focuses == module.focuses]
        if len(sharing) < 2:
            return ""
        k = sharing.index(module)
        if len(sharing) <= len(STAGES):
            return f": {STAGES[k]}"
        spans = [(m.lessons[0].week, m.lessons[-1].week) for m in sharing]
        first, last = spans[k]
        if spans.count(spans[k]) == 1:
            return f": week {first}" if first == last else f": weeks {first}-{last}"
        return f": stage {k + 1} of {len(sharing)}"


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
        themes = [f.label for f in writer.focuses] if not the_plan.objectives else []
        notes = offline_warnings(request.language, themes) + _repeat_warning(the_plan)
        return assemble(request, the_plan, contents, info, notes)


def _repeat_warning(the_plan: Plan) -> list[str]:
    """Said when lessons on one focus outnumber the template's angles (very long courses)."""
    angles = min(len(text.PRACTICE_ANGLES), *(len(bank) for bank in text.CORE_ANGLES.values()))
    most = max((slot.of for slot in the_plan.lessons if slot.kind in ("core", "practice")), default=0)
    return [text.REPEAT_WARNING.format(most=most, angles=angles)] if most > angles else []


def offline_warnings(language: str, themes: Sequence[str] = ()) -> list[str]:
    """What every offline result says about itself (and, without objectives, about its sub-themes)."""
    notes = [text.TEMPLATE_WARNING]
    if themes:
        notes.append(text.THEMES_WARNING.format(themes=", ".join(dict.fromkeys(themes))))
    if language.split("-")[0].lower() != "en":
        notes.append(text.LANGUAGE_WARNING.format(language=language))
    return notes
