"""Dates of the case: FHIR dates parsed, ages and times said the way clinicians say them.

A FHIR date or dateTime may be partial ("2019", "2019-04"); it counts from its first day, and
callers that need a real day (a birth date for an exact age) check the length first. Times are
given relative to ``today`` ("3 days ago", "2 months ago", "in 1 year") so that a de-identified
narrative keeps the course of the illness without its exact dates; ages use the unit clinicians
use at that age (days, then months up to two years, then years).
"""
from __future__ import annotations

import re
from datetime import date


def parse_iso(value: str | None) -> date | None:
    """The date of a FHIR date/dateTime (``YYYY-MM-DD…``); a partial date counts from its first day."""
    if not value:
        return None
    m = re.match(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    except ValueError:
        return None


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month - (later.day < earlier.day)


def age_parts(birth: date, at: date) -> tuple[int, str]:
    """(7, "year"), (18, "month"), (10, "day"): the age at ``at`` in the unit clinicians use."""
    months = _months_between(birth, at)
    if months < 1:
        return (at - birth).days, "day"
    if months < 24:
        return months, "month"
    return months // 12, "year"


def age_text(birth: date, at: date) -> str:
    """"7 years", "18 months", "10 days"."""
    return _plural(*age_parts(birth, at))


def relative(d: date, today: date, *, month_only: bool = False) -> str:
    """"today", "3 days ago", "2 months ago", "in 1 year" — ``d`` relative to ``today``."""
    future = d > today
    a, b = (today, d) if future else (d, today)
    if month_only:
        months = (b.year - a.year) * 12 + b.month - a.month
        if months == 0:
            return "this month"
        amount = _plural(months, "month") if months < 24 else _plural(months // 12, "year")
    else:
        days = (b - a).days
        if days == 0:
            return "today"
        if days == 1:
            return "tomorrow" if future else "yesterday"
        months = _months_between(a, b)
        if days < 14:
            amount = _plural(days, "day")
        elif months < 2:
            amount = _plural(days // 7, "week")
        elif months < 24:
            amount = _plural(months, "month")
        else:
            amount = _plural(months // 12, "year")
    return f"in {amount}" if future else f"{amount} ago"


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
