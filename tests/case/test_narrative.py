"""The case narrative: content, faithfulness, de-identification, budget and determinism."""
from __future__ import annotations

import gzip
import json
import re
from datetime import date
from pathlib import Path

import pytest

from app.case.deidentify import deidentify
from app.case.narrative import DEFAULT_BUDGET, LAB_REPEATS, build_narrative, estimate_tokens
from app.fetch.files import record_from_bundle
from app.phenotype import extract
from app.pipeline import load_knowledge
from app.record import Note, PatientRecord

DATA = Path(__file__).resolve().parents[2] / "dev" / "data" / "patients.ndjson.gz"
TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.fixture(scope="module")
def bundles():
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        return {b["entry"][0]["resource"]["id"]: b for b in map(json.loads, fh)}


def case(kb, bundles, pid, **kwargs):
    record = record_from_bundle(bundles[pid])
    profile = extract(record, kb, today=TODAY)
    return record, profile, build_narrative(record, profile, today=TODAY, **kwargs)


def lab(oid, name, value, unit=None, flag="H", when="2026-05-01", low=None, high=None):
    q = {"value": value, **({"unit": unit} if unit else {})}
    o = {"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": name},
         "valueQuantity": q, "effectiveDateTime": when,
         "interpretation": [{"coding": [{"code": flag}]}]}
    if low is not None:
        o["referenceRange"] = [{"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}]
    return o


PATIENT = {
    "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "2019-03-14",
    "identifier": [{"type": {"text": "MRN"}, "value": "E1234567"}, {"system": "urn:ins", "value": "INS-99-AB12"}],
    "name": [{"use": "official", "family": "O'Brien", "given": ["Maeve", "J."], "text": "Maeve J. O'Brien"},
             {"use": "nickname", "given": ["Mae"]}],
    "telecom": [{"system": "phone", "value": "(555) 201-0187"}, {"system": "email", "value": "maeve.obrien@example.org"}],
    "address": [{"line": ["42 Willow Lane", "Apt 3B"], "city": "Riverton", "postalCode": "80123", "state": "CO"}],
    "contact": [{"name": {"family": "Kowalski", "given": ["Irena"]}, "telecom": [{"system": "phone", "value": "555-0199"}]}],
}
NOTE = ("Maeve O'Brien (MRN E1234567, insurance INS-99-AB12) was seen on 03/14/2025 by Dr. Patel. "
        "MAEVE's mother Irena Kowalski can be reached at 555-0199 or (555) 201-0187, maeve.obrien@example.org. "
        "Lives at 42 Willow Lane, Apt 3B, Riverton 80123. Born 2019-03-14. Mae has seizures since March 14, 2025. "
        "MRI on 2025-10-02T10:00:00Z, echo 14 March 2025, EEG Sept. 3, 2024. Portal: https://portal.example.org/p1. "
        "Mae's gait is ataxic.")
SECRETS = ["Maeve", "O'Brien", "OBrien", "Mae ", "Mae'", "Kowalski", "Irena", "E1234567", "INS-99-AB12", "555",
           "0187", "0199", "example.org", "Willow", "Riverton", "80123", "2019", "2025", "2024", "03/14", "March 14",
           "14 March", "Sept", "Patel", "https", "Apt 3B"]


def crafted(kb):
    record = PatientRecord(
        patient_id="p1", patient=PATIENT,
        conditions=[{"resourceType": "Condition", "id": "c1", "code": {"text": "Seizures reported by Maeve O'Brien"},
                     "clinicalStatus": {"text": "active"}, "onsetDateTime": "2025-03-14"}],
        observations=[lab("o1", "Creatine kinase", 612, "U/L", "H", "2026-05-01", 30, 200),
                      lab("o2", "Mystery index", 7.5, None, "H", "2026-06-02")],
        notes=[Note(ref="DocumentReference/n1", kind="note", title="Progress note", date="2026-10-07T10:00:00Z",
                    content_type="text/plain", text=NOTE)])
    return record, extract(record, kb, today=TODAY)


def test_content_of_a_sandbox_patient(kb, bundles):
    _, profile, n = case(kb, bundles, "rd-005")
    assert n.text.startswith("Case summary\n\nA 14-year-old girl.")
    assert "- IgM deficiency (active; onset 8 years ago, at age 5 years)" in n.text
    for p in profile.present:
        assert f"- {p.label}" in n.text
    assert "- No recurrent meningitis" in n.text
    assert "- IgM: 28 mg/dL (low; reference 40-230 mg/dL; 8 months ago)" in n.text
    assert '"Exam remarkable for Decreased proportion of CD4-positive T cells."' in n.text
    assert n.text.rstrip().endswith("What rare diseases best explain this presentation?")
    assert not n.truncated and n.omitted == [] and n.deidentified and n.tokens == estimate_tokens(n.text)


def test_nothing_is_invented(kb):
    record, profile = crafted(kb)
    text = build_narrative(record, profile, today=TODAY).text
    assert "- Mystery index: 7.5 (high; no reference range given; 4 months ago)" in text
    assert "- Creatine kinase: 612 U/L (high; reference 30–200 U/L; 6 months ago)" in text
    bare = PatientRecord(patient_id="x", patient={"resourceType": "Patient", "id": "x", "gender": "male"})
    text = build_narrative(bare, extract(bare, kb, today=TODAY), today=TODAY).text
    assert "A male patient (age not recorded)." in text
    assert text.count("None recorded.") == 4 and "No excerpts." in text
    nobody = PatientRecord(patient_id="y", unavailable={"labs": "the EHR timed out"})
    text = build_narrative(nobody, extract(nobody, kb, today=TODAY), today=TODAY).text
    assert "A patient (age not recorded; sex not recorded)." in text
    assert "Could not be retrieved from the EHR: laboratory results." in text
    assert "timed out" not in text


def test_deidentification_removes_every_identifier(kb):
    record, profile = crafted(kb)
    n = build_narrative(record, profile, today=TODAY)
    assert "A 7-year-old girl." in n.text and "Seizures reported by [name]" in n.text
    assert "onset 19 months ago, at age 6 years" in n.text
    for secret in SECRETS:
        assert secret.lower() not in n.text.lower(), secret
    scrubbed = deidentify(NOTE, PATIENT, today=TODAY)
    for secret in SECRETS:
        assert secret.lower() not in scrubbed.lower(), secret
    assert "[name] has seizures since 19 months ago" in scrubbed
    assert "Born [date of birth]" in scrubbed and "MRI 12 months ago" in scrubbed
    assert "Dr. [name]" in scrubbed and "[phone]" in scrubbed and "[email]" in scrubbed and "[url]" in scrubbed
    assert "[name]'s gait is ataxic." in scrubbed


def test_deidentification_keeps_clinical_numbers():
    text = "BP 110/62, HR 78, CK 612 U/L (30-200), platelets 57 10*3/uL, cholecalciferol 1,000 units, type 2."
    assert deidentify(text, PATIENT, today=TODAY) == text


def test_deidentify_off_keeps_names_and_dates(kb):
    record, profile = crafted(kb)
    n = build_narrative(record, profile, today=TODAY, deidentify=False)
    assert not n.deidentified
    assert "Maeve O'Brien" in n.text and "onset 2025-03-14" in n.text and "2026-05-01" in n.text


def test_big_records_fit_the_budget_and_say_what_was_left_out(kb, bundles):
    _, _, big = case(kb, bundles, "edge-bignote")
    assert big.tokens <= DEFAULT_BUDGET and len(big.text) < 5000
    _, _, many = case(kb, bundles, "edge-manylabs")
    assert many.tokens <= DEFAULT_BUDGET
    assert many.omitted == ["594 earlier repeated laboratory results (summarised per test)"]
    assert re.search(r"- CK: 297 more abnormal results not listed \(from 5 years ago to .*; critically high or high\)",
                     many.text)
    notes = record_from_bundle(bundles["edge-bignote"]).notes
    record = record_from_bundle(bundles["rd-005"])
    record.observations = record_from_bundle(bundles["edge-manylabs"]).observations
    record.notes += notes
    profile = extract(record, kb, today=TODAY)
    tight = build_narrative(record, profile, today=TODAY, budget_tokens=500)
    assert tight.tokens <= 500 and tight.truncated
    assert tight.omitted[0].endswith("note openings") and any("negatives" in o for o in tight.omitted)
    assert "more omitted for length." in tight.text
    assert tight.text.splitlines()[2] == "A 14-year-old girl." and tight.text.endswith("this presentation?")


def test_excerpts_are_whole_sentences_or_marked_cuts(kb):
    long = "Intro. " + "word " * 300 + "he has seizures here " + "word " * 300 + "end."
    record = PatientRecord(patient_id="z", notes=[Note(ref="DocumentReference/z", kind="note", title="Long",
                                                       date="2026-10-01", content_type="text/plain", text=long)])
    profile = extract(record, kb, today=TODAY)
    text = build_narrative(record, profile, today=TODAY).text
    quoted = [line for line in text.splitlines() if line.startswith('- "')]
    assert any("seizures" in q and q.startswith('- "… word') and q.endswith('word …"') for q in quoted)


def test_deterministic_and_sized_by_the_lab_tests_not_their_results(kb, bundles):
    record = record_from_bundle(bundles["edge-manylabs"])
    profile = extract(record, kb, today=TODAY)
    first = build_narrative(record, profile, today=TODAY)
    again = build_narrative(record, profile, today=TODAY)
    assert first == again
    # 3,000 results of two tests: at most LAB_REPEATS lines per test and one summary line each, so the
    # narrative's size (and the work of fitting it to the budget) follows the tests, not the results.
    labs = first.text.split("Abnormal laboratory results\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(record.observations) == 3000 and len(labs) == 2 * (LAB_REPEATS + 1)


def test_estimate_is_conservative():
    assert estimate_tokens("") == 0
    assert estimate_tokens("a" * 32) == 10
    assert estimate_tokens("α") == 2  # one character, two UTF-8 bytes


def test_initials_do_not_blank_ordinary_words():
    from datetime import date

    from app.case.deidentify import deidentify

    patient = {"resourceType": "Patient", "name": [{"given": ["Chloe", "A."], "family": "Fischer"}]}
    out = deidentify("Chloe Fischer was seen at a prior visit.", patient, today=date(2026, 11, 1))
    assert "Chloe" not in out and "Fischer" not in out and "at a prior visit" in out


def test_ages_over_89_are_not_in_a_deidentified_narrative(kb):
    from datetime import date as _date

    patient = {"resourceType": "Patient", "id": "old", "gender": "female", "birthDate": "1930-03-01"}
    record = PatientRecord(patient_id="old", patient=patient,
                           conditions=[{"resourceType": "Condition", "id": "c1", "code": {"text": "Ataxia"},
                                        "onsetDateTime": "2024-01-01"}])
    profile = extract(record, kb)
    text = build_narrative(record, profile, deidentify=True, today=_date(2026, 12, 1)).text
    assert "90-or-more-year-old woman" in text and "96" not in text and "93" not in text
    plain = build_narrative(record, profile, deidentify=False, today=_date(2026, 12, 1)).text
    assert "96-year-old woman" in plain
