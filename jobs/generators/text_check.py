"""Is a written lesson real text? Placeholders, echoed reply shapes, repeats and the wrong language.

A reply can be valid JSON of the right shape and still be no lesson: the reply shape echoed back
(``"string (2-4 sentences)"``), one text for every lesson, English in a French course. Each such
lesson is re-asked once, then replaced by template text with a warning.

The language is identified with ``py3langid`` (its model ships inside the package; nothing is
downloaded). Only confident verdicts count: a lesson is in the wrong language when the identifier
is at least ``CONFIDENT`` sure of another language it knows and gives the requested one almost
nothing. Short texts and languages the identifier does not know are never judged.

Courses in English are not judged: models drift *into* English, not out of it, and the
identifier's model costs about 0.8 s and 87 MiB to load. It is loaded in the work horse of the
first non-English course that needs it (not preloaded by the worker: shared or not, that memory
would be paid by every instance, and the Blueprint sizes ten busy jobs into 512 MB).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from jobs.design import normal

#: How sure the identifier must be of another language before a lesson is called wrong.
CONFIDENT = 0.9
#: ... and how little it may give the requested language.
UNLIKELY = 0.05
#: The language whose courses are not judged (see above).
SKIPPED = "en"
#: Texts shorter than this are not judged (a title-like text is often ambiguous).
MIN_JUDGED_CHARS = 60
_PLACEHOLDER = re.compile(
    r"(string|text|str|summary|activity|\.\.\.|…|tbd|todo|n/?a|none|null|lorem ipsum.*|<[^>]*>|\[[^\]]*\]"
    r"|string \(.*\)|\(.*\))"
)


@functools.cache
def _identifier() -> object:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def placeholder(text: str, shape_hints: Iterable[str] = ()) -> bool:
    """An echoed hint from the reply shape, or text that only stands in for text."""
    key = normal(text)
    return not key or key in {normal(h) for h in shape_hints} or _PLACEHOLDER.fullmatch(key) is not None


def wrong_language(text: str, language: str, names: Iterable[str] = ()) -> bool:
    """Whether ``text`` is confidently in another language than ``language`` (a BCP 47 tag).

    ``names`` (the topic, the lesson's title) are taken out first: they are the learner's words, and
    a name such as "Kubernetes" or an English topic in a French course says nothing of the text.
    """
    expected = language.split("-")[0].lower()
    if expected == SKIPPED:
        return False
    for name in sorted(names, key=len, reverse=True):
        if name.strip():
            text = text.replace(name, " ")
    if len(text) < MIN_JUDGED_CHARS:
        return False
    identifier = _identifier()
    labels = set(identifier.labels)  # type: ignore[attr-defined]
    if expected not in labels:
        return False
    ranked = dict(identifier.rank(text))  # type: ignore[attr-defined]
    best = max(ranked, key=lambda lang: ranked[lang])
    return bool(best != expected and ranked[best] >= CONFIDENT and ranked.get(expected, 0.0) < UNLIKELY)
