"""Dates of the case: FHIR dates parsed, ages and times said the way clinicians say them.

A FHIR date or dateTime may be partial ("2019", "2019-04"); it counts from its first day, and
callers that need a real day (a birth date for an exact age) check the length first. Times are
given relative to ``today`` ("3 days ago", "2 months ago", "in 1 year") so that a de-identified
narrative keeps the course of the illness without its exact dates; ages use the unit clinicians
use at that age (days, then months up to two years, then years). :func:`holiday` gives the day
of a US holiday in a year ("Thanksgiving 2024" is 28 November 2024), so that a holiday date in a
note can be said relative to today like any other date.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

FIXED = {"christmas": (12, 25), "christmas eve": (12, 24), "new years": (1, 1), "new years eve": (12, 31),
         "fourth of july": (7, 4), "independence": (7, 4), "veterans": (11, 11), "halloween": (10, 31),
         "valentines": (2, 14), "juneteenth": (6, 19), "st patricks": (3, 17)}
NTH_WEEKDAY = {"mlk": (1, 0, 3), "presidents": (2, 0, 3), "memorial": (5, 0, -1), "labor": (9, 0, 1),
               "columbus": (10, 0, 2), "thanksgiving": (11, 3, 4), "mothers": (5, 6, 2), "fathers": (6, 6, 3)}
EASTER_OFFSET = {"easter": 0, "easter sunday": 0, "easter monday": 1, "good friday": -2}


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


def holiday(name: str, year: int) -> date | None:
    """The day of US holiday ``name`` ("Christmas Day", "Thanksgiving", "the 4th of July", "Easter
    Sunday", "MLK Day") in ``year``, or None for a name it does not know."""
    key = re.sub(r"['’.]", "", name.lower())
    key = re.sub(r"\bthe\b|\bday\b|\bjr\b", " ", key.replace("4th", "fourth").replace("xmas", "christmas")
                 .replace("labour", "labor").replace("martin luther king", "mlk"))
    key = " ".join(key.split())
    if key in FIXED:
        return date(year, *FIXED[key])
    if key in NTH_WEEKDAY:
        month, weekday, n = NTH_WEEKDAY[key]
        return _nth_weekday(year, month, weekday, n)
    if key == "black friday":
        return _nth_weekday(year, 11, 3, 4) + timedelta(days=1)
    if key in EASTER_OFFSET:
        return _easter(year) + timedelta(days=EASTER_OFFSET[key])
    return None


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th (-1: last) ``weekday`` (Monday 0) of ``month``."""
    if n < 0:
        last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


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
