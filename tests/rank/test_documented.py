"""A rare diagnosis already on the problem list: which findings it explains (real knowledge: Orphanet
and hpo3's OMIM annotations), and what that does to P(rare) and the flag, through the one middle."""
from __future__ import annotations

import pytest

from app.config.cds import CdsThresholds
from app.phenotype import Phenotype
from app.pipeline import analyse, load_knowledge, signal
from app.rank.documented import annotations, explain
from app.record import PatientRecord

MRD39 = "Intellectual developmental disorder, autosomal dominant 39"  # OMIM:616521 (MYT1L)


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def finding(hpo, label=None):
    return Phenotype(hpo=hpo, label=label or hpo, status="present", source="Observation/1", origin="note")


def problem(cid, text):
    return {"resourceType": "Condition", "id": cid, "code": {"text": text},
            "clinicalStatus": {"coding": [{"code": "active"}]}}


def boy(*problems):
    return PatientRecord(patient_id="boy", patient={"resourceType": "Patient", "gender": "male", "birthDate": "2016-03-01"},
                         conditions=[problem("dx", MRD39)] + [problem(f"c{i}", t) for i, t in enumerate(problems)])


def test_a_finding_is_explained_by_its_own_annotation_a_descendant_or_a_specific_ancestor(kb):
    marfan = {"orpha": "ORPHA:558", "omim": None, "name": "Marfan syndrome"}
    assert 1166 in annotations(marfan, kb.orphanet)  # arachnodactyly
    [d] = explain([marfan], [finding("HP:0001166"), finding("HP:0001519"), finding("HP:0002521"),
                             finding("HP:0000478")], kb.orphanet)
    # Arachnodactyly and disproportionate tall stature are Marfan's; hypsarrhythmia is not; "Abnormality
    # of the eye" is above its ectopia lentis, so the disease explains it.
    assert [f["hpo"] for f in d.explained] == ["HP:0001166", "HP:0001519", "HP:0000478"]
    assert [f["hpo"] for f in d.unexplained] == ["HP:0002521"]


def test_the_omim_diagnosis_on_the_boys_problem_list_explains_his_developmental_findings(kb):
    a = analyse(boy("Intellectual disability", "Global developmental delay", "Seizure", "Obesity"), kb)
    [d] = a.documented
    assert d.omim == "OMIM:616521" and d.source == "Condition/dx"
    assert {f["label"] for f in d.explained} >= {"Intellectual disability", "Global developmental delay"}
    assert a.explained_share >= 0.75
    assert signal(a, CdsThresholds()) is None
    assert "Angelman syndrome" not in [s.name for s in a.suggestions[:3]]


def test_findings_his_diagnosis_does_not_explain_are_named_and_can_flag(kb):
    a = analyse(boy("Intellectual disability", "Ectopia lentis", "Arachnodactyly", "Aortic root aneurysm",
                    "Pectus carinatum"), kb)
    [d] = a.documented
    assert {f["label"] for f in d.unexplained} == {"Ectopia lentis", "Arachnodactyly", "Aortic root aneurysm",
                                                   "Pectus carinatum"}
    assert [f["label"] for f in d.explained] == ["Intellectual disability"]
    assert signal(a, CdsThresholds()) is not None
    assert a.suggestions[0].name == "Marfan syndrome"


def test_radar_rank_lines_carry_what_the_documented_diagnosis_explains(kb):
    from app.batch import contract_line

    line = contract_line("boy", analyse(boy("Intellectual disability", "Global developmental delay", "Ectopia lentis",
                                            "Arachnodactyly"), kb))
    [d] = line["documented"]
    assert d["omim"] == "OMIM:616521" and d["source"] == "Condition/dx"
    assert {f["label"] for f in d["explained"]} == {"Intellectual disability", "Global developmental delay"}
    assert {f["label"] for f in d["unexplained"]} == {"Ectopia lentis", "Arachnodactyly"}
    assert "documented" not in contract_line("none", analyse(PatientRecord(patient_id="none"), kb))


def test_one_problem_entry_naming_the_disease_twice_is_one_documented_diagnosis(kb):
    known = [{"orpha": "ORPHA:1452", "omim": None, "name": "Cleidocranial dysplasia", "source": "Condition/c4"},
             {"orpha": None, "omim": "OMIM:119600", "name": "Cleidocranial dysplasia", "source": "Condition/c4"}]
    [d] = explain(known, [finding("HP:0000269")], kb.orphanet)  # open anterior fontanelle
    assert (d.orpha, d.omim, d.source) == ("ORPHA:1452", "OMIM:119600", "Condition/c4")
