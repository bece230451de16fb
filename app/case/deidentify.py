"""De-identification of the text that leaves the app for RaDaR.

On by default, since the inference service may run in another trust zone: removes the
patient's names, identifiers, phone numbers, e-mail and postal addresses, URLs, practitioners
named as "Dr. X", and turns exact dates into times relative to ``today`` (see
:mod:`app.case.dates`); the birth date becomes "[date of birth]".
"""
from __future__ import annotations

import re
from datetime import date

from .dates import parse_iso, relative

MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
          "oct": 10, "nov": 11, "dec": 12}
MONTH = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
         r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
ON = r"(?P<on>\b(?:on|in|dated)\s+)?"
DATE_PATTERNS = [  # (regex, precision); day, month (number or name) and year as named groups
    ((rf"{ON}(?<![\d-])(?P<year>\d{{4}})-(?P<month>\d{{2}})-(?P<day>\d{{2}})"
      r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\d-])"), "day"),
    (rf"{ON}(?<![\d/.])(?P<year>\d{{4}})(?P<sep>[/.])(?P<month>\d{{1,2}})(?P=sep)(?P<day>\d{{1,2}})(?![\d/.])", "day"),
    (rf"{ON}(?<![\d/.-])(?P<a>\d{{1,2}})(?P<sep>[/.-])(?P<b>\d{{1,2}})(?P=sep)(?P<year>\d{{4}}|\d{{2}})(?![\d/.-])",
     "day"),
    (rf"(?i:{ON}\b{DAY}(?:\s+of)?[\s-]+{MONTH},?[\s-]+(?P<year>\d{{4}}|\d{{2}})\b)", "day"),
    (rf"(?i:{ON}\b{MONTH}\s+{DAY},?\s+(?P<year>\d{{4}})\b)", "day"),
    (rf"(?i:{ON}\b{MONTH},?\s+(?P<year>\d{{4}})\b)", "month"),
    (r"(?<![\d-])(?P<year>(?:19|20)\d{2})-(?P<month>0[1-9]|1[0-2])(?![\d-])", "month"),
    ((rf"{ON}\b(?P<mon>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
      r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?\s+" + DAY + r"\b(?![:\d])"), "none"),
]
DATES = [(re.compile(p), precision) for p, precision in DATE_PATTERNS]
URL = re.compile(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONES = [
    re.compile(r"(?<![\w+])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}(?!\d)"),
    re.compile(r"\+\d{1,3}(?:[\s.-]?\d){7,12}(?!\d)"),
    re.compile(r"(?i)(?P<key>\b(?:phone|tel|telephone|cell|mobile|fax|call|contact)\b\W{0,4})\d{3}[\s.-]\d{4}(?!\d)"),
]
IDS = [
    re.compile(r"(?i)(?P<key>\b(?:MRN|MR#|medical record (?:number|no\.?)|account|acct|SSN|patient id)\s*[:#]?\s*)"
               r"[A-Z0-9][A-Z0-9-]{3,}"),
    re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"),
    re.compile(r"(?<![\w.,])[A-Z]{0,3}-?\d{7,}(?![\w.,])"),
]
STREET = re.compile(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:St|Street|Rd|Road|Ave|Avenue|Blvd|Boulevard|Ln|Lane|"
                    r"Dr|Drive|Ct|Court|Way|Pl|Place|Ter|Terrace|Hwy|Highway)\b\.?")
PRACTITIONER = [
    re.compile(r"\b(?:Dr|Doctor)\.?\s+(?:[A-Z]\.\s*)?[A-Z][\w'’-]+(?:\s+[A-Z][a-z][\w'’-]*)?"),
    re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][\w'’-]+,\s*(?:MD|DO|PhD|NP|RN|PA-C|MBBS)\b"),
]
NAME_RUN = re.compile(r"\[name\](?:\s+(?:[A-Z]\.?\s+)?\[name\])+")


def deidentify(text: str, patient: dict | None, *, today: date) -> str:
    """``text`` without the patient's names, identifiers, contacts, addresses, URLs and exact dates.

    Dates become times relative to ``today`` ("3 years ago"); the birth date becomes "[date of birth]".
    """
    return Scrubber(patient, today).scrub(text)


class Scrubber:
    """De-identifies text for one patient: patterns compiled once, applied in a fixed order."""

    def __init__(self, patient: dict | None, today: date):
        patient = patient or {}
        self.today = today
        birth = patient.get("birthDate") or ""
        self.birth = parse_iso(birth) if len(birth) >= 10 else None
        people = [patient, *(patient.get("contact") or [])]
        self.names = _phrases(_name_parts(people), word_only=True)
        self.ids = _phrases([str(i.get("value")) for i in patient.get("identifier") or [] if i.get("value")])
        self.contacts = _phrases([t.get("value") for p in people for t in p.get("telecom") or []
                                  if t.get("value") and t.get("system") not in ("phone", "fax", "sms", "pager")])
        self.phones = _digit_patterns([t.get("value") for p in people for t in p.get("telecom") or []
                                       if t.get("system") in ("phone", "fax", "sms", "pager", None)])
        self.address = _phrases(_address_parts(people))

    def scrub(self, text: str) -> str:
        """``text`` de-identified (see :func:`deidentify`)."""
        if not text:
            return text
        text = URL.sub("[url]", text)
        text = EMAIL.sub("[email]", text)
        for pattern in self.contacts:
            text = pattern.sub("[contact]", text)
        for pattern, precision in DATES:
            text = pattern.sub(lambda m, p=precision: self._date(m, p), text)
        for pattern in PHONES:
            text = pattern.sub(lambda m: (m.groupdict().get("key") or "") + "[phone]", text)
        for pattern in self.phones:
            text = pattern.sub("[phone]", text)
        for pattern in self.ids:
            text = pattern.sub("[id]", text)
        for pattern in IDS:
            text = pattern.sub(lambda m: (m.groupdict().get("key") or "") + "[id]", text)
        for pattern in self.address:
            text = pattern.sub("[address]", text)
        text = STREET.sub("[address]", text)
        for pattern in PRACTITIONER:
            text = pattern.sub("Dr. [name]", text)
        for pattern in self.names:
            text = pattern.sub(lambda m: "[name]" + ("'s" if m[0][-2:].lower() in ("'s", "’s") else ""), text)
        return NAME_RUN.sub("[name]", text)

    def _date(self, m: re.Match, precision: str) -> str:
        on = m.groupdict().get("on") or ""
        d = _match_date(m, self.today) if precision != "none" else None
        if d is None:
            return on + "[date]"
        if precision == "day" and self.birth and d == self.birth:
            return on + "[date of birth]"
        return relative(d, self.today, month_only=precision == "month")


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


def _name_parts(people: list[dict]) -> list[str]:
    """Full names and their parts (two letters or more; initials are left to the run collapse)."""
    out = []
    for person in people:
        names = person.get("name") or []
        for name in names if isinstance(names, list) else [names]:
            whole = [name.get("text") or "", name.get("family") or "", *(name.get("given") or [])]
            # A bare initial ("A.") would blank every "a" in the text and identifies no one.
            out += [w for w in whole if _letters(w) >= 2]
            for w in whole:
                out += [t for t in re.split(r"[\s,]+", w) if _letters(t) >= 2 and t[:1].isupper()]
    return out


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _address_parts(people: list[dict]) -> list[str]:
    out = []
    for person in people:
        addresses = person.get("address") or []
        for a in addresses if isinstance(addresses, list) else [addresses]:
            out += [*(a.get("line") or []), a.get("text") or "", a.get("city") or "", a.get("district") or "",
                    a.get("postalCode") or ""]
    return [p for p in out if len(p.strip()) >= 2]


def _phrases(values: list[str], *, word_only: bool = False) -> list[re.Pattern]:
    """Case-insensitive patterns for exact values (longest first), flexible in whitespace and apostrophes."""
    values = sorted({v.strip().strip(".,") for v in values if v and v.strip()}, key=lambda v: (-len(v), v))
    out = []
    for v in values:
        body = r"\s+".join("['’]".join(re.escape(part) for part in re.split(r"['’]", w)) for w in v.split())
        tail = r"(?:['’]s)?" if word_only else ""
        out.append(re.compile(rf"(?i)(?<![\w]){body}{tail}(?![\w])"))
    return out


def _digit_patterns(values: list[str]) -> list[re.Pattern]:
    """Patterns matching each phone number's digits with any common separators between them."""
    out = []
    for v in values:
        digits = re.sub(r"\D", "", v or "")
        if len(digits) >= 5:
            out.append(re.compile(r"(?<!\d)" + r"[\s().+-]*".join(digits) + r"(?!\d)"))
    return out
