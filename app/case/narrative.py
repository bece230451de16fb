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

When asked (the default), every piece of free text passes through
:class:`~app.case.deidentify.Scrubber` and dates are shown relative to ``today``
(:mod:`app.case.dates`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date

from ..phenotype import Profile
from ..record import PatientRecord, abnormal_labs, age_years, problems
from .dates import age_parts, age_text, parse_iso, relative
from .deidentify import Scrubber

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
    scrub = Scrubber.for_record(record, today) if deidentify else None
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

    def __init__(self, record: PatientRecord, profile: Profile, today: date, scrub: Scrubber | None):
        self.record, self.profile, self.today, self.scrub = record, profile, today, scrub
        self.unlisted: dict[str, list[dict]] = {}  # lab test → results beyond LAB_REPEATS, summarised
        birth = (record.patient or {}).get("birthDate") or ""
        self.birth = parse_iso(birth) if len(birth) >= 10 else None  # no invented precision for partial dates

    def clean(self, text: str) -> str:
        """Free text as it may leave the app: de-identified when asked, whitespace collapsed."""
        text = " ".join(text.split())
        return self.scrub.scrub(text) if self.scrub else text

    def when(self, value: str | None, *, onset: bool = False) -> str:
        """A FHIR date as shown: relative (and the age then) when de-identified, else the ISO date."""
        d = parse_iso(value)
        if d is None:
            return "date not recorded"
        shown = relative(d, self.today) if self.scrub else d.isoformat()
        if onset and self.birth and d >= self.birth:
            n, unit = age_parts(self.birth, d)
            old = self.scrub is not None and unit == "year" and n > 89
            shown += ", at age 90 or older" if old else f", at age {age_text(self.birth, d)}"
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
            n, unit = age_parts(self.birth, self.today)
            age = f"{n}-{unit}"
        else:
            age = f"{years}-year" if years is not None else None
        if self.scrub is not None and years is not None and years > 89:
            age = "90-or-more-year"  # HIPAA Safe Harbor: ages over 89 are identifying
        return _patient_phrase(age, patient.get("gender") or self.profile.sex, years)

    def render(self, items: list[_Item], dropped: set[int]) -> str:
        """The narrative with the items whose index is in ``dropped`` left out."""
        lines = ["Case summary", "", self.patient_line()]
        missing = [UNAVAILABLE.get(k, k) for k in sorted(self.record.unavailable)]
        missing += [f"part of the {UNAVAILABLE.get(k, k)} ({', '.join(p.split(':')[0] for p in parts)})"
                    for k, parts in sorted(self.record.partial.items()) if parts and k not in self.record.unavailable]
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
        if fetched in self.record.partial:
            return "None that could be retrieved (part could not be retrieved)."
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
