"""Wording of the offline generator: phrase banks per lesson kind and level.

The offline generator cannot know a subject, so its words are built from what the request does
say (objectives, topic, level) and from each lesson's kind and place in the course. It writes an
honest draft: no activity refers to material that does not exist (exercises, quizzes, examples
with their answers); where a lesson needs such material, one activity says so, starting with
``PREPARE``, addressed to the course author. Each bank entry is used once per focus (the n-th core
lesson on an objective gets the n-th angle and that angle's own activities), so no two lessons of
a course share an activity. ``{f}`` is the lesson's focus, ``{topic}`` the topic.
"""

from __future__ import annotations

from jobs.models import Level

#: Activities that name material the course author still has to write start with this.
PREPARE = "To prepare:"

#: An angle: (title part, summary, activities). Titles are "<focus>: <title part>".
Angle = tuple[str, str, tuple[str, ...]]

#: Sub-themes used as focuses when a request names no objectives: (short title, phrase with topic).
THEMES: dict[Level, tuple[tuple[str, str], ...]] = {
    "beginner": (
        ("Key terms and ideas", "the vocabulary and basic ideas of {topic}"),
        ("First techniques", "the first techniques a newcomer to {topic} learns"),
        ("Explaining examples", "reading simple {topic} examples and explaining them"),
        ("Typical first tasks", "the typical tasks a beginner in {topic} meets first"),
        ("Beginner errors", "the errors beginners in {topic} make and how to avoid them"),
        ("Careful practice", "working carefully and checking your own {topic} work"),
    ),
    "intermediate": (
        ("Core methods", "the core methods of {topic}"),
        ("Larger pieces of work", "planning and structuring larger pieces of {topic} work"),
        ("Tools and workflow", "tools and a workflow that make {topic} work efficient"),
        ("Checking quality", "judging the quality of {topic} work"),
        ("Diagnosing problems", "diagnosing typical problems in {topic} and fixing them"),
        ("Choosing between approaches", "trade-offs between competing approaches in {topic}"),
    ),
    "advanced": (
        ("Advanced techniques", "advanced techniques in {topic} and when they pay off"),
        ("Edge cases and limits", "edge cases and the limits of standard {topic} methods"),
        ("Performance and scale", "performance and scale in {topic}"),
        ("Critique", "critiquing published or production {topic} work"),
        ("Open questions", "open questions and current debates in {topic}"),
        ("Neighbouring fields", "links between {topic} and neighbouring fields"),
    ),
}

#: Sub-themes of a course in a skill learnt by doing it (``jobs.skills``) without objectives.
SKILL_THEMES: tuple[tuple[str, str], ...] = (
    ("Basic technique", "the basic technique of {topic}"),
    ("A steady routine", "a regular, sustainable {topic} routine"),
    ("Correcting errors", "spotting and correcting the usual errors in {topic}"),
    ("Longer sessions", "longer and harder {topic} sessions, built up gradually"),
    ("Judging progress", "judging your own {topic} and choosing next steps"),
    ("Putting it together", "complete {topic} sessions that combine everything so far"),
)

CORE_ANGLES: dict[Level, tuple[Angle, ...]] = {
    "beginner": (
        ("the key idea", "Introduces what {f} involves and why it matters, with one example from start to finish.",
         ("Say in three sentences of your own what {f} involves",
          "Name one situation from your own life or work where you would need {f}")),
        ("step by step", "Breaks {f} into steps, naming each one and what can go wrong.",
         ("Write the steps of {f} as a numbered list from memory",
          "Mark the step you find hardest in {f} and say why")),
        ("three examples", "Looks at three short examples of {f}, each a little harder than the last.",
         ("Describe what the three examples of {f} have in common",
          "Make up a fourth, harder example for {f} and explain it to a peer")),
        ("where it goes wrong", "Shows where newcomers go wrong with {f} and how to notice it early.",
         ("List the warning signs that work on {f} is going wrong",
          "Tell a peer about one error you made with {f} and how you spotted it")),
        ("in context", "Places {f} in the course: what it depends on and what later lessons build on it.",
         ("Draw how {f} connects to the lessons before it",
          "Write two questions about {f} that you expect later lessons to answer")),
        ("recap and questions", "Brings together what the course has said about {f} so far and settles open questions.",
         ("Summarise {f} on one page without notes",
          "Collect the open questions you still have on {f} and ask them")),
    ),
    "intermediate": (
        ("how it works", "Explains what {f} takes in practice and the decisions a practitioner makes along the way.",
         ("List the decisions involved in {f} and what you would choose for each",
          "Talk a peer through {f} in five minutes and collect their questions")),
        ("patterns", "Presents recurring patterns for {f}, with one realistic case of each.",
         ("Name the pattern for {f} you would reach for first and why",
          "Sketch how one of the patterns for {f} fits a task from your own work")),
        ("trade-offs", "Compares approaches to {f} and the trade-offs that decide between them.",
         ("Write a short comparison of two approaches to {f}",
          "Argue for one approach to {f} with a peer who argues for another")),
        ("pitfalls", "Examines where {f} goes wrong in real work and how experienced people avoid it.",
         ("Describe a pitfall of {f} you have met or can imagine, and its fix",
          "Turn the pitfalls of {f} into a short list of checks for your own work")),
        ("beyond the basics", "Extends {f} to larger and messier cases than the earlier lessons.",
         ("Pick a messy, realistic case and plan how {f} applies to it",
          "Note which assumptions about {f} stop holding in larger cases")),
        ("working habits", "Turns {f} into a routine: what to do every time, and what only sometimes.",
         ("Write your own routine for {f} in at most seven steps",
          "Compare your routine for {f} with a peer's and merge the best of both")),
    ),
    "advanced": (
        ("principles", "Derives the principles behind {f} and the assumptions they rest on.",
         ("Write down the assumptions behind {f} and test each against a case",
          "Present the principles of {f} to peers and defend them")),
        ("analysis", "Analyses {f} in depth: where the standard approach breaks and why.",
         ("Write a one-page analysis of where the standard approach to {f} breaks",
          "Compare your analysis of {f} with a peer's and reconcile the differences")),
        ("edge cases", "Probes the edge cases of {f} with counter-examples and their resolutions.",
         ("Construct a counter-example that breaks a naive approach to {f}",
          "Resolve a peer's counter-example on {f}")),
        ("the state of the art", "Surveys what current expert practice says about {f} and where it disagrees.",
         ("Summarise two opposing expert positions on {f}",
          "Decide which position on {f} you find stronger and write why")),
        ("design choices", "Weighs the design choices behind {f} against their costs at scale.",
         ("List the design choices behind {f} with the cost of each",
          "Defend one design choice for {f} in a short written note")),
        ("synthesis", "Connects {f} with the rest of the course into one coherent picture.",
         ("Draw a concept map placing {f} among the course's other topics",
          "Write the three most important open problems you see in {f}")),
    ),
}

PRACTICE_ANGLES: tuple[Angle, ...] = (
    ("guided practice", "Works on {f} with graded exercises, easiest first, with help at hand.",
     (f"{PREPARE} {{n}} graded exercises on {{f}}, easiest first, with their answers for the teacher",
      "Work through the exercises on {f} in order, asking for help as soon as you are stuck")),
    ("independent exercises", "Works on {f} with fresh exercises and no hints, then checks the results with a peer.",
     (f"{PREPARE} {{n}} new exercises on {{f}} of the same level, without hints",
      "Do the exercises on {f} alone, then compare results with a peer and settle differences")),
    ("a realistic case", "Works on {f} in a realistic case and explains each decision taken.",
     ("Choose a realistic case from your own life or work that needs {f}",
      "Work on {f} in your case and write one line on each decision you took")),
    ("find and fix", "Finds and fixes errors in flawed attempts at {f}.",
     (f"{PREPARE} three attempts at {{f}}, each with one deliberate error",
      "Find and fix the error in each flawed attempt at {f}, and say how you found it")),
    ("against the clock", "Works on {f} against the clock, then reviews accuracy before speed.",
     ("Do as much work on {f} as you can in a fixed time",
      "Check your timed work on {f} for errors before you look at your speed")),
    ("peer review", "Works on {f} in a task of your own, then reviews a peer's attempt.",
     ("Set yourself a small task that needs {f} and complete it",
      "Review a peer's task on {f}: one strength, one thing to improve")),
)

#: Practice sessions of a skill, per ``jobs.skills.Skill.name``: (session type, what it trains).
SKILL_SESSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "running": (
        ("easy run", "an easy run at conversational pace that builds the aerobic base"),
        ("long run", "the week's longest run at an easy pace, a little longer than the last"),
        ("tempo run", "a steady, comfortably hard run that raises the pace you can hold"),
        ("interval session", "short, fast repeats with easy jogging between them"),
        ("hill repeats", "repeated uphill efforts that build strength and form"),
        ("recovery run", "a short, very easy run that keeps the legs moving after hard days"),
    ),
    "painting": (
        ("colour mixing studies", "small swatches mixed from a limited palette"),
        ("value study", "a study in one colour that gets lights and darks right"),
        ("wet-on-wet session", "washes and soft edges painted into wet paper"),
        ("layering and glazing", "transparent layers over dry paint"),
        ("a small complete painting", "one small painting from first wash to last detail"),
        ("painting from life", "a painting made from a real subject in front of you"),
    ),
    "instrument": (
        ("slow practice", "difficult passages played slowly and cleanly"),
        ("technique drills", "short drills on one technical point at a time"),
        ("run-through", "pieces played from start to finish without stopping"),
        ("playing along", "playing along with a recording or a metronome"),
        ("recording session", "a take recorded, listened to and played again"),
        ("new material", "a new piece or passage learnt in small sections"),
    ),
    "training": (
        ("technique session", "movement quality at low intensity"),
        ("endurance session", "longer work at a steady, moderate effort"),
        ("strength session", "controlled work against resistance"),
        ("skills drills", "short drills on one skill at a time"),
        ("interval session", "hard efforts with rest between them"),
        ("easy recovery session", "light movement that helps recovery"),
    ),
    "cooking": (
        ("preparation skills", "cutting, weighing and preparing ingredients"),
        ("a recipe step by step", "a recipe followed exactly, step by step"),
        ("a recipe from memory", "a recipe cooked again without reading it"),
        ("timing it all", "every step of a recipe timed so that it is ready when planned"),
        ("varying a recipe", "a known recipe with one deliberate change"),
        ("cooking for others", "something made for other people, with their feedback"),
    ),
    "craft": (
        ("technique samples", "small samples of one technique"),
        ("a small practice piece", "one small piece made from start to finish"),
        ("fixing mistakes", "undoing and repairing typical mistakes"),
        ("a piece from a pattern", "a piece made from an existing pattern or plan"),
        ("a piece of your own design", "a piece you designed yourself"),
        ("finishing and presenting", "finishing touches and presenting the work"),
    ),
}

FOUNDATIONS: dict[Level, tuple[tuple[str, str, str], ...]] = {
    "beginner": (
        ("Getting started: what {topic} is for", "what {topic} is used for and what this course will enable you to do",
         "List three situations where {topic} would help you"),
        ("Getting started: key vocabulary", "the handful of terms every later lesson uses",
         "Start a glossary of {topic} with a one-line definition for each new term"),
        ("Getting started: equipment and set-up", "the equipment, materials and set-up the course relies on",
         "Check that you have everything the course needs for {topic} and try it once"),
        ("Getting started: a first attempt", "one simple piece of {topic} done together from start to finish",
         "Repeat the first {topic} attempt on your own, start to finish"),
        ("Getting started: misconceptions", "beliefs about {topic} that trip newcomers up",
         "Write down what you believe about {topic} now, to compare at the end of the course"),
        ("Getting started: how the parts fit", "a map of the course and how its topics depend on each other",
         "Draw the course map and mark what you already know about {topic}"),
        ("Getting started: learning from examples", "how to look at a {topic} example closely and explain it",
         "Explain one {topic} example to a peer in your own words"),
        ("Getting started: study habits", "how to practise between lessons so that skills stick",
         "Plan when you will practise {topic} in the coming weeks"),
    ),
    "intermediate": (
        ("Refresher: the essentials", "the essentials this course assumes, checked quickly",
         "Write what you already know of the essentials of {topic} and mark any gaps"),
        ("Refresher: vocabulary and notation", "terms and notation used throughout the course",
         "Write each term and symbol of {topic} you know with its meaning"),
        ("Refresher: tools of the trade", "the tools and workflow used in the exercises",
         "Set up the tools for {topic} and try them on a small task of your own"),
        ("Refresher: a complete task", "one complete task at the level the course starts from",
         "Do one small, complete {topic} task without notes"),
        ("Refresher: gaps to close", "the gaps to close before the core lessons, and how",
         "Plan how you will close each gap in {topic} you found"),
    ),
    "advanced": (
        ("Refresher: prerequisites", "the prerequisites this course assumes",
         "List the {topic} prerequisites you should revisit before the core lessons"),
        ("Refresher: notation and conventions", "the notation and conventions used throughout",
         "Write down the {topic} conventions you use and where they differ from the course's"),
        ("Refresher: working set-up", "the environment and materials for the advanced work",
         "Prepare your {topic} environment and reproduce one result you trust"),
    ),
}

#: Per level: (kind, how it assesses, what the course author prepares for module {n}).
ASSESSMENT_FORMATS: dict[Level, tuple[str, str, str]] = {
    "beginner": ("quiz", "a short quiz", "a short quiz on module {n}, with its answers for the teacher"),
    "intermediate": ("practical exercise", "a practical exercise marked against criteria set in advance",
                     "a practical exercise for module {n} and the criteria for marking it"),
    "advanced": ("written analysis", "a written analysis, assessed for depth and rigour",
                 "a question for module {n}'s written analysis and how it will be assessed"),
}
SKILL_ASSESSMENT = ("practical demonstration", "a practical demonstration, observed and given feedback",
                    "a practical task for module {n} and what the observer looks for")

PROJECT_NAMES: dict[Level, str] = {
    "beginner": "Guided project",
    "intermediate": "Capstone project",
    "advanced": "Independent project",
}

#: The capstone of a course in a skill learnt by doing it, per ``jobs.skills.Skill.name``.
SKILL_PROJECT_NAMES: dict[str, str] = {
    "running": "Goal run", "painting": "Final painting", "instrument": "Performance piece",
    "training": "Personal goal", "cooking": "Signature dish", "craft": "Final piece",
}

LEVEL_NOTES: dict[Level, str] = {
    "beginner": "Paced gently, with short checks for understanding.",
    "intermediate": "Assumes the basics and moves quickly to realistic work.",
    "advanced": "Goes deep, with open-ended problems and critique.",
}

TEMPLATE_WARNING = (
    "offline generator: this is a template draft built from the request (topic, level, objectives), "
    f"not written by a subject expert; activities starting '{PREPARE}' name material the course author "
    "still has to write; review everything before teaching"
)
THEMES_WARNING = (
    "offline generator: no objectives were requested, so lessons are organised around generic sub-themes "
    "({themes}), not the subject's own topics; add objectives to get a course built around them"
)
REPEAT_WARNING = (
    "offline generator: up to {most} lessons on one objective or sub-theme outrun the template's {angles} "
    "angles, so its titles number them and the angles recur; finer-grained objectives give a better draft"
)
LANGUAGE_WARNING = "offline generator: text is in English only; the requested language {language!r} is not supported"
