"""Rare diseases already diagnosed on the problem list, in every coding: ICD-9-CM, ICD-10-CM and text
(plain FHIR dicts, the committed knowledge)."""
from __future__ import annotations

import pytest

from app.knowledge import Knowledge, hpo, loinc, orphanet
from app.phenotype.coded import from_conditions

ICD9 = "http://hl7.org/fhir/sid/icd-9-cm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@pytest.fixture(scope="module")
def kb():
    return Knowledge(lexicon=hpo.load_lexicon(), orphanet=orphanet.load(), loinc=loinc.load(), ranker=None)


def condition(cid, *, system=None, code=None, text=None, verification=None):
    concept: dict = {"coding": [{"system": system, "code": code}] if system else []}
    if text:
        concept["text"] = text
    c = {"resourceType": "Condition", "id": cid, "code": concept}
    if verification:
        c["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return c


def known(conditions, kb):
    return [d["orpha"] or d["omim"] for d in from_conditions(conditions, kb)[1]]


@pytest.mark.parametrize("code", ["203.00", "20300", "203.0"])
def test_icd9_multiple_myeloma_code_alone_is_known(kb, code):
    assert known([condition("c1", system=ICD9, code=code)], kb) == ["ORPHA:29073"]


def test_icd9_category_of_several_diseases_names_none(kb):
    # 203 holds multiple myeloma, plasma cell leukemia and other immunoproliferative neoplasms
    assert known([condition("c1", system=ICD9, code="203")], kb) == []


@pytest.mark.parametrize("code", ["C92.00", "C9200", "c92.0"])
def test_icd10cm_acute_myeloid_leukemia_code_alone_is_known(kb, code):
    assert known([condition("c2", system=ICD10CM, code=code)], kb) == ["ORPHA:519"]


def test_icd9_codes_of_mimic_diagnoses(kb):
    assert known([condition("a", system=ICD9, code="205.01")], kb) == ["ORPHA:519"]  # AML, in remission
    assert known([condition("b", system=ICD9, code="335.20")], kb) == ["ORPHA:803"]  # ALS
    assert known([condition("c", system=ICD10CM, code="C91.10")], kb) == ["ORPHA:67038"]  # B-CLL


def test_als_named_in_text_alone_is_known(kb):
    assert known([condition("c3", text="Amyotrophic lateral sclerosis")], kb) == ["ORPHA:803"]


@pytest.mark.parametrize("text", ["Multiple myeloma, without mention of having achieved remission",
                                  "Multiple myeloma not having achieved remission",
                                  "Multiple myeloma, in remission"])
def test_disease_named_in_an_icd_title_with_qualifiers_is_known(kb, text):
    assert known([condition("c4", text=text)], kb) == ["ORPHA:29073"]


def test_icd_title_in_other_word_order_is_known(kb):
    text = "Chronic lymphocytic leukemia of B-cell type not having achieved remission"
    assert known([condition("c5", text=text)], kb) == ["ORPHA:67038"]


def test_a_disease_name_inside_a_longer_text_is_not_a_diagnosis(kb):
    for text in ("History of multiple myeloma screening", "Family history of amyotrophic lateral sclerosis",
                 "Personal history of Hodgkin lymphoma"):
        assert known([condition("c6", text=text)], kb) == [], text


def test_ordinary_problems_name_no_rare_disease(kb):
    problems = [
        condition("h", system=ICD9, code="401.9", text="Unspecified essential hypertension"),
        condition("h10", system=ICD10CM, code="I10", text="Essential (primary) hypertension"),
        condition("a", system=ICD9, code="300.00", text="Anxiety state, unspecified"),
        condition("a2", text="Anxiety"),
        condition("l", system=ICD9, code="272.4", text="Other and unspecified hyperlipidemia"),
        condition("l2", text="Hyperlipidemia"),
        condition("n", system=ICD10CM, code="D70.9", text="Neutropenia, unspecified"),
        condition("al", system=ICD9, code="704.00", text="Alopecia, unspecified"),  # an Orphanet category
        condition("d", system=ICD10CM, code="F10.21", text="Alcohol dependence, in remission"),  # an OMIM trait
    ]
    assert known(problems, kb) == []


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_or_erroneous_diagnosis_never_counts(kb, verification):
    conditions = [condition("r1", system=ICD9, code="203.00", verification=verification,
                            text="Multiple myeloma, without mention of having achieved remission"),
                  condition("r2", text="Amyotrophic lateral sclerosis", verification=verification)]
    assert known(conditions, kb) == []


def test_icd9_entries_give_phenotypes_from_their_text_as_icd10_ones_do(kb):
    icd9 = from_conditions([condition("p9", system=ICD9, code="789.2", text="Splenomegaly")], kb)[0]
    icd10 = from_conditions([condition("p10", system=ICD10CM, code="R16.1", text="Splenomegaly")], kb)[0]
    assert [p.hpo for p in icd9] == [p.hpo for p in icd10] == ["HP:0001744"]


def test_the_terms_of_a_known_diagnosis_are_shown_not_weighed():
    from app.knowledge import Knowledge, hpo, loinc, orphanet
    from app.phenotype import extract
    from app.record import PatientRecord

    kb = Knowledge(lexicon=hpo.load_lexicon(), orphanet=orphanet.load(), loinc=loinc.load(), ranker=None)
    aml = {"resourceType": "Condition", "id": "c1",
           "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C92.00"}],
                    "text": "Acute myeloid leukemia, not having achieved remission"}}
    anxiety = {"resourceType": "Condition", "id": "c2", "code": {"text": "Anxiety"}}
    profile = extract(PatientRecord(patient_id="p", conditions=[aml, anxiety]), kb)
    assert [d["orpha"] for d in profile.known_diseases] == ["ORPHA:519"]
    from_aml = [p for p in profile.present if p.source == "Condition/c1"]
    assert from_aml and all(p.diagnosis for p in from_aml)  # shown …
    weighed = {p.source for p in profile.weighed}
    assert "Condition/c1" not in weighed and "Condition/c2" in weighed  # … not weighed
