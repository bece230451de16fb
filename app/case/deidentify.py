"""De-identification of the text that leaves the app for RaDaR (HIPAA Safe Harbor's identifiers).

On by default, since the inference service may run in another trust zone. Two sources:

- the record (:mod:`app.case.record_identifiers`): the names of the patient (every name, nickname
  included, whole, part by part and hyphen by hyphen, any case), of its contacts and of the people
  that other resources name (:meth:`Scrubber.for_record`: general practitioner, note authors,
  condition recorders, observation performers), the organisations they name, identifiers (with or
  without separators), phone numbers (any punctuation), e-mail and postal addresses, the birth date;
- general patterns (:mod:`app.case.identifiers`): contacts (e-mail, spelled-out e-mail, social-media
  handles), URLs, IP and MAC addresses, GPS coordinates, phone and identifier numbers (driver's
  licences after a cue within a few words), street addresses, cities, ZIP codes, facilities (with a
  facility noun, with a facility-like last word such as "Memorial" or "Children's", or after a care
  verb: "transferred to Lurie"), employers and schools, ages over 89 (in digits or words), dates and
  holidays (:mod:`app.case.textdates`), and other people found by context (title, credential, role,
  relation, label). A name found by context is also removed wherever else it occurs in the text
  scrubbed afterwards by the same Scrubber.

Eponyms stay: a capitalised word followed by a disease noun ("Wilson disease", "Duchenne muscular
dystrophy", "Coronary Artery Disease") or an eponym in the possessive ("Parkinson's") is never taken
for a name, even when the patient's name is Wilson. Scrubbing is idempotent (an edited narrative is
scrubbed again).

Measured (`make bench`, tests/bench/bench_deidentify.py), before = this module at commit 2160e49:

- held-out seeded corpus (tests/phi_corpus.py seeds 1000–1299; tuned on 0–99): 300 notes, 13,401
  identifiers in 23 categories, 9,710 clinical facts; before and after alike 13,400 removed (99.99%;
  the miss a facility "Day Memorial Hospital"), 100% of facts kept; 37.8 → 34.4 notes/s of ~1,900
  characters, run back to back on a loaded 2-core machine (−9%).
- probes of the kinds issue 20 found (tests/phi_probes.py seeds 1000–1299, names drawn apart from
  the tuning seeds 0–99), recall before → after: hyphenated surname parts 25 → 100%, nickname
  98 → 98% (lowercase three-letter nicknames, "liz", stay: short names must be capitalised), names
  other resources give 35 → 99% (an eponym in the possessive, "Bell's", stays), ages in words
  0 → 100%, IP before punctuation 76 → 100%, driver's licences 57 → 100%, MAC 16 → 100%,
  holidays 0 → 100%, facilities without a facility noun 11 → 100%, GPS 0 → 100%, spelled-out
  e-mail 12 → 100%, social-media handles 0 → 100%; all 27.4 → 99.7%; clinical facts 100% kept.
- over-scrubbing of real clinical prose, the 68 ID-68 notes (no identifiers in them): 0 of 12,816
  words changed before and after.
- libraries, same data, decided against: philter-lite 0.6.0 (cumulus-etl's choice) removes 95.3% of
  the corpus identifiers and 52.8% of the probes but keeps only 71.4% / 79.9% of the clinical facts
  and changes 3.5% of the real notes' words ("Apgar", "NICU", "G4P2"), at 2 notes/s; its name
  filters need NLTK's tagger data, which cannot be downloaded here, so a stand-in tagger (capitalised
  = proper noun) was used. Presidio 2.2.366 runs without its spaCy NER model (spaCy publishes models
  outside PyPI; unofficial re-uploads were not used), so only its patterns: 27.8% / 20.4% removed,
  95.7% / 96.0% of facts kept, 0.11% of real words changed.
  Neither finds a kind that this module misses, so nothing is combined.

Corpus, probes and patterns share an author, so these figures bound recall on the shapes they
write, not on every real note.
"""
from __future__ import annotations

import re
from datetime import date

from . import identifiers as ids
from . import record_identifiers as rec
from .dates import parse_iso
from .textdates import scrub_dates


def deidentify(text: str, patient: dict | None, *, today: date) -> str:
    """``text`` without the patient's names, identifiers, contacts, addresses, URLs and exact dates.

    Dates become times relative to ``today`` ("3 years ago"); the birth date becomes "[date of birth]".
    """
    return Scrubber(patient, today).scrub(text)


class Scrubber:
    """De-identifies text for one patient: patterns compiled once, applied in a fixed order.

    ``people``: FHIR References (``display``) to the other people and organisations the record names.
    Names found by context are remembered, so later calls on the same Scrubber remove them too.
    """

    def __init__(self, patient: dict | None, today: date, *, people=()):
        patient = patient or {}
        self.today = today
        birth = patient.get("birthDate") or ""
        self.birth = parse_iso(birth) if len(birth) >= 10 else None
        persons = [patient, *(patient.get("contact") or [])]
        names, orgs = rec.split_people(patient, people)
        self.names = rec.names_pattern(names)
        self.orgs = rec.phrase_patterns(orgs)
        self.ids = rec.identifier_patterns([str(i.get("value")) for i in patient.get("identifier") or []
                                            if i.get("value")])
        self.contacts = rec.phrase_patterns([t.get("value") for p in persons for t in p.get("telecom") or []
                                             if t.get("value") and t.get("system") not in ("phone", "fax", "sms", "pager")])
        self.phones = rec.digit_patterns([t.get("value") for p in persons for t in p.get("telecom") or []
                                          if t.get("system") in ("phone", "fax", "sms", "pager", None)])
        self.address = rec.phrase_patterns(rec.address_parts(persons), names=True)
        self.learned: set[str] = set()
        self._learned: tuple[frozenset, re.Pattern | None] = (frozenset(), None)

    @classmethod
    def for_record(cls, record, today: date) -> Scrubber:
        """The Scrubber for a PatientRecord: its Patient and every person its resources name."""
        return cls(record.patient, today, people=rec.record_people(record))

    def scrub(self, text: str) -> str:
        """``text`` de-identified (see :func:`deidentify`)."""
        if not text:
            return text
        for step in (self._contacts, self._ages, self._dates, self._numbers, self._places, self._people):
            text = step(text)
        text = ids.NAME_RUN.sub("[name]", rec.INITIALS_BEFORE.sub("", text))
        return rec.SUFFIX_AFTER.sub("[name]", text)

    def _contacts(self, text: str) -> str:
        text = ids.EMAIL.sub("[email]", text)
        text = ids.EMAIL_SPELLED.sub(_spelled_email, text)
        for pattern in ids.URLS:
            text = pattern.sub("[url]", text)
        for pattern in self.contacts:
            text = pattern.sub("[contact]", text)
        text = ids.SOCIAL.sub(lambda m: m[0] if m["h"].lower() in ids.STOP | ids.NOT_HANDLE else m["key"] + "[handle]",
                              text)
        for pattern in ids.HANDLES:
            text = pattern.sub("[handle]", text)
        text = ids.MAC.sub("[id]", text)
        for pattern in ids.IPS:
            text = pattern.sub("[ip]", text)
        for pattern in ids.GPS:
            text = pattern.sub(_coordinates, text)
        return text

    def _ages(self, text: str) -> str:
        text = ids.AGE_AFTER.sub("90+", text)
        text = ids.AGE_PAREN.sub(lambda m: m["key"] + "90+", text)
        text = ids.AGE_DECADE.sub("aged 90 or older", text)
        text = ids.AGE_NOUN.sub("90+-year-old", text)
        return ids.AGE_BEFORE.sub(lambda m: m["key"] + "90 or older", text)

    def _dates(self, text: str) -> str:
        return scrub_dates(text, self.today, self.birth)

    def _numbers(self, text: str) -> str:
        """Identifier numbers and phones; cued identifiers first, so that "Policy number 123456" is an id."""
        text = ids.SSN.sub("[id]", text)
        for pattern in self.ids:
            text = pattern.sub("[id]", text)
        text = ids.KEYED_ID.sub(lambda m: m["key"] + "[id]", text)
        text = ids.LICENCE.sub(lambda m: m["key"] + "[id]", text)
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
        for pattern in self.orgs:
            text = pattern.sub("[organization]", text)
        text = _sub(ids.FACILITY, lambda m: _organisation(m, "[facility]"), text)
        for gate, pattern in ids.FACILITY_BARE:
            if gate.search(text):
                text = _sub(pattern, lambda m: _organisation(m, "[facility]"), text)
        text = _sub(ids.FACILITY_CUED, _cued_facility, text)
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
    if re.search(r"\.[ \t]", m["num"]):
        return m[0]  # "pH 7.35. 90+-year-old": two sentences, not one number
    return m["key"] + "[phone]" if 5 <= digits <= 15 else m[0]


def _is_range(m: re.Match) -> bool:
    """Whether a bare NNN-NNNN is a numeric range ("200-1000 U/L", "reference 250-1500") rather than a phone."""
    return bool(ids.UNIT_AFTER.match(m.string, m.end()) or ids.RANGE_BEFORE.search(m.string[max(0, m.start() - 20):m.start()]))


def _is_database_number(m: re.Match) -> bool:
    """A long number that is a PMID, OMIM, rsID, coordinate or a measured value, not an identifier."""
    return bool(ids.DATABASE_BEFORE.search(m.string[max(0, m.start() - 12):m.start()]) or
                ids.UNIT_AFTER.match(m.string, m.end()))


def _spelled_email(m: re.Match) -> str:
    """An e-mail address written out ("bart at fastmail dot com"); a plain "x at host.com" only after
    an e-mail cue or when x looks like a user name, so that "seen at duke.edu" keeps "seen"."""
    spelled = re.search(r"(?i)[(\[{<]\s*at|\bdot\b|[(\[{<]\s*dot|\s@|@\s", m[0])
    username = re.search(r"[\d_.+]", m["user"])
    if spelled or username or ids.EMAIL_CUE.search(m.string[max(0, m.start() - 40):m.start()]):
        return "[email]"
    return m[0]


def _coordinates(m: re.Match) -> str:
    """GPS coordinates, when both numbers are in range (latitude ±90, longitude ±180)."""
    g = m.groupdict()
    if g.get("lat") and (abs(float(g["lat"])) > 90 or abs(float(g["lon"])) > 180):
        return m[0]
    return (g.get("key") or "") + "[location]"


def _cued_facility(m: re.Match) -> str | None:
    """A facility after a care verb ("transferred to Lurie"), unless the words are a title or a heading."""
    first = m["name"].split()[0].rstrip(".").lower()
    if first in ids.STOP or re.fullmatch(ids.TITLE, m["name"].split()[0].rstrip(".")):
        return None
    return _organisation(m, "[facility]")
