"""Synthetic rare-disease patients: a phenopacket → a FHIR R4 Bundle and its truth record.

Each observed phenotype is spread over one or two channels (SNOMED-coded problem, free-text
problem, abnormal lab, clinical note, imaging report); excluded phenotypes appear only as pertinent
negatives (note sentences, in-range or negative labs). ``phenopacket_to_bundle`` is pure; the
resources themselves are built by ``chart``.
"""
from __future__ import annotations

import random
import re
from datetime import timedelta

from . import text as words
from .chart import (
    LOINC,
    SNOMED,
    TODAY,
    Chart,
    abnormal_value,
    add_condition,
    add_header,
    add_note,
    b64,
    duration_days,
    iso,
    lab_observation,
    normal_value,
    note_sections,
    to_bundle,
)
from .knowledge import ROUTINE_CODES, Knowledge, Term

# (ancestor HPO id, study name) for imaging reports that can carry a finding.
STUDIES = [("HP:0012443", "MRI brain without and with contrast"), ("HP:0001627", "Transthoracic echocardiogram"),
           ("HP:0011842", "Skeletal survey radiographs"), ("HP:0012210", "Renal ultrasound"),
           ("HP:0410042", "Abdominal ultrasound")]
# Terms that contradict an in-range result of these routine codes without a loinc2hpo link.
NOISE_CONFLICTS = {"HP:0001903": {"718-7", "4544-3", "789-8"}, "HP:0001871": {"718-7", "4544-3", "6690-2", "777-3"}}
VITAL_TERMS = {"HP:0001945", "HP:0001662", "HP:0001649", "HP:0000822", "HP:0002615"}


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


def add_known_disease(chart: Chart, packet: dict) -> None:
    """Put the diagnosis itself on the problem list as free text (the 'already known' case)."""
    for diagnosis in packet.get("diagnoses", [])[:1]:
        add_condition(chart, {"text": diagnosis["label"]}, None)


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
    order = [c for pair in zip(with_labs, without, strict=False) for c in pair]
    order += with_labs[len(without):] + without[len(with_labs):]
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
