"""Wording of the offline generator: phrase banks per lesson kind and level.

The offline generator cannot know a subject, so its words are built from what the request does
say (objectives, topic, level) and from each lesson's kind and place in the course. Each bank has
several entries that are used in order (the n-th core lesson on an objective gets the n-th angle),
so consecutive lessons read differently; ``{f}`` is the lesson's focus, ``{topic}`` the topic.
"""

from __future__ import annotations

from jobs.models import Level

#: Sub-themes used as focuses when a request names no objectives: (short title, phrase with topic).
THEMES: dict[Level, tuple[tuple[str, str], ...]] = {
    "beginner": (
        ("Key terms and ideas", "the vocabulary and basic ideas of {topic}"),
        ("First techniques", "the first techniques a newcomer to {topic} uses"),
        ("Reading examples", "reading and explaining simple {topic} examples"),
        ("Simple problems", "solving simple, typical {topic} problems"),
        ("Common mistakes", "recognising and avoiding common beginner mistakes in {topic}"),
        ("Good habits", "habits that keep {topic} work tidy and correct"),
    ),
    "intermediate": (
        ("Core methods", "the core methods practitioners of {topic} rely on"),
        ("Larger pieces of work", "structuring larger pieces of {topic} work"),
        ("Tools and workflows", "tools and workflows that make {topic} work efficient"),
        ("Quality checks", "checking the quality of {topic} work"),
        ("Typical problems", "diagnosing typical problems in {topic} and fixing them"),
        ("Choosing between approaches", "trade-offs between competing approaches in {topic}"),
    ),
    "advanced": (
        ("Advanced techniques", "advanced techniques in {topic} and when they pay off"),
        ("Edge cases and limits", "edge cases and the limits of standard {topic} methods"),
        ("Performance and scale", "performance and scale in {topic}"),
        ("Critique", "critiquing published or production {topic} work"),
        ("Open questions", "open questions and current debates in {topic}"),
        ("Neighbouring fields", "what {topic} borrows from and lends to neighbouring fields"),
    ),
}

CORE_ANGLES: dict[Level, tuple[tuple[str, str], ...]] = {
    "beginner": (
        ("the key idea", "Introduces {f}: what it means, why it matters and one fully worked example."),
        ("step by step", "Walks through {f} one step at a time, naming each step and what can go wrong."),
        ("worked examples", "Works through three short examples of {f}, each a little harder than the last."),
        ("common mistakes", "Shows the mistakes newcomers make with {f} and how to spot them early."),
        ("in context", "Places {f} among the rest of the course: what it depends on and what builds on it."),
    ),
    "intermediate": (
        ("how it works", "Explains how {f} works and the decisions a practitioner makes along the way."),
        ("patterns", "Presents the recurring patterns for {f}, with one realistic example of each."),
        ("trade-offs", "Compares ways to achieve {f} and the trade-offs that decide between them."),
        ("pitfalls", "Examines where {f} goes wrong in real work and how experienced people avoid it."),
        ("beyond the basics", "Extends {f} to larger and messier cases than the earlier lessons."),
    ),
    "advanced": (
        ("principles", "Derives the principles behind {f} and the assumptions they rest on."),
        ("analysis", "Analyses {f} in depth: where the standard approach breaks and why."),
        ("edge cases", "Probes the edge cases of {f} with counter-examples and their resolutions."),
        ("the literature", "Reads what primary sources and expert practice say about {f}."),
        ("design choices", "Weighs the design choices behind {f} against their costs at scale."),
    ),
}

PRACTICE_ANGLES: tuple[tuple[str, str], ...] = (
    ("guided practice", "Practises {f} on guided exercises with worked solutions to check against."),
    ("independent exercises", "Applies {f} to fresh exercises without hints, then compares with a model answer."),
    ("case study", "Applies {f} to a realistic case and explains each decision taken."),
    ("find and fix", "Finds and fixes mistakes in flawed attempts at {f}."),
    ("timed challenge", "Does {f} against the clock, then reviews accuracy before speed."),
    ("peer review", "Does {f} on your own task, then reviews a peer's attempt against a checklist."),
)

CORE_ACTIVITIES: dict[Level, tuple[str, ...]] = {
    "beginner": (
        "Follow the worked example on {f} and redo it yourself without looking",
        "Answer three check-your-understanding questions on {f}",
        "Write down, in two sentences, when you would need {f}",
        "Make flashcards for the new terms this lesson uses",
    ),
    "intermediate": (
        "Study two worked examples of {f} and note where they differ",
        "Explain {f} to a peer in five minutes and collect their questions",
        "Sketch how you would apply {f} to a task from your own work",
        "List the decisions {f} involves and the option you would pick for each",
    ),
    "advanced": (
        "Read and annotate a primary source on {f}",
        "Write a one-page note justifying the approach to {f}",
        "Construct a counter-example that breaks a naive approach to {f}",
        "Present your analysis of {f} to peers and defend it",
    ),
}

PRACTICE_ACTIVITIES: tuple[str, ...] = (
    "Solve {n} exercises on {f}, from easy to hard, and check each against its solution",
    "Redo every exercise you got wrong and write one line on what went wrong",
    "Create your own exercise on {f}, solve it and swap it with a peer",
    "Apply {f} to a small real task and record the result",
)

FOUNDATIONS: dict[Level, tuple[tuple[str, str, str], ...]] = {
    "beginner": (
        ("Getting started: what {topic} is for", "what {topic} is used for and what this course will enable you to do",
         "List three situations where you would use {topic}"),
        ("Getting started: key vocabulary", "the handful of terms every later lesson uses",
         "Write each new term with a one-line definition and an example"),
        ("Getting started: tools and set-up", "the tools, materials and set-up the course relies on",
         "Set up the tools and check that a first small example works"),
        ("Getting started: a first guided example", "one complete, simple example done together from start to finish",
         "Redo the guided example on your own, start to finish"),
        ("Getting started: common misconceptions", "beliefs about {topic} that trip newcomers up",
         "Mark each statement in a short list as true or false and say why"),
        ("Getting started: how the parts fit", "a map of the course and how its topics depend on each other",
         "Draw the course map and mark what you already know"),
        ("Getting started: reading examples", "how to read an example closely and explain it in your own words",
         "Explain one example line by line to a peer"),
        ("Getting started: study habits", "how to practise between lessons so that skills stick",
         "Plan your practice sessions for the coming weeks"),
    ),
    "intermediate": (
        ("Refresher: the essentials", "the essentials this course assumes, checked quickly",
         "Take the self-check on the essentials and note any gaps"),
        ("Refresher: vocabulary and notation", "terms and notation used throughout the course",
         "Match each term and symbol to its meaning"),
        ("Refresher: tools of the trade", "the tools and workflow used in the exercises",
         "Set up the tools and run the first exercise end to end"),
        ("Refresher: a complete example", "a complete worked example at the level the course starts from",
         "Redo the worked example without notes"),
        ("Refresher: gaps to close", "a self-check that finds gaps to close before the core lessons",
         "Take the self-check and plan how to close each gap"),
    ),
    "advanced": (
        ("Refresher: prerequisites", "the prerequisites this course assumes, as a short self-check",
         "Take the prerequisite self-check and list what to revisit"),
        ("Refresher: notation and sources", "notation, conventions and the key sources used",
         "Skim the key sources and note their main claims"),
        ("Refresher: working set-up", "the environment and materials for the advanced exercises",
         "Prepare the environment and reproduce one reference result"),
    ),
}

ASSESSMENT_FORMATS: dict[Level, tuple[str, str]] = {
    "beginner": ("quiz", "a short quiz and a guided exercise"),
    "intermediate": ("practical exercise", "a practical exercise checked against a rubric"),
    "advanced": ("written analysis", "a written analysis or critique, assessed for depth and rigour"),
}

PROJECT_NAMES: dict[Level, str] = {
    "beginner": "Guided project",
    "intermediate": "Capstone project",
    "advanced": "Independent project",
}

PROJECT_STAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "scope": (
        "{name}: define the scope",
        "Chooses a realistic {topic} project that draws on {focuses} and fixes its goal, scope and "
        "success criteria.",
        ("Pick a project idea and write its goal in one sentence",
         "List what is in and out of scope and three success criteria",
         "Plan the {builds} build session(s) ahead with one milestone each"),
    ),
    "build": (
        "{name} build {n}: {milestone}",
        "Build session {n} of {builds}: works towards the next milestone ({milestone}) and records what changed.",
        ("Build the planned milestone: {milestone}",
         "Test the result against your success criteria",
         "Write a short log entry: what works, what is next"),
    ),
    "present": (
        "{name}: present and reflect",
        "Presents the finished project after {builds} build session(s), explains the choices behind it "
        "and reflects on what using {focuses} taught.",
        ("Prepare a short presentation or demo of the project",
         "Present it and answer questions about your decisions",
         "Write a reflection: what you would do differently next time"),
    ),
}

LEVEL_NOTES: dict[Level, str] = {
    "beginner": "Paced gently, with short checks for understanding.",
    "intermediate": "Assumes the basics and moves quickly to realistic work.",
    "advanced": "Goes deep, with open-ended problems and critique.",
}

TEMPLATE_WARNING = (
    "offline generator: titles, summaries and activities are template text built from the request "
    "(topic, level, objectives), not written by a subject expert; review them before teaching"
)
LANGUAGE_WARNING = "offline generator: text is in English only; the requested language {language!r} is not supported"
