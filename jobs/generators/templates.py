"""Template text for a model-written course's lesson whose reply stayed unusable.

It says what it is (template text standing in for the model's), names the lesson's title and the
requested objectives it teaches, and promises nothing the course does not contain: the
activities use only the learner's own work and what the lesson's title and objectives name.
"""

from __future__ import annotations

from jobs.planner import LessonContent, LessonSlot

_ACTIVITIES = {
    "foundation": ("Set up what the lesson needs and try it once", "Write down the terms the lesson introduces"),
    "core": ("Work through one small example of your own", "Explain the idea in your own words in a few sentences"),
    "practice": ("Do three short exercises of your own making on it", "Check your work against what you learnt"),
    "project": ("Build this step of your project", "Note what works and what to fix next"),
    "review": ("Answer questions on the earlier lessons without notes, then check them",
               "Redo the exercise you found hardest"),
    "assessment": ("Show on a task you have not seen that you can do what the module taught",
                   "Ask a peer or mentor for feedback and note one thing to improve"),
}


def template_lesson(slot: LessonSlot) -> LessonContent:
    """Honest stand-in words for ``slot`` (``fallback``, ``source: template``)."""
    title = slot.title or slot.id
    teaches = "; ".join(f"“{o}”" for o in slot.objectives)
    summary = (f"Template text: the model's text for this {slot.kind} lesson was unusable. The lesson is "
               f"“{title}”" + (f" and teaches {teaches}" if teaches else "") + ".")
    return LessonContent(title, summary, _ACTIVITIES[slot.kind], fallback=True, source="template")
