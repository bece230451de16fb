"""De-identification of the text that leaves the app for RaDaR (HIPAA Safe Harbor's identifiers).

On by default, since the inference service may run in another trust zone. Two sources:

- the Patient resource: the patient's and contacts' names (any case; a name part that is also an
  English word, "Rose", "Hope", "Gene", only when capitalised, so "CK rose" and "SMN1 gene" stay),
  identifiers, phone numbers (any punctuation), e-mail and postal addresses, and the birth date;
- general patterns (:mod:`app.case.identifiers`): contacts, URLs, IP addresses, phone and
  identifier numbers, street addresses, cities, ZIP codes, facilities, employers and schools, ages
  over 89, dates, and other people found by context (title, credential, role, relation, label).
  A name found by context is also removed wherever else it occurs in the text scrubbed afterwards by
  the same Scrubber.

Exact dates become times relative to ``today`` (see :mod:`app.case.dates`; the birth date becomes
"[date of birth]"); a date without a year becomes "[date]". Years alone stay (Safe Harbor allows
them). A bare "M/D" is a date only with plausible numbers (month 1–12, day 1–31), a date cue just
before it ("on", "since", "until", "seen", "DOS:", "last visit", …) or a clock time after it, and no
measurement: none of "strength", "murmur", "vision", "BP", "score", "pain", "Apgar", … in the three
words before it (unless that word's scale does not fit: "murmur heard on 5/12" is a date, murmurs
are graded x/6), none right after it ("3/6 systolic murmur", "2/5 strength", "20/40 vision"), and
no same-denominator pair ("from 3/5 to 4/5"). So ratios, grades and blood pressures stay.
Eponyms stay: a capitalised word followed by a disease noun ("Wilson disease", "Duchenne muscular
dystrophy", "Coronary Artery Disease") or an eponym in the possessive ("Parkinson's") is never taken
for a name, even when the patient's name is Wilson. Scrubbing is idempotent (an edited narrative is
scrubbed again).

Measured on the held-out seeded corpus (tests/phi_corpus.py seeds 1000–1299; the patterns were tuned
on 0–99): 300 notes, 13,401 planted identifiers in 23 categories, 9,710 planted clinical facts;
13,400 identifiers removed (99.99%; every category ≥ 99.9%, the miss a facility "Day Memorial
Hospital"), 100% of clinical facts kept, about 80 notes/s of ~1,900 characters (`make bench`,
tests/bench/bench_deidentify.py). Corpus and patterns share an author, so these figures bound
recall on the shapes the corpus writes, not on every real note.
"""
from __future__ import annotations

import re
from datetime import date

from . import identifiers as ids
from .dates import parse_iso, relative

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


def deidentify(text: str, patient: dict | None, *, today: date) -> str:
    """``text`` without the patient's names, identifiers, contacts, addresses, URLs and exact dates.

    Dates become times relative to ``today`` ("3 years ago"); the birth date becomes "[date of birth]".
    """
    return Scrubber(patient, today).scrub(text)


class Scrubber:
    """De-identifies text for one patient: patterns compiled once, applied in a fixed order.

    Names found by context are remembered, so later calls on the same Scrubber remove them too.
    """

    def __init__(self, patient: dict | None, today: date):
        patient = patient or {}
        self.today = today
        birth = patient.get("birthDate") or ""
        self.birth = parse_iso(birth) if len(birth) >= 10 else None
        people = [patient, *(patient.get("contact") or [])]
        self.names = _words_pattern(_name_parts(people))
        self.ids = _phrases([str(i.get("value")) for i in patient.get("identifier") or [] if i.get("value")])
        self.contacts = _phrases([t.get("value") for p in people for t in p.get("telecom") or []
                                  if t.get("value") and t.get("system") not in ("phone", "fax", "sms", "pager")])
        self.phones = _digit_patterns([t.get("value") for p in people for t in p.get("telecom") or []
                                       if t.get("system") in ("phone", "fax", "sms", "pager", None)])
        self.address = _phrases(_address_parts(people), names=True)
        self.learned: set[str] = set()
        self._learned: tuple[frozenset, re.Pattern | None] = (frozenset(), None)

    def scrub(self, text: str) -> str:
        """``text`` de-identified (see :func:`deidentify`)."""
        if not text:
            return text
        for step in (self._contacts, self._ages, self._dates, self._numbers, self._places, self._people):
            text = step(text)
        return ids.NAME_RUN.sub("[name]", text)

    def _contacts(self, text: str) -> str:
        text = ids.EMAIL.sub("[email]", text)
        for pattern in ids.URLS:
            text = pattern.sub("[url]", text)
        for pattern in self.contacts:
            text = pattern.sub("[contact]", text)
        for pattern in ids.IPS:
            text = pattern.sub("[ip]", text)
        return text

    def _ages(self, text: str) -> str:
        text = ids.AGE_AFTER.sub("90+", text)
        text = ids.AGE_PAREN.sub(lambda m: m["key"] + "90+", text)
        return ids.AGE_BEFORE.sub(lambda m: m["key"] + "90 or older", text)

    def _dates(self, text: str) -> str:
        for pattern, precision in DATES:
            text = pattern.sub(lambda m, p=precision: self._date(m, p), text)
        return MONTH_DAY.sub(lambda m: "[date]" if _is_month_day(m) else m[0], text)

    def _date(self, m: re.Match, precision: str) -> str:
        on = m.groupdict().get("on") or ""
        d = _match_date(m, self.today) if precision != "none" else None
        if d is None:
            return on + "[date]"
        if precision == "day" and self.birth and d == self.birth:
            return on + "[date of birth]"
        return relative(d, self.today, month_only=precision == "month")

    def _numbers(self, text: str) -> str:
        """Identifier numbers and phones; cued identifiers first, so that "Policy number 123456" is an id."""
        text = ids.SSN.sub("[id]", text)
        for pattern in self.ids:
            text = pattern.sub("[id]", text)
        text = ids.KEYED_ID.sub(lambda m: m["key"] + "[id]", text)
        text = ids.PLATE.sub(lambda m: m["key"] + "[id]", text)
        for pattern in self.phones:
            text = pattern.sub("[phone]", text)
        text = ids.PHONE_CUED.sub(_cued_phone, text)
        for pattern in ids.PHONES:
            text = pattern.sub("[phone]", text)
        text = ids.PHONE_LOCAL.sub(lambda m: m[0] if _is_range(m) else "[phone]", text)
        text = ids.PHONE_EXT.sub("[phone]", text)
        return ids.BARE_ID.sub(lambda m: m[0] if _is_database_number(m) else "[id]", text)

    def _places(self, text: str) -> str:
        for pattern in ids.STREETS:
            text = pattern.sub("[address]", text)
        text = _sub(ids.FACILITY, lambda m: _organisation(m, "[facility]"), text)
        for pattern in ids.ORGS:
            text = _sub(pattern, lambda m: _organisation(m, "[organization]"), text)
        for pattern in self.address:
            text = pattern.sub("[address]", text)
        return _sub(ids.CITY_STATE_ZIP, _city_state, text)

    def _people(self, text: str) -> str:
        for pattern, side in ids.NAME_CONTEXTS:
            text = _sub(pattern, lambda m, s=side: self._person(m, s), text)
        text = _sub(ids.CITY_STATE, _city_state, text)
        text = _sub(ids.CITY_CUE, lambda m: _replace_words(m, "before", "[city]"), text)
        for pattern in ids.ZIPS:
            text = pattern.sub(lambda m: (m.groupdict().get("key") or "") + "[zip]", text)
        if "[zip]" in text:
            text = _sub(ids.CITY_ZIP, lambda m: _replace_words(m, "after", "[city]"), text)
        learned = self._learned_pattern()
        for pattern in filter(None, (learned, self.names)):
            text = pattern.sub(lambda m: m[0] if _eponym(m.string, m.start(), m.end()) else "[name]", text)
        return text

    def _person(self, m: re.Match, side: str) -> str | None:
        """A person named in context, or None when the words do not look like a name."""
        colon = ":" in (m.groupdict().get("sep") or "")
        return _replace_words(m, side, "[name]", min_words=2 if colon else 1, learn=self.learned)

    def _learned_pattern(self) -> re.Pattern | None:
        key = frozenset(self.learned)
        if key != self._learned[0]:
            words = sorted({v for w in key for v in (w, w.upper())}, key=lambda w: (-len(w), w))
            pattern = re.compile(r"(?<![\w'’-])(?:" + "|".join(map(re.escape, words)) + r")(?![\w]|-\w)") if words else None
            self._learned = (key, pattern)
        return self._learned[1]


def _replace_words(m: re.Match, side: str, placeholder: str, *, min_words: int = 1,
                   learn: set[str] | None = None) -> str | None:
    """The match with its "name" group's plausible words replaced, or None when none is plausible.

    Words are accepted outwards from the cue (``side``: the cue is "before" or "after" the name) until
    one is a capitalised non-name or an eponym.
    """
    text, start = m.string, m.start("name")
    name = m["name"]
    words = [t for t in ids.TOKEN.finditer(name) if len(t[0].rstrip(".")) > 1 and t[0].lower() not in ids.PARTICLES]
    ok = []
    for t in (words if side == "before" else reversed(words)):
        if _eponym(text, start + t.start(), start + t.end()) and side == "before":
            return None  # the words so far begin a disease name: "Coronary Artery Disease", "Lou Gehrig's"
        if t[0].lower() in ids.STOP or _eponym(text, start + t.start(), start + t.end()):
            break
        ok.append(t)
    if len(ok) < min_words or not ok:
        return None
    lo, hi = (0, max(t.end() for t in ok)) if side == "before" else (min(t.start() for t in ok), len(name))
    if side == "after" and re.fullmatch(rf"(?:{ids.INITIAL}[ \t]+)*", name[:lo]):
        lo = 0  # "K. Patel, MD": the initial goes with the name
    if learn is not None:
        learn.update(t[0] for t in ok if len(t[0]) >= 2)
    region = re.sub(ids.NAME, placeholder, name[lo:hi])
    inner = name[:lo] + region + name[hi:]
    return text[m.start():start] + inner + text[m.end("name"):m.end()]


def _eponym(text: str, start: int, end: int) -> bool:
    """Whether the word at text[start:end] is an eponym here ("Wilson disease", "Parkinson's")."""
    if ids.EPONYM_AFTER.match(text, end):
        return True
    return text[start:end].lower() in ids.EPONYMS and text[end:end + 2] in ("'s", "’s")


def _sub(pattern: re.Pattern, replace, text: str) -> str:
    """``pattern.sub`` where ``replace`` may refuse a match (None): the search then goes on inside it,
    so that a refused cue ("grandfather Sister") does not hide the real one ("Sister: Amber Lee")."""
    out, pos, at = [], 0, 0
    while (m := pattern.search(text, at)) is not None:
        new = replace(m)
        if new is None:
            at = m.start() + 1
            continue
        out += [text[pos:m.start()], new]
        pos = at = max(m.end(), m.start() + 1)
    return "".join(out) + text[pos:]


def _organisation(m: re.Match, placeholder: str) -> str | None:
    """A facility, employer or school replaced, unless none of its words is distinctive ("Genetics Clinic")."""
    name = m["name"]
    tokens = list(re.finditer(r"\S+", name))
    while tokens and tokens[0][0].lower() in ids.STOP and tokens[0][0].lower() not in ids.ORG_KEEP:
        tokens.pop(0)
    while tokens and tokens[-1][0].lower() in ("of", "and", "&", "the", "for"):
        tokens.pop()
    if not any(_distinctive(t[0], tokens[i - 1][0] if i else "") for i, t in enumerate(tokens)):
        return None
    lo, hi = m.start("name") - m.start() + tokens[0].start(), m.start("name") - m.start() + tokens[-1].end()
    return m[0][:lo] + placeholder + m[0][hi:]


def _distinctive(word: str, before: str) -> bool:
    if before in ("St.", "Saint", "Mt.", "Mount"):
        return True
    core = re.sub(r"['’]s$", "", word).lower().strip(".,")
    if core in ids.STOP or core in ids.ORG_GENERIC or not word[:1].isupper():
        return False
    return not (len(core) >= 7 and ids.DEPARTMENT.search(core))


def _city_state(m: re.Match) -> str | None:
    out = _replace_words(m, "after", "[city]")
    if out is None:
        return None
    return re.sub(rf"{ids.ZIP}$", "[zip]", out) if m["zip"] else out


def _cued_phone(m: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in m["num"])
    return m["key"] + "[phone]" if 5 <= digits <= 15 else m[0]


def _is_range(m: re.Match) -> bool:
    """Whether a bare NNN-NNNN is a numeric range ("200-1000 U/L", "reference 250-1500") rather than a phone."""
    return bool(ids.UNIT_AFTER.match(m.string, m.end()) or ids.RANGE_BEFORE.search(m.string[max(0, m.start() - 20):m.start()]))


def _is_database_number(m: re.Match) -> bool:
    """A long number that is a PMID, OMIM, rsID, coordinate or a measured value, not an identifier."""
    return bool(ids.DATABASE_BEFORE.search(m.string[max(0, m.start() - 12):m.start()]) or
                ids.UNIT_AFTER.match(m.string, m.end()))


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
    return [w for w in out if w.lower() not in ids.PARTICLES]


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


def _word_regex(value: str) -> str:
    """``value`` as a regex: any case, except that a word that is also an English word, or a short one
    ("Ng", "Li": "ng/mL"), must be capitalised."""
    out = []
    for w in value.split():
        parts = "['’]".join(re.escape(p) for p in re.split(r"['’]", w))
        capital = w.lower() in ids.WORDLIKE or len(w) <= 3
        out.append(f"{re.escape(w[0])}(?i:{parts[len(re.escape(w[0])):]})" if capital else f"(?i:{parts})")
    return r"\s+".join(out)


def _words_pattern(values: list[str]) -> re.Pattern | None:
    """One pattern for all the patient's name parts, longest first."""
    values = sorted({v.strip().strip(".,") for v in values if v and v.strip()}, key=lambda v: (-len(v), v))
    if not values:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(_word_regex(v) for v in values) + r")(?![\w]|-\w)")


def _phrases(values: list[str], *, names: bool = False) -> list[re.Pattern]:
    """Patterns for exact values (longest first), flexible in whitespace and apostrophes."""
    values = sorted({v.strip().strip(".,") for v in values if v and v.strip()}, key=lambda v: (-len(v), v))
    out = []
    for v in values:
        body = _word_regex(v) if names else "(?i:" + r"\s+".join(
            "['’]".join(re.escape(part) for part in re.split(r"['’]", w)) for w in v.split()) + ")"
        out.append(re.compile(rf"(?<![\w]){body}(?![\w])"))
    return out


def _digit_patterns(values: list[str]) -> list[re.Pattern]:
    """Patterns matching each phone number's digits with any common separators between them."""
    out = []
    for v in values:
        digits = re.sub(r"\D", "", v or "")
        if len(digits) >= 5:
            out.append(re.compile(r"(?<!\d)" + r"[\s().+-]*".join(digits) + r"(?!\d)"))
    return out
