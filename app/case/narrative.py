"""A PatientRecord and its phenotype profile → the case narrative RaDaR reads.

The narrative is written like a clinical case summary in plain text: who the patient is,
presenting problems, findings and pertinent negatives, abnormal labs, excerpts of the notes,
then the question. It is deterministic and faithful: every sentence comes from the record or
the profile, and what is missing is said to be missing.

It must fit a token budget. No tokenizer of RaDaR's model is available offline, so
:func:`estimate_tokens` over-counts on purpose (about 3.2 characters per token where English
clinical text averages ~4, plus one token per extra UTF-8 byte). When the case is too long, the
least informative material goes first (note openings, excerpts of negatives, excerpts of
findings, repeated then older labs, negatives, problems, findings), and the narrative and
``Narrative.omitted`` say what was left out.

De-identification (on by default, since the inference service may run in another trust zone)
removes the patient's names, identifiers, phone numbers, e-mail and postal addresses, URLs,
practitioners named as "Dr. X", and turns exact dates into times relative to ``today``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date

from ..phenotype import Profile
from ..fetch.record import PatientRecord, abnormal_labs, age_years, problems

DEFAULT_BUDGET = 6000
CHARS_PER_TOKEN = 3.2
QUESTION = "What rare diseases best explain this presentation?"
EXCERPT_CHARS = 400  # longest sentence quoted from a note
OPENING_CHARS = 400  # how much of a recent note's opening is quoted
OPENINGS = 3  # most recent notes whose opening is quoted
FIELD_CHARS = 200  # longest free-text problem or lab value
LAB_REPEATS = 3  # results listed per test; earlier ones are summarised in one line
UNAVAILABLE = {"patient": "demographics", "conditions": "problem list", "labs": "laboratory results",
               "notes": "clinical notes"}


@dataclass
class Narrative:
    """The case text sent to RaDaR, its estimated size and what was left out to fit the budget."""

    text: str
    tokens: int
    truncated: bool
    deidentified: bool
    omitted: list[str] = field(default_factory=list)


def estimate_tokens(text: str) -> int:
    """A conservative token count: ``ceil(len / 3.2)`` plus one per UTF-8 byte beyond the first of each character.

    Sub-word tokenizers (Llama, Qwen) average about 4 characters per token on English clinical
    text; 3.2 leaves ~20% headroom for rare medical words, and non-ASCII characters (Greek
    letters, en dashes) often cost a token or more each.
    """
    extra = len(text.encode("utf-8")) - len(text)
    return math.ceil(len(text) / CHARS_PER_TOKEN) + extra


def build_narrative(record: PatientRecord, profile: Profile, *, budget_tokens: int = DEFAULT_BUDGET,
                    deidentify: bool = True, today: date | None = None) -> Narrative:
    """The case narrative of ``record`` and ``profile`` within ``budget_tokens`` (see the module docstring).

    The patient line, the section headings and the question are always kept; everything else is
    dropped, least informative first, until the estimate fits.
    """
    today = today or date.today()
    scrub = _Scrubber(record.patient, today) if deidentify else None
    case = _Case(record, profile, today, scrub)
    items = case.items()
    order = sorted(range(len(items)), key=lambda i: items[i].drop)
    dropped = _fewest_drops(case, items, order, budget_tokens)
    text = case.render(items, set(order[:dropped]))
    omitted = _omissions(items, set(order[:dropped]))
    summarised = sum(len(rows) for rows in case.unlisted.values())
    if summarised:
        omitted.append(f"{summarised} earlier repeated laboratory results (summarised per test)")
    return Narrative(text=text, tokens=estimate_tokens(text), truncated=dropped > 0, deidentified=deidentify,
                     omitted=omitted)


def deidentify(text: str, patient: dict | None, *, today: date) -> str:
    """``text`` without the patient's names, identifiers, contacts, addresses, URLs and exact dates.

    Dates become times relative to ``today`` ("3 years ago"); the birth date becomes "[date of birth]".
    """
    return _Scrubber(patient, today).scrub(text)


# -- the case as droppable items ---------------------------------------------------------------

@dataclass
class _Item:
    """One line of the narrative that may be dropped; ``drop`` sorts the least informative first."""

    section: str
    text: str
    kind: str  # what it is, for the omission note ("note excerpts", …)
    drop: tuple
    group: str = ""  # note excerpts are grouped under their note, lab results under their test
    row: dict | None = None  # the lab row, for the per-test summary of results not listed


SECTIONS = [("problems", "Presenting problems"), ("present", "Findings"), ("absent", "Pertinent negatives"),
            ("labs", "Abnormal laboratory results"), ("notes", "From the notes")]
# (kind, level): lower levels are dropped first
LEVELS = {"note openings": 0, "note excerpts (negatives)": 1, "note excerpts (findings)": 2,
          "repeated laboratory results": 3, "laboratory results": 4, "pertinent negatives": 5,
          "problems": 6, "findings": 7}


class _Case:
    """Builds the items of one case and renders any subset of them."""

    def __init__(self, record: PatientRecord, profile: Profile, today: date, scrub: _Scrubber | None):
        self.record, self.profile, self.today, self.scrub = record, profile, today, scrub
        self.unlisted: dict[str, list[dict]] = {}  # lab test → results beyond LAB_REPEATS, summarised
        birth = (record.patient or {}).get("birthDate") or ""
        self.birth = _parse_iso(birth) if len(birth) >= 10 else None  # no invented precision for partial dates

    def clean(self, text: str) -> str:
        """Free text as it may leave the app: de-identified when asked, whitespace collapsed."""
        text = " ".join(text.split())
        return self.scrub.scrub(text) if self.scrub else text

    def when(self, value: str | None, *, onset: bool = False) -> str:
        """A FHIR date as shown: relative (and the age then) when de-identified, else the ISO date."""
        d = _parse_iso(value)
        if d is None:
            return "date not recorded"
        shown = _relative(d, self.today) if self.scrub else d.isoformat()
        if onset and self.birth and d >= self.birth:
            shown += f", at age {_age_text(self.birth, d)}"
        return shown

    def items(self) -> list[_Item]:
        """Every droppable line of the case."""
        return [*self._problems(), *self._phenotypes(), *self._labs(), *self._notes()]

    def _problems(self) -> list[_Item]:
        rows = sorted(problems(self.record.conditions), key=lambda r: (r["onset"] is None, r["onset"] or ""))
        out = []
        for i, r in enumerate(rows):
            details = [r["status"]] if r["status"] else []
            details.append(f"onset {self.when(r['onset'], onset=True)}" if r["onset"] else "onset not recorded")
            text = f"- {_clip(self.clean(r['text']), FIELD_CHARS)} ({'; '.join(details)})"
            out.append(_Item("problems", text, "problems", (LEVELS["problems"], -i)))
        return out

    def _phenotypes(self) -> list[_Item]:
        n = len(self.profile.present)
        out = [_Item("present", f"- {self.clean(p.label)}", "findings", (LEVELS["findings"], n - i))
               for i, p in enumerate(self.profile.present)]
        n = len(self.profile.absent)
        out += [_Item("absent", f"- No {_lower_first(self.clean(p.label))}", "pertinent negatives",
                      (LEVELS["pertinent negatives"], n - i)) for i, p in enumerate(self.profile.absent)]
        return out

    def _labs(self) -> list[_Item]:
        """One item per abnormal result, newest first; beyond LAB_REPEATS per test they are summarised."""
        listed: dict[str, int] = {}
        out = []
        for i, r in enumerate(abnormal_labs(self.record.observations)):  # newest first
            n = listed.get(r["name"], 0)
            if n >= LAB_REPEATS:
                self.unlisted.setdefault(r["name"], []).append(r)
                continue
            listed[r["name"]] = n + 1
            kind = "repeated laboratory results" if n else "laboratory results"
            out.append(_Item("labs", self._lab_line(r), kind, (LEVELS[kind], -i), r["name"], r))
        return out

    def _lab_summary(self, name: str, rows: list[dict]) -> str:
        """"- CK: 297 more abnormal results not listed (from 5 years ago to 2 months ago; high or critically high)"."""
        dates = sorted(r["date"] for r in rows if r["date"])
        span = f"from {self.when(dates[0])} to {self.when(dates[-1])}" if dates else "dates not recorded"
        flags = " or ".join(dict.fromkeys(sorted(r["flag_text"] for r in rows)))
        results = "result" if len(rows) == 1 else "results"
        return f"- {_clip(self.clean(name), FIELD_CHARS)}: {len(rows)} more abnormal {results} not listed " \
               f"({span}; {flags})"

    def _lab_line(self, r: dict) -> str:
        value = _clip(self.clean(r["value"]), FIELD_CHARS) if r["value"] else "no value recorded"
        details = [r["flag_text"]]
        details.append(f"reference {self.clean(r['range'])}" if r["range"] else "no reference range given")
        details.append(self.when(r["date"]))
        return f"- {_clip(self.clean(r['name']), FIELD_CHARS)}: {value} ({'; '.join(details)})"

    def _notes(self) -> list[_Item]:
        notes = sorted((n for n in self.record.notes if n.text), key=lambda n: n.date or "", reverse=True)
        spans = _spans_by_note(self.profile)
        out, quoted = [], set()
        for rank, note in enumerate(notes):
            group = f"{self.clean(note.title) or 'Note'} ({self.when(note.date)})"
            sentences: dict[str, bool] = {}  # sentence → mentions a present finding
            for start, end, present in spans.get(note.ref, []):
                s = _sentence(note.text, start, end)
                sentences[s] = sentences.get(s, False) or present
            if rank < OPENINGS:
                opening = _opening(note.text, note.title)
                if opening and not any(s in opening for s in sentences):
                    out.append(_Item("notes", f'- "{self.clean(opening)}"', "note openings",
                                     (LEVELS["note openings"], rank), group))
            for j, (s, present) in enumerate(sentences.items()):
                key = (group, s)
                if key in quoted:
                    continue
                quoted.add(key)
                kind = "note excerpts (findings)" if present else "note excerpts (negatives)"
                out.append(_Item("notes", f'- "{self.clean(s)}"', kind, (LEVELS[kind], rank, -j), group))
        return out

    def patient_line(self) -> str:
        """"A 7-year-old girl." — or what is not recorded."""
        patient = self.record.patient or {}
        years = age_years(patient.get("birthDate"), self.today)
        if years is None and self.profile.age_years is not None:
            years = int(self.profile.age_years)
        if self.birth and self.birth <= self.today:
            n, unit = _age_parts(self.birth, self.today)
            age = f"{n}-{unit}"
        else:
            age = f"{years}-year" if years is not None else None
        return _patient_phrase(age, patient.get("gender") or self.profile.sex, years)

    def render(self, items: list[_Item], dropped: set[int]) -> str:
        """The narrative with the items whose index is in ``dropped`` left out."""
        lines = ["Case summary", "", self.patient_line()]
        missing = [UNAVAILABLE.get(k, k) for k in sorted(self.record.unavailable)]
        if missing:
            lines.append(f"Could not be retrieved from the EHR: {', '.join(missing)}.")
        for section, heading in SECTIONS:
            kept = [it for i, it in enumerate(items) if it.section == section and i not in dropped]
            cut = [it for i, it in enumerate(items) if it.section == section and i in dropped]
            lines += ["", heading]
            lines += self._section_lines(section, kept)
            if section == "labs":
                lines += self._lab_summaries(cut)
            elif cut:
                lines.append(f"({len(cut)} more omitted for length.)")
            if section == "notes":
                lines += self._unreadable()
        lines += ["", "Question", QUESTION]
        return "\n".join(lines)

    def _lab_summaries(self, cut: list[_Item]) -> list[str]:
        unlisted = {name: list(rows) for name, rows in self.unlisted.items()}
        for it in cut:
            unlisted.setdefault(it.group, []).append(it.row)
        return [self._lab_summary(name, rows) for name, rows in unlisted.items()]

    def _unreadable(self) -> list[str]:
        n = sum(1 for note in self.record.notes if note.error)
        return [f"({n} {'note' if n == 1 else 'notes'} could not be read.)"] if n else []

    def _section_lines(self, section: str, kept: list[_Item]) -> list[str]:
        if not kept:
            return [self._empty(section)]
        if section != "notes":
            return [it.text for it in kept]
        lines, group = [], None
        for it in sorted(kept, key=lambda it: it.drop[1]):  # drop[1] is the note's recency rank
            if it.group != group:
                group = it.group
                lines.append(f"{group}:")
            lines.append(it.text)
        return lines

    def _empty(self, section: str) -> str:
        fetched = {"problems": "conditions", "labs": "labs", "notes": "notes"}.get(section)
        if fetched in self.record.unavailable:
            return "Not available."
        if section == "labs" and self.unlisted:
            return "Listed below in summary."
        return "No excerpts." if section == "notes" else "None recorded."


def _fewest_drops(case: _Case, items: list[_Item], order: list[int], budget: int) -> int:
    """The fewest items (in drop order) to leave out so the rendered text fits ``budget``."""
    def fits(k: int) -> bool:
        return estimate_tokens(case.render(items, set(order[:k]))) <= budget

    lo, hi = 0, len(order)
    if fits(0):
        return 0
    while lo < hi:  # the first k that fits (rendering shrinks as more is dropped)
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _omissions(items: list[_Item], dropped: set[int]) -> list[str]:
    counts: dict[str, int] = {}
    for i in sorted(dropped, key=lambda i: items[i].drop):
        counts[items[i].kind] = counts.get(items[i].kind, 0) + 1
    return [f"{n} {kind}" for kind, n in counts.items()]


def _spans_by_note(profile: Profile) -> dict[str, list[tuple[int, int, bool]]]:
    """Note reference → (start, end, present) of each extracted phenotype, in text order."""
    out: dict[str, list[tuple[int, int, bool]]] = {}
    for p in profile.all:
        if p.span and p.origin in ("note", "report"):
            out.setdefault(p.source, []).append((p.span[0], p.span[1], p.status == "present"))
    return {ref: sorted(spans) for ref, spans in out.items()}


SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` around ``[start, end)``, clipped around the span with ellipses if long."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    lo = max(0, start - EXCERPT_CHARS)
    before = [m.end() for m in SENTENCE_END.finditer(text, lo, start)]
    s_start = before[-1] if before else lo
    after = SENTENCE_END.search(text, end, end + EXCERPT_CHARS)
    s_end = after.end() if after else min(len(text), end + EXCERPT_CHARS)
    sentence = " ".join(text[s_start:s_end].split())
    if len(sentence) <= EXCERPT_CHARS and (s_start == 0 or before) and (after or s_end == len(text)):
        return sentence
    return _window(text, start, end)


def _window(text: str, start: int, end: int) -> str:
    """About EXCERPT_CHARS around a span, cut at word boundaries and marked with ellipses."""
    half = max(0, (EXCERPT_CHARS - (end - start)) // 2)
    lo, hi = max(0, start - half), min(len(text), end + half)
    piece = text[lo:hi]
    if lo > 0:
        piece = "… " + piece.split(None, 1)[-1] if " " in piece[:start - lo] else piece
    if hi < len(text):
        piece = piece.rsplit(None, 1)[0] + " …" if " " in piece[end - lo:] else piece
    return " ".join(piece.split())


def _opening(text: str, title: str) -> str:
    """The first OPENING_CHARS of a note without a title line, ending at a sentence or with an ellipsis."""
    head = text[:OPENING_CHARS * 2].strip()
    first, _, rest = head.partition("\n")
    if title and first.strip().lower() == title.strip().lower():
        head = rest
    return _clip(" ".join(head.split()), OPENING_CHARS)


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a sentence end, else a word boundary plus an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", head)]
    if ends and ends[-1] > limit // 2:
        return head[:ends[-1]]
    return (head.rsplit(None, 1)[0] if " " in head else head) + " …"


def _lower_first(label: str) -> str:
    """"Cleft palate" → "cleft palate"; acronyms and letters ("IgA …", "B acute …", "T-cell …") stay."""
    first = label.split(" ", 1)[0]
    return label[:1].lower() + label[1:] if re.fullmatch(r"[A-Z][a-z]+", first) else label


def _patient_phrase(age: str | None, sex: str | None, years: int | None) -> str:
    """"A 7-year-old girl." from the age phrase and FHIR gender; what is missing is said."""
    child = years is not None and years < 18
    noun = {"female": "girl" if child else "woman", "male": "boy" if child else "man"}.get(sex or "")
    if age is None:
        if noun:
            return f"A {'female' if sex == 'female' else 'male'} patient (age not recorded)."
        return f"A patient (age not recorded; {_sex_note(sex)})."
    if noun:
        return f"{_article(age)} {age}-old {noun}."
    return f"{_article(age)} {age}-old patient ({_sex_note(sex)})."


def _sex_note(sex: str | None) -> str:
    return f"sex recorded as {sex}" if sex and sex != "unknown" else "sex not recorded"


def _article(word: str) -> str:
    return "An" if word[:1] in "8" or word.startswith(("11-", "18-")) else "A"


# -- dates -----------------------------------------------------------------------------------

def _parse_iso(value: str | None) -> date | None:
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


def _age_parts(birth: date, at: date) -> tuple[int, str]:
    """(7, "year"), (18, "month"), (10, "day"): the age at ``at`` in the unit clinicians use."""
    months = _months_between(birth, at)
    if months < 1:
        return (at - birth).days, "day"
    if months < 24:
        return months, "month"
    return months // 12, "year"


def _age_text(birth: date, at: date) -> str:
    """"7 years", "18 months", "10 days"."""
    return _plural(*_age_parts(birth, at))


def _relative(d: date, today: date, *, month_only: bool = False) -> str:
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


# -- de-identification -----------------------------------------------------------------------

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


class _Scrubber:
    """De-identifies text for one patient: patterns compiled once, applied in a fixed order."""

    def __init__(self, patient: dict | None, today: date):
        patient = patient or {}
        self.today = today
        birth = patient.get("birthDate") or ""
        self.birth = _parse_iso(birth) if len(birth) >= 10 else None
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
        return _relative(d, self.today, month_only=precision == "month")


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
