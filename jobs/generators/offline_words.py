"""Small wording helpers of the offline generator: short labels, joined lists, titles that fit.

Titles stay within ``TITLE_MAX`` characters, so a long objective or topic is shortened (with "…")
where it names a lesson; summaries quote objectives in full.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Longest title the offline generator writes (lessons and modules).
TITLE_MAX = 90
#: Longest focus label in a title.
LABEL_MAX = 60


def short(value: str, limit: int = LABEL_MAX) -> str:
    """``value`` with whitespace normalised, cut at a word boundary to ``limit`` characters (with "…")."""
    value = " ".join(value.split())
    if len(value) <= limit:
        return value
    cut = value[: limit - 1].rsplit(" ", 1)[0] or value[: limit - 1]
    return cut.rstrip(" ,;:.") + "…"


def joined(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return f"{items[0]}, {items[1]} and {len(items) - 2} more"


def listed(items: Sequence[str]) -> str:
    """Every item, "a, b and c": for summaries, which name each objective in full."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def fitted(template: str, labels: Sequence[str]) -> str:
    """``template`` (with one ``{}``) filled with the joined labels, each shortened until the title fits."""
    limit = LABEL_MAX
    while True:
        title = template.format(joined([short(label, limit) for label in labels]))
        if len(title) <= TITLE_MAX or limit <= 8:
            return title if len(title) <= TITLE_MAX else short(title, TITLE_MAX)
        limit -= 4


def title_case_start(label: str) -> str:
    """"clean CSV data" starts a title as "Clean CSV data"; "iPhone apps" or "pandas" stay as written
    only when the first word has capitals of its own (a name)."""
    first = label.split(" ", 1)[0]
    return label[:1].upper() + label[1:] if first.islower() and first.isalpha() else label


def unique_labels(objectives: Sequence[str]) -> list[str]:
    """A short title label per objective, no two alike (ignoring case and spacing): labels that
    collide when shortened keep the objective's end as well, then its number in the request."""
    labels = [title_case_start(short(o)) for o in objectives]
    for index, label in enumerate(labels):
        if _count(labels, label) > 1:
            whole = " ".join(objectives[index].split())
            labels[index] = short(whole, 30) + " … " + whole[-25:].lstrip() if len(whole) > LABEL_MAX else label
    for index, label in enumerate(labels):
        if _count(labels, label) > 1:
            labels[index] = f"Objective {index + 1}: {short(label, LABEL_MAX - 14)}"
    return labels


def _count(labels: Sequence[str], label: str) -> int:
    key = " ".join(label.split()).casefold()
    return sum(1 for other in labels if " ".join(other.split()).casefold() == key)
