"""Synthetic rare-disease patients: phenopackets → FHIR R4 Bundles shaped like Epic / Oracle Health data.

Each observed phenotype is spread over one or two channels (SNOMED-coded problem, free-text
problem, abnormal lab, clinical note, imaging report); excluded phenotypes appear only as pertinent
negatives (note sentences, in-range or negative labs). ``phenopacket_to_bundle`` is pure; ``main``
does the file I/O. Run ``python -m launch.synth --help``.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import json
import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from launch import synth_text as words
from launch.synth_knowledge import LAB_TESTS, ORD_TESTS, ROUTINE_CODES, Knowledge, Term, load_knowledge

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
# (ancestor HPO id, study name) for imaging reports that can carry a finding.
STUDIES = [("HP:0012443", "MRI brain without and with contrast"), ("HP:0001627", "Transthoracic echocardiogram"),
           ("HP:0011842", "Skeletal survey radiographs"), ("HP:0012210", "Renal ultrasound"),
           ("HP:0410042", "Abdominal ultrasound")]
# Terms that contradict an in-range result of these routine codes without a loinc2hpo link.
NOISE_CONFLICTS = {"HP:0001903": {"718-7", "4544-3", "789-8"}, "HP:0001871": {"718-7", "4544-3", "6690-2", "777-3"}}
VITAL_TERMS = {"HP:0001945", "HP:0001662", "HP:0001649", "HP:0000822", "HP:0002615"}


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
                        tzinfo=timezone.utc)


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


def phenopacket_to_bundle(packet: dict, knowledge: Knowledge, rng: random.Random,
                          patient_id: str | None = None, known: bool = False) -> dict:
    """Turn one phenopacket into a FHIR R4 collection Bundle (see ``synthesize`` for the truth too)."""
    return synthesize(packet, knowledge, rng, patient_id, known)[0]


def synthesize(packet: dict, knowledge: Knowledge, rng: random.Random,
               patient_id: str | None = None, known: bool = False) -> tuple[dict, dict]:
    """Return (bundle, truth) for a phenopacket; ``known`` puts the diagnosis on the problem list."""
    pid = patient_id or "rd-" + re.sub(r"[^A-Za-z0-9]+", "-", packet["id"]).strip("-").lower()[:50]
    chart = new_chart(pid, packet, rng)
    observed = resolve_terms(packet.get("observed", []), knowledge)
    excluded = [t for t in resolve_terms(packet.get("excluded", []), knowledge)
                if not any(knowledge.related(t.id, o.id) for o in observed)]
    plan = assign_channels(observed, knowledge, rng)
    onsets = {knowledge.alt_ids.get(t["id"], t["id"]): t.get("onset") for t in packet.get("observed", [])}
    add_header(chart)
    add_conditions(chart, plan, onsets)
    if known:
        add_known_disease(chart, packet)
    abnormal_codes = add_abnormal_labs(chart, knowledge, plan)
    add_negative_labs(chart, knowledge, excluded, abnormal_codes)
    add_noise_labs(chart, knowledge, observed, abnormal_codes)
    add_reports(chart, knowledge, plan)
    extras = add_notes(chart, plan, excluded, packet if known else None)
    truth = {
        "phenopacket": packet["id"],
        "diagnoses": [d["id"] for d in packet.get("diagnoses", [])],
        "known_on_problem_list": known,
        "observed": [t.id for t in observed],
        "excluded": [t.id for t in excluded],
        "channels": {t.id: chart.channels.get(t.id, []) for t in observed},
        "negative_channels": chart.negatives,
        **extras,
    }
    return to_bundle(chart), truth


def new_chart(pid: str, packet: dict, rng: random.Random) -> Chart:
    """Fix the visit date and the birth date implied by the packet's age."""
    visit = TODAY - timedelta(days=rng.randint(1, 60))
    age = duration_days(packet.get("age")) or rng.randint(2 * 365, 50 * 365)
    birth = visit - timedelta(days=max(age, 3) + rng.randint(0, 27))
    sex = {"MALE": "male", "FEMALE": "female", "OTHER_SEX": "other"}.get(packet.get("sex"), "unknown")
    return Chart(pid=pid, rng=rng, birth=birth, visit=visit, sex=sex)


def resolve_terms(items: list[dict], knowledge: Knowledge) -> list[Term]:
    """Map packet terms to current HPO terms (alt_id followed), keeping unknown ones by label, no duplicates."""
    terms: dict[str, Term] = {}
    for item in items:
        term = knowledge.term(item["id"]) or Term(id=item["id"], label=item["label"])
        terms.setdefault(term.id, term)
    return list(terms.values())


def study_for(term: Term, knowledge: Knowledge) -> str | None:
    """The imaging study whose report could describe this finding, if any."""
    ancestors = knowledge.ancestors(term.id)
    return next((name for root, name in STUDIES if root in ancestors), None)


def assign_channels(observed: list[Term], knowledge: Knowledge, rng: random.Random) -> list[tuple[Term, list[str]]]:
    """Pick one or two channels for each observed term, weighted by what the term supports."""
    plan = []
    for term in observed:
        weights = {"condition-text": 1.0, "note": 1.6}
        if term.snomed:
            weights["condition-snomed"] = 1.6
        if knowledge.abnormal.get(term.id):
            weights["lab"] = 8.0
        if study_for(term, knowledge):
            weights["report"] = 0.7
        channels = [pick(weights, rng)]
        if rng.random() < 0.3 and len(weights) > 1:
            channels.append(pick({k: v for k, v in weights.items() if k != channels[0]}, rng))
        plan.append((term, channels))
    return plan


def pick(weights: dict[str, float], rng: random.Random) -> str:
    """Weighted choice from a dict."""
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


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
    start = datetime(chart.visit.year, chart.visit.month, chart.visit.day, 9, 0, tzinfo=timezone.utc)
    chart.resources.append({
        "resourceType": "Encounter", "id": f"{chart.pid}-enc-1", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "type": [{"text": "Office Visit"}], "subject": chart.subject,
        "participant": [{"individual": {"reference": f"Practitioner/{chart.pid}-prac-1"}}],
        "period": {"start": iso(start), "end": iso(start + timedelta(minutes=40))},
    })


def add_conditions(chart: Chart, plan: list[tuple[Term, list[str]]], onsets: dict[str, str | None]) -> None:
    """Add a Condition for each term planned as a coded or free-text problem."""
    for term, channels in plan:
        for channel in ("condition-snomed", "condition-text"):
            if channel in channels:
                code = {"text": words.problem_text(term, chart.rng)}
                if channel == "condition-snomed":
                    code = {"coding": [{"system": SNOMED, "code": term.snomed, "display": term.label}],
                            "text": words.problem_text(term, chart.rng) if chart.rng.random() < 0.5 else term.label}
                add_condition(chart, code, onsets.get(term.id))
                chart.mark(term.id, channel)


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


def add_known_disease(chart: Chart, packet: dict) -> None:
    """Put the diagnosis itself on the problem list as free text (the 'already known' case)."""
    for diagnosis in packet.get("diagnoses", [])[:1]:
        add_condition(chart, {"text": diagnosis["label"]}, None)


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


def add_abnormal_labs(chart: Chart, knowledge: Knowledge, plan: list[tuple[Term, list[str]]]) -> set[str]:
    """Add abnormal results for terms planned as labs, sometimes repeated; return the codes used."""
    used: dict[str, str] = {}
    for term, channels in plan:
        if "lab" not in channels:
            continue
        routes = [r for r in knowledge.abnormal[term.id] if used.get(r[0], r[1]) == r[1]]
        if not routes:
            channels.remove("lab")
            channels.extend([] if "note" in channels else ["note"])
            continue
        code, outcome = chart.rng.choice(sorted(routes))
        if code not in used:
            used[code] = outcome
            for _ in range(1 + (chart.rng.random() < 0.35) * chart.rng.randint(1, 2)):
                add_abnormal_result(chart, code, outcome)
        chart.mark(term.id, "lab")
    return set(used)


def add_abnormal_result(chart: Chart, code: str, outcome: str) -> None:
    """One abnormal result; about 10% of quantitative ones come without an interpretation flag."""
    moment = chart.when(2 * 365)
    if outcome == "POS":
        lab_observation(chart, code, moment, True, "POS")
        return
    value, flag = abnormal_value(code, outcome, chart.rng)
    lab_observation(chart, code, moment, value, None if chart.rng.random() < 0.1 else flag)


def add_negative_labs(chart: Chart, knowledge: Knowledge, excluded: list[Term], used: set[str]) -> None:
    """For some excluded terms, add an in-range or negative result that rules them out."""
    for term in excluded:
        routes = [r for r in knowledge.negating.get(term.id, []) if r[0] not in used]
        if not routes or chart.rng.random() < 0.5:
            continue
        code, kind = chart.rng.choice(sorted(routes))
        used.add(code)
        moment = chart.when()
        if kind == "ord":
            lab_observation(chart, code, moment, False, "NEG")
        else:
            lab_observation(chart, code, moment, normal_value(code, chart.rng), "N")
        chart.mark(term.id, "lab", negative=True)


def add_noise_labs(chart: Chart, knowledge: Knowledge, observed: list[Term], used: set[str]) -> None:
    """Add an in-range routine panel that says nothing about the patient's findings, often as a lab report."""
    codes = noise_codes(knowledge, [t.id for t in observed], used)
    chosen = sorted(chart.rng.sample(codes, min(len(codes), chart.rng.randint(4, 9))))
    moment = chart.when(30)
    refs = [lab_observation(chart, code, moment, normal_value(code, chart.rng), "N") for code in chosen]
    if refs and chart.rng.random() < 0.5:
        chart.add({
            "resourceType": "DiagnosticReport", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB",
                                      "display": "Laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": "11502-2", "display": "Laboratory report"}],
                     "text": "Chemistry and hematology"},
            "subject": chart.subject, "effectiveDateTime": iso(moment), "issued": iso(moment + timedelta(hours=4)),
            "result": [{"reference": r} for r in refs],
        }, "rep")
    if chart.rng.random() < 0.3 and chosen:
        code = chart.rng.choice(chosen)
        lab_observation(chart, code, chart.when(3 * 365), normal_value(code, chart.rng), "N")


def noise_codes(knowledge: Knowledge, observed: list[str], used: set[str]) -> list[str]:
    """Routine codes whose in-range result neither repeats a used code nor contradicts an observed term."""
    blocked = set(used)
    for hpo_id in observed:
        blocked |= NOISE_CONFLICTS.get(hpo_id, set())
    return [c for c in ROUTINE_CODES if c not in blocked
            and not any(knowledge.related(t, o) for t in knowledge.code_terms.get(c, ()) for o in observed)]


def add_reports(chart: Chart, knowledge: Knowledge, plan: list[tuple[Term, list[str]]]) -> None:
    """Add an imaging DiagnosticReport (presentedForm) per study that describes planned findings."""
    studies: dict[str, list[Term]] = {}
    for term, channels in plan:
        if "report" in channels:
            studies.setdefault(study_for(term, knowledge), []).append(term)
    for study, terms in sorted(studies.items()):
        rng = chart.rng
        findings = [words.sentence(rng.choice(["There is {}.", "Findings consistent with {}.", "{} is seen."]),
                                   words.mention(t, rng)) for t in terms]
        impression = "; ".join(words.mention(t, rng) for t in terms)
        sections = [("Exam", [study + "."]), ("Indication", ["Evaluation of multisystem findings."]),
                    ("Comparison", ["None."]), ("Findings", findings + ["The remainder of the study is unremarkable."]),
                    ("Impression", [impression[0].upper() + impression[1:] + "."])]
        moment = chart.when(2 * 365)
        content_type = rng.choice(["text/html", "text/plain"])
        chart.add({
            "resourceType": "DiagnosticReport", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD",
                                      "display": "Radiology"}]}],
            "code": {"coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}], "text": study},
            "subject": chart.subject, "effectiveDateTime": iso(moment), "issued": iso(moment + timedelta(hours=6)),
            "presentedForm": [{"contentType": content_type, "title": study,
                               "data": b64(words.RENDERERS[content_type](study, sections))}],
        }, "rep")
        for term in terms:
            chart.mark(term.id, "report")


def add_notes(chart: Chart, plan: list[tuple[Term, list[str]]], excluded: list[Term], known: dict | None) -> dict:
    """Add 1-4 clinical notes with the note-channel findings, negatives, family history and noise."""
    rng = chart.rng
    note_terms = [t for t, ch in plan if "note" in ch]
    count = min(4, 1 + len(note_terms) // 4 + (rng.random() < 0.4))
    buckets: list[list[Term]] = [[] for _ in range(count)]
    for term in note_terms:
        buckets[rng.randrange(count)].append(term)
    negatives: list[list[Term]] = [[] for _ in range(count)]
    for term in excluded:
        negatives[rng.randrange(count)].append(term)
    taken = [t.id for t, _ in plan] + [t.id for t in excluded]
    family = [(h, p) for h, p in words.FAMILY_HISTORY if h not in taken]
    family = rng.sample(family, min(len(family), rng.randint(1, 2)))
    rule_outs = [r for r in words.RULE_OUTS if r[0] not in taken]
    rule_out = rng.choice(rule_outs) if rule_outs else None
    vitals = not any(t.id in VITAL_TERMS for t, _ in plan)
    for index in range(count):
        sections = note_sections(chart, buckets[index], negatives[index], family if index == 0 else [],
                                 rule_out if index == 0 else None, vitals, known)
        add_note(chart, sections, index)
        for term in buckets[index]:
            chart.mark(term.id, "note")
        for term in negatives[index]:
            chart.mark(term.id, "note", negative=True)
    return {"family_history": [h for h, _ in family], "rule_out": [rule_out[0]] if rule_out else []}


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
                                            zip(rng.sample(words.RELATIVES, len(family)), family)]))
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


def select_packets(packets: list[dict], count: int, rng: random.Random, knowledge: Knowledge) -> list[dict]:
    """Choose ``count`` packets with distinct cohorts and diseases, preferring rich cases.

    Cohorts whose cases have lab-reachable findings fill every other slot, so the lab channel is
    exercised without making every patient a metabolic one.
    """
    def labs(packet: dict) -> int:
        return sum(bool(knowledge.abnormal.get(knowledge.alt_ids.get(t["id"], t["id"]))) for t in packet["observed"])

    by_cohort: dict[str, list[dict]] = {}
    for packet in packets:
        if len(packet["observed"]) >= 5 and packet["excluded"] and packet.get("diagnoses"):
            by_cohort.setdefault(packet["cohort"], []).append(packet)
    cohorts = sorted(by_cohort)
    rng.shuffle(cohorts)
    with_labs = [c for c in cohorts if any(labs(p) for p in by_cohort[c])]
    without = [c for c in cohorts if c not in with_labs]
    order = [c for pair in zip(with_labs, without) for c in pair] + with_labs[len(without):] + without[len(with_labs):]
    chosen, diseases = [], set()
    for cohort in order:
        candidates = [p for p in sorted(by_cohort[cohort], key=lambda p: p["id"])
                      if p["diagnoses"][0]["id"] not in diseases]
        best = max((labs(p) > 0 for p in candidates), default=False)
        candidates = [p for p in candidates if (labs(p) > 0) == best]
        if candidates and len(chosen) < count:
            packet = rng.choice(candidates)
            chosen.append(packet)
            diseases.add(packet["diagnoses"][0]["id"])
    return chosen


def build_all(packets: list[dict], knowledge: Knowledge, count: int, seed: int) -> tuple[list[dict], dict]:
    """Build the selected patients and the edge cases; return (bundles, truth)."""
    # Imported here because synth_edge builds on this module's helpers.
    from launch.synth_edge import edge_bundles

    rng = random.Random(seed)
    chosen = select_packets(packets, count + 1, rng, knowledge)
    spare, chosen = chosen[-1], chosen[:count]
    known = set(rng.sample(range(len(chosen)), min(5, len(chosen))))
    bundles, truth = [], {}
    for index, packet in enumerate(chosen):
        pid = f"rd-{index + 1:03d}"
        bundle, record = synthesize(packet, knowledge, random.Random(f"{seed}:{pid}"), pid, index in known)
        bundles.append(bundle)
        truth[pid] = record
    for bundle, pid, record in edge_bundles(spare, knowledge, seed):
        bundles.append(bundle)
        if record is not None:
            truth[pid] = record
    return bundles, truth


def main(argv: list[str] | None = None) -> None:
    """Command line: read the reference data, write patients.ndjson.gz and truth.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phenopackets", type=Path, required=True)
    parser.add_argument("--hpo", type=Path, required=True)
    parser.add_argument("--loinc2hpo", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    knowledge = load_knowledge(args.hpo, args.loinc2hpo)
    with gzip.open(args.phenopackets, "rt", encoding="utf-8") as fh:
        packets = [json.loads(line) for line in fh if line.strip()]
    bundles, truth = build_all(packets, knowledge, args.count, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes identical across runs.
    with open(args.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        for bundle in bundles:
            fh.write((json.dumps(bundle, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8"))
    args.truth.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(bundles)} patients to {args.out} ({args.out.stat().st_size:,} bytes) and {args.truth}")


if __name__ == "__main__":
    main()
