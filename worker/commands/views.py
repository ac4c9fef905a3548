"""Readable views of jobs and curricula for a person at a terminal.

A curriculum is hundreds of lines of JSON; a person wants to see its shape (modules, lessons,
weeks, which objectives it covers) and can ask for ``--json`` when a program reads it. Nothing
here prints a Python repr.
"""

from __future__ import annotations

import json
from typing import Any


def progress_text(progress: Any) -> str:
    """``stage done/total``, or ``-`` when the job reports none."""
    if not isinstance(progress, dict):
        return "-"
    return f"{progress.get('stage', '?')} {progress.get('done', 0)}/{progress.get('total', 0)}"


def status_lines(outcome: dict[str, Any]) -> list[str]:
    """The ``status`` command's readable view of a job status object."""
    lines = [f"job       {outcome['job_id']}", f"status    {outcome['status']}",
             f"progress  {progress_text(outcome['progress'])}"]
    if outcome["error"]:
        lines.append(f"error     {outcome['error']}")
    result = outcome["result"]
    if isinstance(result, dict) and "modules" in result:
        lines += ["", *curriculum_lines(result)]
    elif result is not None:
        lines.append(f"result    {json.dumps(result)}")
    return lines


def curriculum_lines(result: dict[str, Any]) -> list[str]:
    """A screenful: modules, the weekly load, objective coverage, warnings and totals."""
    generator = result.get("generator") or {}
    lessons = sum(len(module["lessons"]) for module in result["modules"])
    lines = [f"{result['topic']} ({result['level']}, {result['duration_weeks']} weeks x "
             f"{result['hours_per_week']:g} h): {len(result['modules'])} modules, {lessons} lessons, "
             f"by {generator.get('name', '?')}/{generator.get('model', '?')}"]
    for number, module in enumerate(result["modules"], 1):
        minutes = sum(lesson["minutes"] for lesson in module["lessons"])
        lines.append(f"  {number}. {module['title']}  ({len(module['lessons'])} lessons, {minutes} min)")
    lines.append("  schedule: " + _week_range(result["schedule"]))
    for item in result.get("objectives_coverage", []):
        lines.append(f"  objective \"{item['objective']}\" -> {', '.join(item['modules']) or 'not covered'}")
    lines += [f"  not covered: {text}" for text in result.get("uncovered_objectives") or []]
    lines += [f"  warning: {text}" for text in result.get("warnings") or []]
    available = result["duration_weeks"] * result["hours_per_week"] * 60
    lines.append(f"  total {result['total_minutes']} min of {available:g} available")
    return lines


def _week_range(schedule: list[dict[str, Any]]) -> str:
    counts = sorted(len(week["lesson_ids"]) for week in schedule)
    minutes = sorted(week["minutes"] for week in schedule)

    def span(values: list[int]) -> str:
        return f"{values[0]}" if values[0] == values[-1] else f"{values[0]}-{values[-1]}"

    return f"{len(schedule)} weeks, {span(counts)} lessons and {span(minutes)} min a week"
