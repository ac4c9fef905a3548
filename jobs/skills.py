"""Courses in a skill learnt by doing it (running, painting, an instrument): practice is the skill.

A marathon plan made of desk lessons, or a watercolour course without a painting session, is not
what anyone asked for. When the topic or an objective names such a skill, the planner gives the
course more practice than teaching (``jobs.shapes``) and the offline generator writes its practice
lessons as sessions of the skill itself: runs, painting sessions, time on the instrument.

The table is short and explicit on purpose: a course it does not recognise keeps the default
shape (teaching and practice alternate), which is never wrong, only less fitting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobs.models import CurriculumRequest


@dataclass(frozen=True)
class Skill:
    """How a practice session of one family of skills is named and run (``{f}``: its focus)."""

    name: str
    session: str  # what one practice lesson is: "run", "painting session"
    warm_up: str
    main: str  # ``{minutes}`` of the main part, ``{f}`` the focus
    wrap_up: str


SKILLS: tuple[tuple[str, Skill], ...] = (
    (r"marathon|jogging|triathlon|couch to 5k|\b(5|10) ?k (run|race)|trail running|running (for|training|technique)"
     r"|learn to run",
     Skill("running", "run",
           "Warm up with 10 minutes of easy jogging and mobility drills",
           "Run for about {minutes} minutes, working on {f}",
           "Cool down with 5 minutes of walking, then log time, distance and how the run felt")),
    (r"watercolou?r|painting|\bpaint\b|drawing|sketching|gouache|acrylics?\b|oil paint|calligraphy",
     Skill("painting", "painting session",
           "Set out paper, paints and water, and loosen up with a few quick thumbnail studies",
           "Paint for about {minutes} minutes, working on {f}",
           "Lay today's work beside your last session's and note one thing that changed")),
    (r"guitar|piano|violin|\bcello|ukulele|\bdrums?\b|\bbass\b|flute|saxophone|trumpet|singing",
     Skill("instrument", "practice session",
           "Warm up for 5 minutes with scales or technical exercises at a slow tempo",
           "Play for about {minutes} minutes, working on {f}",
           "Record a short take, listen back and note one thing to fix next time")),
    (r"swimming|cycling|yoga|pilates|strength training|fitness|climbing|rowing|martial art|boxing|\bdanc(e|ing)\b",
     Skill("training", "training session",
           "Warm up for 10 minutes, building gradually to working intensity",
           "Train for about {minutes} minutes, working on {f}",
           "Cool down, stretch and log what you did and how it felt")),
    (r"baking|\bbread\b|cooking|\bcook\b|pastry|cuisine",
     Skill("cooking", "kitchen session",
           "Read the recipe you chose through, then weigh and lay out every ingredient",
           "Cook for about {minutes} minutes, working on {f}",
           "Taste, note what you would change next time and clean down")),
    (r"knitting|crochet|sewing|embroidery|pottery|ceramics|woodwork|carpentry",
     Skill("craft", "hands-on session",
           "Lay out your materials and tools and check they are ready to use",
           "Work for about {minutes} minutes, working on {f}",
           "Look over what you made, photograph it and note one thing to do differently")),
)


def skill_of(request: CurriculumRequest) -> Skill | None:
    """The skill a course practises, judged from its topic, else its objectives; ``None`` for others."""
    for text in (request.topic, " ".join(request.objectives)):
        for pattern, skill in SKILLS:
            if re.search(pattern, text.casefold()):
                return skill
    return None
