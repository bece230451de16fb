"""Dates in free text, found and said relative to ``today`` for :mod:`app.case.deidentify`.

Exact dates become times relative to ``today`` (:func:`app.case.dates.relative`; the birth date
becomes "[date of birth]"); a date without a year becomes "[date]". Years alone stay (Safe Harbor
allows them). Holidays are dates too: "Christmas Day 2025", "Thanksgiving weekend 2024", "the 4th
of July 2026" become relative times (:func:`app.case.dates.holiday`), and a holiday without a year
("since Easter") becomes "[date]"; the names must be capitalised ("Labor Day", not "labor"), except
the unambiguous "christmas", "xmas", "thanksgiving", "easter", "halloween", "juneteenth".

A bare "M/D" is a date only with plausible numbers (month 1–12, day 1–31), a date cue just
before it ("on", "since", "until", "seen", "DOS:", "last visit", …) or a clock time after it, and no
measurement: none of "strength", "murmur", "vision", "BP", "score", "pain", "Apgar", … in the three
words before it (unless that word's scale does not fit: "murmur heard on 5/12" is a date, murmurs
are graded x/6), none right after it ("3/6 systolic murmur", "2/5 strength", "20/40 vision"), and
no same-denominator pair ("from 3/5 to 4/5"). So ratios, grades and blood pressures stay.
"""
from __future__ import annotations

import re
from datetime import date

from .dates import holiday, relative

MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
          "oct": 10, "nov": 11, "dec": 12}
MONTH = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
         r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
MONTH_CAP = (r"(?P<mon>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
             r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
ON = r"(?P<on>\b(?:on|in|dated)\s+)?"
DATE_PATTERNS = [  # (regex, precision); day, month (number or name) and year as named groups
    ((rf"{ON}(?<![\d-])(?P<year>\d{{4}})-(?P<month>\d{{2}})-(?P<day>\d{{2}})"
      r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\d-])"), "day"),
    (rf"{ON}(?<![\d/.])(?P<year>\d{{4}})(?P<sep>[/.])(?P<month>\d{{1,2}})(?P=sep)(?P<day>\d{{1,2}})(?![\d/]|[.-]\d)", "day"),
    (rf"{ON}(?<![\d/.-])(?P<a>\d{{1,2}})(?P<sep>[/.-])(?P<b>\d{{1,2}})(?P=sep)(?P<year>\d{{4}}|\d{{2}})(?![\d/]|[.-]\d)",
     "day"),
    (rf"(?i:{ON}(?:the\s+)?\b{DAY}(?:\s+of)?[\s-]*{MONTH},?[\s-]*(?P<year>\d{{4}}|\d{{2}})\b)", "day"),
    (rf"(?i:{ON}\b{MONTH}\s+{DAY},?\s+(?P<year>\d{{4}})\b)", "day"),
    (rf"(?i:{ON}\b{MONTH}(?:\s+of)?,?\s+(?P<year>\d{{4}})\b)", "month"),
    (rf"(?i:{ON}\b{MONTH}\s+['’](?P<year>\d{{2}})\b)", "month"),
    (r"(?<![\d-])(?P<year>(?:19|20)\d{2})-(?P<month>0[1-9]|1[0-2])(?![\d-])", "month"),
    (r"(?<![\d/.-])(?P<month>1[0-2]|0?[1-9])/(?P<year>(?:19|20)\d{2})(?![\d/])", "month"),
    (rf"{ON}\b{MONTH_CAP}\s+{DAY}\b(?![:\d])", "none"),
    (rf"{ON}(?:\bthe\s+)?\b{DAY}\s+(?:of\s+)?{MONTH_CAP}\b(?!\s*\d)", "none"),
]
DATES = [(re.compile(p), precision) for p, precision in DATE_PATTERNS]
MONTH_DAY = re.compile(r"(?<![\w/.:-])(?P<m>1[0-2]|0?[1-9])/(?P<d>3[01]|[12]\d|0?[1-9])(?![\w/]|[.,]\d|-\d)")
DATE_CUE = re.compile(r"(?i)\b(?:on|since|from|until|till|through|thru|to|by|before|after|dated|starting|beginning|"
                      r"as of|effective|due|last|next|seen|visit|admitted|discharged|returned|presented|scheduled|"
                      r"appointment|appt|f/u|follow[- ]?up|dos|date|drawn|collected|started|stopped|began|ended|"
                      r"born|died|week of)\W{0,3}$")
TIME_AFTER = re.compile(r"[ \t]+(?:at[ \t]+)?\d{1,2}:\d{2}|[ \t]+\d{4}h?\b")
SCALE = {"strength": "5", "power": "5", "motor": "5", "mmt": "5", "murmur": "6", "pain": "10", "moca": "30", "mmse": "30",
         "beighton": "9", "gcs": "15"}  # a measurement word whose scale does not fit "M/D" does not stop a date
MEASURE_BEFORE = re.compile(r"(?i)\b(?P<word>strength|power|motor|mmt|murmur|grade|vision|acuity|va|bp|blood pressure|"
                            r"pressure|score|scored|scale|pain|apgars?|ratio|rated|reflexes|dtrs?|moca|mmse|gcs|out of|"
                            r"tanner|fraction|beighton|sensation|tone|effort|dilation|station|titer|titre|dilution)\b"
                            r"\W+(?:[a-z]+\W+){0,2}$")
MEASURE_AFTER = re.compile(r"(?i)[ \t]*(?:(?:holo|pan|early |late |mid)?systolic|diastolic|murmur|strength|power|vision|"
                           r"acuity|mmhg|bilaterally|throughout|in (?:the )?(?:left|right|bilateral|both|proximal|"
                           r"distal|upper|lower|all)|od|os|ou|on the (?:left|right)|to \d+/|-\d+/)\b")

_CI = {w: f"[{w[0].upper()}{w[0]}]{w[1:]}" for w in ("christmas", "xmas", "thanksgiving", "easter", "halloween",
                                                    "juneteenth")}
HOLIDAY_NAME = (rf"(?:{_CI['christmas']}|{_CI['xmas']})(?:[ \t]+(?:Day|Eve))?|New[ \t]+Year['’]?s(?:[ \t]+(?:Day|Eve))?|"
                rf"{_CI['thanksgiving']}(?:[ \t]+Day)?|{_CI['easter']}(?:[ \t]+(?:Sunday|Monday))?|Good[ \t]+Friday|"
                r"Black[ \t]+Friday|(?:the[ \t]+)?(?:Fourth|4th)[ \t]+of[ \t]+July|Independence[ \t]+Day|Memorial[ \t]+Day|"
                r"Labou?r[ \t]+Day|Veterans['’]?[ \t]+Day|Valentine['’]?s(?:[ \t]+Day)?|Mother['’]?s[ \t]+Day|"
                r"Father['’]?s[ \t]+Day|(?:MLK|Martin[ \t]+Luther[ \t]+King(?:,?[ \t]+Jr\.?)?)[ \t]+Day|"
                r"Presidents['’]?[ \t]+Day|Columbus[ \t]+Day|St\.?[ \t]+Patrick['’]?s[ \t]+Day|"
                rf"{_CI['halloween']}|{_CI['juneteenth']}")
HOLIDAY = re.compile(rf"{ON}\b(?P<name>{HOLIDAY_NAME})(?![\w'’])(?:[ \t]+(?:weekend|break|holidays?|week))?"
                     r"(?:,?[ \t]+(?P<year>(?:19|20)\d{2})\b)?")


def scrub_dates(text: str, today: date, birth: date | None) -> str:
    """``text`` with its dates (holidays included) said relative to ``today`` or as "[date]"."""
    text = HOLIDAY.sub(lambda m: _holiday(m, today), text)
    for pattern, precision in DATES:
        text = pattern.sub(lambda m, p=precision: _date(m, p, today, birth), text)
    return MONTH_DAY.sub(lambda m: "[date]" if _is_month_day(m) else m[0], text)


def _holiday(m: re.Match, today: date) -> str:
    d = holiday(m["name"], int(m["year"])) if m["year"] else None
    return relative(d, today) if d else (m["on"] or "") + "[date]"


def _date(m: re.Match, precision: str, today: date, birth: date | None) -> str:
    on = m.groupdict().get("on") or ""
    d = _match_date(m, today) if precision != "none" else None
    if d is None:
        return on + "[date]"
    if precision == "day" and birth and d == birth:
        return on + "[date of birth]"
    return relative(d, today, month_only=precision == "month")


def _is_month_day(m: re.Match) -> bool:
    """Whether a bare "M/D" is a date (see the module docstring for the rule)."""
    text, start, end = m.string, m.start(), m.end()
    measure = MEASURE_BEFORE.search(text[max(0, start - 40):start])
    if (measure and SCALE.get(measure["word"].lower(), m["d"]) == m["d"]) or MEASURE_AFTER.match(text, end):
        return False
    after = re.match(r"[ \t]*(?:to|-|–|→)[ \t]*\d{1,2}/(\d{1,2})\b", text[end:])
    before = re.search(r"\d{1,2}/(\d{1,2})[ \t]*(?:to|-|–|→)[ \t]*$", text[max(0, start - 12):start])
    if (after and after[1] == m["d"]) or (before and before[1] == m["d"]):
        return False  # "from 3/5 to 4/5": a scale, not dates
    return bool(DATE_CUE.search(text[max(0, start - 25):start]) or TIME_AFTER.match(text, end))


def _match_date(m: re.Match, today: date) -> date | None:
    """The date a DATE_PATTERNS match names (US month/day order unless impossible), or None."""
    g = m.groupdict()
    year = int(g["year"])
    if year < 100:
        year += 2000 if year <= today.year % 100 else 1900
    if g.get("mon"):
        month, day = MONTHS[g["mon"][:3].lower()], int(g.get("day") or 1)
    elif g.get("a"):
        month, day = int(g["a"]), int(g["b"])
        if month > 12:
            month, day = day, month
    else:
        month, day = int(g["month"]), int(g.get("day") or 1)
    try:
        return date(year, month, day)
    except ValueError:
        return None
