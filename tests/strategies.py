"""Hypothesis strategies for curriculum requests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from jobs.models import CurriculumRequest, parse_request

_text = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), max_size=40)
topics = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=3, max_size=200
).filter(lambda t: len(t.strip()) >= 3)


@st.composite
def valid_request_dicts(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"topic": draw(topics)}
    if draw(st.booleans()):
        data["level"] = draw(st.sampled_from(["beginner", "intermediate", "advanced"]))
    if draw(st.booleans()):
        data["duration_weeks"] = draw(st.integers(1, 52))
    if draw(st.booleans()):
        data["hours_per_week"] = draw(
            st.one_of(
                st.integers(1, 40), st.floats(1, 40, allow_nan=False), st.sampled_from([1, 1.3, 39.99, 40])
            )
        )
    if draw(st.booleans()):
        data["objectives"] = draw(st.lists(st.text(max_size=300), max_size=20))
    if draw(st.booleans()):
        data["language"] = draw(st.sampled_from(["en", "de", "pt-BR", "zh-Hant"]))
    return data


def valid_requests() -> st.SearchStrategy[CurriculumRequest]:
    extremes = st.sampled_from(
        [
            {"topic": "Knitting", "duration_weeks": 1, "hours_per_week": 1},
            {"topic": "Knitting", "duration_weeks": 52, "hours_per_week": 40, "level": "advanced"},
            {"topic": "Knitting", "duration_weeks": 52, "hours_per_week": 40, "level": "beginner"},
            {"topic": "Knitting", "duration_weeks": 7, "hours_per_week": 1.3, "level": "intermediate"},
        ]
    )
    return st.one_of(extremes, valid_request_dicts()).map(parse_request)
