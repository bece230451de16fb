"""Phenotype extraction over plain FHIR dicts and the committed knowledge: coded problems, labs,
notes, provenance, merging, ancestors, and the clinician's edits."""
from __future__ import annotations

import pytest

from app.knowledge import Knowledge, hpo, loinc, orphanet
from app.phenotype import ABSENT, PRESENT, edits, extract
from app.record import Note, PatientRecord

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


@pytest.fixture(scope="module")
def kb():
    return Knowledge(lexicon=hpo.load_lexicon(), orphanet=orphanet.load(), loinc=loinc.load(), ranker=None)


def condition(cid, *, snomed=None, text=None, icd=None, verification=None):
    code = {"coding": []}
    if snomed:
        code["coding"].append({"system": SNOMED, "code": snomed})
    if icd:
        code["coding"].append({"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": icd})
    if text:
        code["text"] = text
    c = {"resourceType": "Condition", "id": cid, "code": code}
    if verification:
        c["verificationStatus"] = {"coding": [{"code": verification}]}
    return c


def lab(oid, loinc_code, value, low, high, unit="mg/dL", flag=None):
    o = {"resourceType": "Observation", "id": oid, "status": "final",
         "code": {"coding": [{"system": LOINC, "code": loinc_code, "display": "test"}]},
         "valueQuantity": {"value": value, "unit": unit},
         "referenceRange": [{"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}],
         "effectiveDateTime": "2026-01-01"}
    if flag:
        o["interpretation"] = [{"coding": [{"system": INTERP, "code": flag}]}]
    return o


def by_hpo(profile):
    return {p.hpo: p for p in profile.all}


def test_snomed_problem_maps_through_hpo_xrefs(kb):
    snomed, expected = "91175000", "HP:0001250"  # SNOMED CT Seizure → HPO Seizure
    assert kb.lexicon.by_snomed(snomed) == [expected]
    profile = extract(PatientRecord(patient_id="p", conditions=[condition("c1", snomed=snomed, text="x")]), kb)
    p = by_hpo(profile)[kb.lexicon.current(expected)]
    assert p.status == PRESENT and p.source == "Condition/c1" and p.origin == "condition"


def test_a_snomed_concept_shared_by_several_hpo_terms_takes_the_one_the_entry_names(kb):
    snomed = "249321001"  # SNOMED CT "Wide nasal bridge", cross-referenced by two HPO terms
    assert set(kb.lexicon.by_snomed(snomed)) == {"HP:0000431", "HP:0000445"}  # wide nasal bridge, wide nose
    named = extract(PatientRecord(patient_id="p", conditions=[condition("c1", snomed=snomed, text="Wide nasal bridge")]), kb)
    assert set(by_hpo(named)) == {"HP:0000431"}
    # a text that names neither leaves both: the code cannot tell them apart
    unnamed = extract(PatientRecord(patient_id="p", conditions=[condition("c1", snomed=snomed, text="x")]), kb)
    assert set(by_hpo(unnamed)) == {"HP:0000431", "HP:0000445"}


def test_free_text_problem_goes_through_the_recognizer(kb):
    profile = extract(PatientRecord(patient_id="p", conditions=[condition("c2", text="Short stature")]), kb)
    assert "HP:0004322" in by_hpo(profile)


def test_refuted_problem_is_absent(kb):
    profile = extract(PatientRecord(patient_id="p", conditions=[condition("c3", text="Seizure", verification="refuted")]), kb)
    assert by_hpo(profile)["HP:0001250"].status == ABSENT


def test_entered_in_error_ignored(kb):
    record = PatientRecord(patient_id="p", conditions=[condition("c4", text="Seizure", verification="entered-in-error")])
    profile = extract(record, kb)
    assert profile.all == []


def test_high_lab_maps_through_loinc2hpo(kb):
    code, outcomes = next((c, o) for c, o in kb.loinc.items() if "H" in o and "L" in o)
    profile = extract(PatientRecord(patient_id="p", observations=[lab("o1", code, 300, 10, 100, flag="H")]), kb)
    p = by_hpo(profile)[kb.lexicon.current(outcomes["H"])]
    assert p.origin == "lab" and p.source == "Observation/o1" and "300 mg/dL" in p.evidence


def test_lab_flag_computed_from_range_when_missing(kb):
    code, outcomes = next((c, o) for c, o in kb.loinc.items() if "L" in o)
    profile = extract(PatientRecord(patient_id="p", observations=[lab("o2", code, 1, 10, 100)]), kb)
    assert kb.lexicon.current(outcomes["L"]) in by_hpo(profile)


def test_normal_and_unflaggable_labs_ignored(kb):
    code = next(c for c, o in kb.loinc.items() if "H" in o)
    normal = lab("o3", code, 50, 10, 100)
    no_range = lab("o4", code, 500, 10, 100)
    no_range.pop("referenceRange")
    profile = extract(PatientRecord(patient_id="p", observations=[normal, no_range]), kb)
    assert profile.all == []


def note(ref, text, kind="note"):
    return Note(ref=ref, kind=kind, title="Progress note", date="2026-01-01", content_type="text/plain", text=text)


def test_note_mentions_negation_family_and_spans(kb):
    text = "Patient has seizures and ataxia. No hearing loss. Mother has hypothyroidism."
    profile = extract(PatientRecord(patient_id="p", notes=[note("DocumentReference/n1", text)]), kb)
    found = by_hpo(profile)
    seizure = found["HP:0001250"]
    assert seizure.status == PRESENT and text[seizure.span[0]:seizure.span[1]].lower() == "seizures"
    assert seizure.context[1].lower() == "seizures"
    assert found["HP:0000365"].status == ABSENT  # hearing impairment
    assert "HP:0000821" not in found  # hypothyroidism belongs to the mother


def test_duplicates_merged_with_all_sources(kb):
    record = PatientRecord(patient_id="p", conditions=[condition("c5", text="Seizure")],
                           notes=[note("DocumentReference/n2", "Recurrent seizures noted.")])
    profile = extract(record, kb)
    p = by_hpo(profile)["HP:0001250"]
    assert p.source == "Condition/c5" and p.also == ["DocumentReference/n2"]


def test_ancestor_kept_beside_descendant(kb):
    # Focal-onset seizure (HP:0007359) is a descendant of Seizure (HP:0001250): the record names
    # both, so the profile lists both, once each (the ranker collapses to the specific one itself).
    record = PatientRecord(patient_id="p",
                           conditions=[condition("c6", text="Seizure"), condition("c7", text="Focal-onset seizure")],
                           notes=[note("DocumentReference/n9", "Seizures since infancy.")])
    present = [p.hpo for p in extract(record, kb).present]
    assert sorted(present) == ["HP:0001250", "HP:0007359"]


def test_absent_ancestor_of_present_term_dropped(kb):
    record = PatientRecord(patient_id="p", conditions=[condition("c6", text="Focal-onset seizure")],
                           notes=[note("DocumentReference/n9", "No seizures.")])
    profile = extract(record, kb)
    assert [p.hpo for p in profile.present] == ["HP:0007359"] and profile.absent == []


def test_present_wins_over_absent(kb):
    record = PatientRecord(patient_id="p", conditions=[condition("c8", text="Seizure")],
                           notes=[note("DocumentReference/n3", "No seizures today.")])
    assert by_hpo(extract(record, kb))["HP:0001250"].status == PRESENT


def test_known_rare_disease_flagged_from_icd10(kb):
    # The Dec 2025 ORPHApackets carry no ICD-10 references, so the mapping is exercised on a small KB.
    gaucher = {**kb.orphanet.disease("355"), "icd10": [["E75.2", "NTBT"]]}
    small = Knowledge(lexicon=kb.lexicon, orphanet=orphanet.OrphanetKB(source="test", disorders={"355": gaucher}),
                      loinc=kb.loinc, ranker=None)
    profile = extract(PatientRecord(patient_id="p", conditions=[condition("c9", icd="E75.22", text="diagnosis")]), small)
    assert profile.known_diseases == [{"orpha": "ORPHA:355", "omim": None, "name": gaucher["name"],
                                       "source": "Condition/c9"}]


def test_known_rare_disease_flagged_from_its_name(kb):
    profile = extract(PatientRecord(patient_id="p", conditions=[condition("c12", text="Marfan syndrome")]), kb)
    assert "ORPHA:558" in [d["orpha"] for d in profile.known_diseases]
    # An OMIM-only name (hpo3's OMIM titles) is recognised too.
    profile = extract(PatientRecord(patient_id="p", conditions=[
        condition("c14", text="Intellectual developmental disorder, autosomal dominant 39")]), kb)
    assert [d["omim"] for d in profile.known_diseases] == ["OMIM:616521"]
    # A disease word inside a longer phrase is not a diagnosis.
    profile = extract(PatientRecord(patient_id="p", conditions=[condition("c13", text="family history of Marfan syndrome")]), kb)
    assert profile.known_diseases == []


def test_a_phenotype_whose_name_is_also_an_omim_title_is_a_phenotype_not_a_diagnosis(kb):
    # OMIM has trait entries (145400 "Hypertelorism", 131500 "Epicanthus"); on a problem list they
    # are findings to explain, not a rare disease already diagnosed. An Orphanet disorder's name
    # stays a diagnosis where HPO has the same words (test_batch: MODY).
    for text, term in (("HYPERTELORISM", "HP:0000316"), ("Epicanthus", "HP:0000286")):
        profile = extract(PatientRecord(patient_id="p", conditions=[condition("c15", text=text)]), kb)
        assert profile.known_diseases == []
        assert term in by_hpo(profile)


def test_age_and_sex(kb):
    record = PatientRecord(patient_id="p", patient={"resourceType": "Patient", "gender": "female", "birthDate": "2000-01-01"})
    from datetime import date
    profile = extract(record, kb, today=date(2026, 6, 1))
    assert profile.sex == "female" and profile.age_years == 26


def test_clinician_edits(kb):
    record = PatientRecord(patient_id="p", conditions=[condition("c10", text="Seizure"), condition("c11", text="Ataxia")])
    profile = extract(record, kb)
    changes = edits.add(edits.remove(edits.empty(), "HP:0001250"), "HP:0004322")
    edited = edits.apply(profile, changes, kb.lexicon)
    hpos = {p.hpo for p in edited.present}
    assert "HP:0001250" not in hpos and "HP:0004322" in hpos and "HP:0001251" in hpos
    added = next(p for p in edited.present if p.hpo == "HP:0004322")
    assert added.origin == "clinician"
    restored = edits.apply(profile, edits.restore(changes, "HP:0001250"), kb.lexicon)
    assert "HP:0001250" in {p.hpo for p in restored.present}
    assert {p.hpo for p in profile.present} == {"HP:0001250", "HP:0001251"}  # the original is untouched
