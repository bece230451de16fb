"""What the record itself says identifies someone, as patterns for :mod:`app.case.deidentify`.

- People: every HumanName of the Patient (official, usual, nickname, maiden, old: its text, family
  and given parts) and of its contacts, and the display of every person that other resources of the
  record name (:func:`record_people`: the general practitioner, a note's authors, a condition's
  recorder and asserter, an observation's performer). A name is removed whole, with any dash or a
  space between its hyphenated parts ("Simpson-Bouvier", "Simpson–Bouvier", "Simpson Bouvier"),
  and part by part (two letters or more), in any case; a part that is also an English word ("Rose",
  "Gray") or is short ("Ng") only when capitalised. Titles, credentials and suffixes in a display
  ("Dr.", "MD", "Jr.") are not names; a suffix right after a removed name goes with it.
- Organisations (a display whose reference is an Organization, or that has a facility word) are
  removed as whole phrases.
- Identifiers: each value with or without the separators between its characters ("E1234567",
  "E-1234567", "123-45-6789" for "123456789"), and its digits alone when there are six or more.
- Phones by their digits in any punctuation; e-mail and other contacts verbatim; address lines,
  cities, districts and postal codes as phrases.
"""
from __future__ import annotations

import re

from . import identifiers as ids

PERSON_TYPES = ("Practitioner", "PractitionerRole", "RelatedPerson", "Patient", "Person")
ORG_WORD = re.compile(r"(?i)\b(?:hospitals?|clinics?|health|healthcare|medical|cent(?:er|re)|laborator(?:y|ies)|labs?|"
                      r"diagnostics|pharmacy|institute|associates|group|inc\.?|llc|corp\.?|university|department|"
                      r"nuclear|services?|system|foundation)\b")
NOT_NAME = re.compile(rf"(?:{ids.TITLE}|{ids.TITLE_ABBR}|{ids.CRED}|Jr|Sr|II|III|IV|Esq)\.?", re.I)
PART = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
DASH = r"(?:[ \t]*[-‐‑–—][ \t]*|[ \t]+)"
SUFFIX_AFTER = re.compile(r"\[name\](?:,?[ \t]+(?:Jr|Sr|Esq)\b\.?|[ \t]+(?:II|III|IV)\b)")
INITIALS_BEFORE = re.compile(r"(?<![\w.])(?:[A-Z]\.[ \t]*)+(?=\[name\])")


def record_people(record) -> list[dict]:
    """The people and organisations that the resources of a PatientRecord other than the Patient name,
    as FHIR References (``{"reference", "display"}``): note authors, condition recorders and
    asserters, observation performers."""
    out = []
    for condition in record.conditions:
        out += [condition.get("recorder") or {}, condition.get("asserter") or {}]
    for observation in record.observations:
        out += observation.get("performer") or []
    for note in record.notes:
        out += [{"display": a} for a in getattr(note, "authors", None) or []]
    return [r for r in out if isinstance(r, dict) and r.get("display")]


def split_people(patient: dict, people) -> tuple[list[str], list[str]]:
    """(names, organisations): every name of the Patient and its contacts, and the displays of the
    Patient's general practitioner, managing organisation, contacts' organisations and ``people``."""
    names: list[str] = []
    for person in [patient, *(patient.get("contact") or [])]:
        found = person.get("name") or []
        for name in found if isinstance(found, list) else [found]:
            names += [name.get("text") or "", " ".join(name.get("given") or []) + " " + (name.get("family") or ""),
                      name.get("family") or "", *(name.get("given") or [])]
    orgs = []
    refs = [*(patient.get("generalPractitioner") or []), patient.get("managingOrganization") or {},
            *(c.get("organization") or {} for c in patient.get("contact") or []), *(people or [])]
    for ref in (r for r in refs if isinstance(r, dict)):
        display, kind = ref.get("display") or "", (ref.get("reference") or "").partition("/")[0]
        if kind == "Organization" or (kind not in PERSON_TYPES and ORG_WORD.search(display)):
            orgs.append(display)
        else:
            names.append(display)
    return [n for n in names if n.strip()], orgs


def name_values(names: list[str]) -> list[str]:
    """Whole names (without titles and credentials) and their parts of two letters or more."""
    out = []
    for name in names:
        parts = [p for p in PART.findall(name) if not NOT_NAME.fullmatch(p)]
        out += [" ".join(parts)] if len(parts) > 1 else []
        out += [p for p in parts if _letters(p) >= 2 and p[:1].isupper() and p.lower() not in ids.PARTICLES]
    return out


def names_pattern(names: list[str]) -> re.Pattern | None:
    """One pattern for all the names, longest first (see the module docstring)."""
    values = sorted({v.strip().strip(".,") for v in name_values(names) if v.strip()}, key=lambda v: (-len(v), v))
    if not values:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(map(_name_regex, values)) + r")(?![\w]|-\w)")


def _name_regex(value: str) -> str:
    """``value`` as a regex: any case and any dash between hyphenated parts, except that a part that
    is also an English word, or a short one ("Ng", "Li": "ng/mL"), must be capitalised."""
    words = [p for p in re.split(r"[\s\-‐‑–—]+", value) if p]
    out = []
    for w in words:
        parts = "['’]".join(re.escape(p) for p in re.split(r"['’]", w))
        capital = w.lower() in ids.WORDLIKE or len(w) <= 3
        out.append(f"{re.escape(w[0])}(?i:{parts[len(re.escape(w[0])):]})" if capital else f"(?i:{parts})")
    return DASH.join(out)


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def phrase_patterns(values: list[str], *, names: bool = False) -> list[re.Pattern]:
    """Patterns for exact values (longest first), flexible in whitespace and apostrophes."""
    values = sorted({v.strip().strip(".,") for v in values if v and v.strip()}, key=lambda v: (-len(v), v))
    out = []
    for v in values:
        body = _name_regex(v) if names else "(?i:" + r"\s+".join(
            "['’]".join(re.escape(part) for part in re.split(r"['’]", w)) for w in v.split()) + ")"
        out.append(re.compile(rf"(?<![\w]){body}(?![\w])"))
    return out


def identifier_patterns(values: list[str]) -> list[re.Pattern]:
    """Each identifier with any separators (or none) between its characters, and its digits alone
    when there are six or more ("E1234567" → also "E-1234567", "1234567")."""
    out = []
    for v in sorted({v for v in values if v}, key=lambda v: (-len(v), v)):
        chars = re.sub(r"[\W_]", "", v)
        digits = re.sub(r"\D", "", v)
        forms = [chars] + ([digits] if len(digits) >= 6 and digits != chars else [])
        for form in forms if len(chars) >= 4 else []:
            out.append(re.compile(r"(?<![\w-])(?i:" + r"[\s./-]?".join(map(re.escape, form)) + r")(?![\w-]|[.,]\d)"))
        if len(chars) < 4:
            out += phrase_patterns([v])
    return out


def digit_patterns(values: list[str]) -> list[re.Pattern]:
    """Patterns matching each phone number's digits with any common separators between them."""
    out = []
    for v in values:
        digits = re.sub(r"\D", "", v or "")
        if len(digits) >= 5:
            out.append(re.compile(r"(?<!\d)" + r"[\s().+-]*".join(digits) + r"(?!\d)"))
    return out


def address_parts(people: list[dict]) -> list[str]:
    """Address lines, text, cities, districts and postal codes of the Patient and its contacts."""
    out = []
    for person in people:
        addresses = person.get("address") or []
        for a in addresses if isinstance(addresses, list) else [addresses]:
            out += [*(a.get("line") or []), a.get("text") or "", a.get("city") or "", a.get("district") or "",
                    a.get("postalCode") or ""]
    return [p for p in out if len(p.strip()) >= 2]
