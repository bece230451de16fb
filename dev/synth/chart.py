"""One synthetic patient's FHIR R4 resources, shaped like Epic / Oracle Health data: the chart being
built (ids, the truth record) and a builder per resource (Patient header, Condition, laboratory
Observation, clinical note with its attachments), used by the phenopacket patients and the edge cases."""
from __future__ import annotations

import base64
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from . import text as words
from .knowledge import LAB_TESTS, ORD_TESTS, Term

TODAY = date(2026, 11, 1)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CATEGORIES = [
    ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item", 0.7),
    ("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis", 0.15),
    ("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern", "Health Concern", 0.15),
]
NOTE_TYPES = [("11506-3", "Progress note"), ("34117-2", "History and physical note"), ("11488-4", "Consult note")]


@dataclass
class Chart:
    """The resources of one patient being built, with id counters and the truth record."""

    pid: str
    rng: random.Random
    birth: date
    visit: date
    sex: str
    resources: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    channels: dict[str, list[str]] = field(default_factory=dict)
    negatives: dict[str, list[str]] = field(default_factory=dict)

    def add(self, resource: dict, prefix: str) -> str:
        """Give ``resource`` the next id for ``prefix``, add it, and return its reference."""
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        resource["id"] = f"{self.pid}-{prefix}-{self.counts[prefix]}"
        self.resources.append(resource)
        return f"{resource['resourceType']}/{resource['id']}"

    @property
    def subject(self) -> dict:
        """Reference to the patient."""
        return {"reference": f"Patient/{self.pid}"}

    def mark(self, hpo_id: str, channel: str, negative: bool = False) -> None:
        """Record that a term was placed in a channel (as a finding or as a negative)."""
        book = self.negatives if negative else self.channels
        if channel not in book.setdefault(hpo_id, []):
            book[hpo_id].append(channel)

    def when(self, days_back_max: int = 365) -> datetime:
        """A plausible time of day between the birth date and the visit, at most ``days_back_max`` back."""
        span = max(0, min(days_back_max, (self.visit - self.birth).days - 1))
        day = self.visit - timedelta(days=self.rng.randint(0, span))
        return datetime(day.year, day.month, day.day, self.rng.randint(7, 17), self.rng.choice([0, 15, 30, 45]),
                        tzinfo=UTC)


def iso(moment: datetime) -> str:
    """FHIR dateTime with seconds and 'Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_days(value: str | None) -> int | None:
    """Days in an ISO 8601 duration like P3Y6M or P10D; None when absent or unparseable."""
    match = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?", value or "")
    if not match or value == "P":
        return None
    y, m, w, d = (int(g or 0) for g in match.groups())
    return y * 365 + y // 4 + m * 30 + w * 7 + d


def b64(text: str | bytes) -> str:
    """Base64 of UTF-8 text or bytes."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def add_header(chart: Chart) -> None:
    """Add the Patient, the attending Practitioner and the Encounter."""
    rng = chart.rng
    given = rng.choice(words.GIVEN.get(chart.sex) or words.GIVEN["female"] + words.GIVEN["male"])
    family = rng.choice(words.FAMILY)
    street, (city, state, zip_code) = rng.choice(words.STREETS), rng.choice(words.CITIES)
    chart.resources.append({
        "resourceType": "Patient", "id": chart.pid,
        "identifier": [{"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                             "code": "MR", "display": "Medical record number"}], "text": "MRN"},
                        "system": "urn:oid:2.16.840.1.113883.3.9999.1", "value": f"E{rng.randint(1000000, 9999999)}"}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given, rng.choice("ABCDEJLMRS") + "."],
                  "text": f"{given} {family}"}],
        "gender": chart.sex, "birthDate": chart.birth.isoformat(),
        "telecom": [{"system": "phone", "value": f"555-01{rng.randint(0, 99):02d}", "use": "home"}],
        "address": [{"use": "home", "line": [f"{rng.randint(10, 9999)} {street}"], "city": city, "state": state,
                     "postalCode": zip_code, "country": "US"}],
    })
    first, last, suffix = rng.choice(words.CLINICIANS)
    chart.resources.append({
        "resourceType": "Practitioner", "id": f"{chart.pid}-prac-1", "active": True,
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": str(rng.randint(1000000000, 1999999999))}],
        "name": [{"family": last, "given": [first], "suffix": [suffix], "text": f"{first} {last}, {suffix}"}],
    })
    start = datetime(chart.visit.year, chart.visit.month, chart.visit.day, 9, 0, tzinfo=UTC)
    chart.resources.append({
        "resourceType": "Encounter", "id": f"{chart.pid}-enc-1", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "type": [{"text": "Office Visit"}], "subject": chart.subject,
        "participant": [{"individual": {"reference": f"Practitioner/{chart.pid}-prac-1"}}],
        "period": {"start": iso(start), "end": iso(start + timedelta(minutes=40))},
    })


def add_condition(chart: Chart, code: dict, onset: str | None) -> None:
    """Add one active, confirmed Condition with a category, onset and recorded date."""
    rng = chart.rng
    system, category, display, _ = rng.choices(CONDITION_CATEGORIES, weights=[c[3] for c in CONDITION_CATEGORIES])[0]
    onset_days = duration_days(onset)
    recorded = chart.when(3 * 365)
    onset_date = (chart.birth + timedelta(days=onset_days)) if onset_days is not None else None
    if onset_date is None or onset_date > recorded.date():
        onset_date = chart.birth + timedelta(days=rng.randint(0, max(0, (recorded.date() - chart.birth).days)))
    resource = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                           "code": "confirmed"}]},
        "category": [{"coding": [{"system": system, "code": category, "display": display}]}],
        "code": code, "subject": chart.subject,
        "onsetDateTime": onset_date.isoformat(), "recordedDate": iso(recorded),
    }
    if category == "encounter-diagnosis":
        resource["encounter"] = {"reference": f"Encounter/{chart.pid}-enc-1"}
    chart.add(resource, "cond")


def abnormal_value(code: str, outcome: str, rng: random.Random) -> tuple[float, str]:
    """A value outside the reference range in the direction of ``outcome`` ('H'/'L'), and its flag."""
    test = LAB_TESTS[code]
    step = 10 ** -test.decimals
    if outcome == "H":
        factor = rng.uniform(1.15, 3.2)
        value = max(round(test.high * factor if test.high > 0 else factor * 2, test.decimals), test.high + step)
        return value, "HH" if factor > 2.8 else "H"
    factor = rng.uniform(0.3, 0.88)
    value = min(round(test.low * factor, test.decimals), test.low - step)
    return max(value, 0.0), "LL" if factor < 0.4 else "L"


def normal_value(code: str, rng: random.Random) -> float:
    """A value inside the reference range (using zero as the floor of an open-ended range)."""
    test = LAB_TESTS[code]
    low = test.low if test.low is not None else 0.0
    high = test.high if test.high is not None else low * 1.8
    return round(rng.uniform(low + 0.1 * (high - low), high - 0.1 * (high - low)), test.decimals)


def quantity(value: float, code: str) -> dict:
    """A UCUM Quantity for a lab test's unit."""
    unit = LAB_TESTS[code].unit
    return {"value": int(value) if LAB_TESTS[code].decimals == 0 else value, "unit": unit, "system": UCUM, "code": unit}


def reference_range(code: str) -> dict:
    """referenceRange entry with low/high and the text a lab prints."""
    test = LAB_TESTS[code]
    fmt = f"{{:.{test.decimals}f}}"
    entry = {}
    if test.low is not None:
        entry["low"] = quantity(test.low, code)
    if test.high is not None:
        entry["high"] = quantity(test.high, code)
    if test.low is not None and test.high is not None:
        entry["text"] = f"{fmt.format(test.low)}-{fmt.format(test.high)} {test.unit}"
    else:
        entry["text"] = f"<{fmt.format(test.high)}" if test.low is None else f">{fmt.format(test.low)}"
    return entry


def lab_observation(chart: Chart, code: str, moment: datetime, value: float | bool, flag: str | None) -> str:
    """Add one laboratory Observation (quantity or ordinal) and return its reference."""
    if code in LAB_TESTS:
        display, short = LAB_TESTS[code].display, LAB_TESTS[code].short
    else:
        display, short = ORD_TESTS[code]
    resource = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory", "display": "Laboratory"}], "text": "Laboratory"}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": short},
        "subject": chart.subject, "effectiveDateTime": iso(moment), "issued": iso(moment + timedelta(hours=3)),
    }
    if code in LAB_TESTS:
        resource["valueQuantity"] = quantity(value, code)
        resource["referenceRange"] = [reference_range(code)]
    else:
        snomed = ("10828004", "Positive") if value else ("260385009", "Negative")
        resource["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": snomed[0], "display": snomed[1]}],
                                            "text": snomed[1]}
    if flag:
        resource["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": flag}]}]
    return chart.add(resource, "obs")


def note_sections(chart: Chart, findings: list[Term], negatives: list[Term], family: list[tuple[str, str]],
                  rule_out: tuple[str, str, str] | None, vitals: bool, known: dict | None) -> list[tuple[str, list[str]]]:
    """The sections of one clinician's note."""
    rng = chart.rng
    age = words.age_phrase((chart.visit - chart.birth).days)
    who = {"male": "boy" if (chart.visit - chart.birth).days < 18 * 365 else "man",
           "female": "girl" if (chart.visit - chart.birth).days < 18 * 365 else "woman"}.get(chart.sex, "patient")
    hpi = [f"{age} {who} seen in clinic today for follow-up of multiple medical concerns."]
    hpi += [words.sentence(rng.choice(words.POSITIVE), words.mention(t, rng)) for t in findings]
    ros = [words.sentence(rng.choice(words.NEGATIVE), words.mention(t, rng)) for t in negatives] or ["Otherwise negative."]
    sections = [("Chief Complaint", [rng.choice(["Follow-up visit.", "New patient evaluation.", "Genetics consultation."])]),
                ("History of Present Illness", hpi), ("Review of Systems", ros)]
    if family:
        sections.append(("Family History", [f"{rel} has {phrase}." for rel, (_, phrase) in
                                            zip(rng.sample(words.RELATIVES, len(family)), family, strict=False)]))
    sections.append(("Social History", [rng.choice(words.SOCIAL[who]), "No tobacco exposure."]))
    sections.append(("Medications", ["; ".join(rng.sample(words.MEDS, 2)) + "."]))
    if vitals:
        sections.append(("Vital Signs", [f"BP {rng.randint(100, 118)}/{rng.randint(60, 76)}, HR {rng.randint(72, 96)}, "
                                         f"T 36.{rng.randint(5, 9)} C, SpO2 {rng.randint(97, 100)}% on room air."]))
    plan = ["Reviewed available labs and imaging."]
    if rule_out:
        plan.append(f"{rule_out[2]} ordered to rule out {rule_out[1]}.")
    if known:
        plan.append(f"Known diagnosis of {known['diagnoses'][0]['label']}; continue specialist follow-up.")
    plan.append(rng.choice(["Return in 3 months.", "Follow up in 6 months or sooner as needed."]))
    sections.append(("Assessment and Plan", plan))
    return sections


def add_note(chart: Chart, sections: list[tuple[str, list[str]]], index: int) -> None:
    """Add one DocumentReference in a random EHR format, with Binary resources or inline data."""
    rng = chart.rng
    loinc, title = NOTE_TYPES[0] if index else rng.choice(NOTE_TYPES)
    roll = rng.random()
    formats = (["text/html", "text/rtf"] if roll < 0.5 else ["text/html"] if roll < 0.7
               else ["text/rtf"] if roll < 0.85 else ["text/plain"])
    inline = len(formats) == 1 and rng.random() < 0.25
    moment = chart.when(0 if index == 0 else 2 * 365)
    content = [{"attachment": attachment(chart, fmt, words.RENDERERS[fmt](title, sections), inline, title, moment)}
               for fmt in formats]
    add_document(chart, loinc, title, moment, content)


def attachment(chart: Chart, content_type: str, body: str | bytes, inline: bool, title: str, moment: datetime) -> dict:
    """An Attachment: inline base64 data, or a url to a Binary added to the chart."""
    found = {"contentType": content_type, "title": title, "creation": iso(moment)}
    if inline:
        found["data"] = b64(body)
    else:
        found["url"] = chart.add({"resourceType": "Binary", "contentType": content_type,
                                  "securityContext": chart.subject, "data": b64(body)}, "bin")
    return found


def add_document(chart: Chart, loinc: str, title: str, moment: datetime, content: list[dict]) -> str:
    """Add a clinical-note DocumentReference with the given content list."""
    return chart.add({
        "resourceType": "DocumentReference", "status": "current", "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": loinc, "display": title}], "text": title},
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                  "code": "clinical-note", "display": "Clinical Note"}]}],
        "subject": chart.subject, "date": iso(moment),
        "author": [{"reference": f"Practitioner/{chart.pid}-prac-1"}],
        "content": content,
        "context": {"encounter": [{"reference": f"Encounter/{chart.pid}-enc-1"}],
                    "period": {"start": iso(moment), "end": iso(moment + timedelta(minutes=30))}},
    }, "doc")


def to_bundle(chart: Chart) -> dict:
    """Wrap the chart's resources in a collection Bundle."""
    return {"resourceType": "Bundle", "id": f"{chart.pid}-bundle", "type": "collection",
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in chart.resources]}
