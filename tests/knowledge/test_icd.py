"""ICD-9-CM / ICD-10-CM → Orphanet table and ICD title qualifiers (committed knowledge)."""
from __future__ import annotations

from app.knowledge import icd


def test_phrases_strip_standard_icd_qualifiers():
    assert icd.phrases("Multiple myeloma, without mention of having achieved remission")[-1] == "Multiple myeloma"
    assert "Acute myeloid leukemia" in icd.phrases("Acute myeloid leukemia, in remission")
    assert "Sarcoidosis" in icd.phrases("Sarcoidosis, unspecified")
    assert "frontotemporal dementia" in icd.phrases("Other frontotemporal dementia")
    assert "Hodgkin's disease" in icd.phrases(
        "Hodgkin's disease, unspecified type, unspecified site, extranodal and solid organ sites")
    # nothing but qualifiers is removed: a longer phrase stays whole
    assert icd.phrases("History of multiple myeloma screening") == ["History of multiple myeloma screening"]


def test_codes_match_with_or_without_dots_and_by_category():
    for code in ("C90.00", "C9000", "c90.0", "C900"):
        assert icd.orphas(icd.ICD10[0], code) == ["29073"], code
    for code in ("203.00", "20300", "203.0"):
        assert icd.orphas(icd.ICD9, code) == ["29073"], code
    assert icd.orphas(icd.ICD10[0], "C90") == [] and icd.orphas(icd.ICD9, "203") == []
    assert icd.orphas("http://snomed.info/sct", "109989006") == []


def test_the_title_must_name_the_disorder_orphanet_aligns():
    # WHO D70 is aligned E to "Congenital neutropenia"; ICD-10-CM D70.9 "Neutropenia, unspecified" is not it
    assert icd.orphas(icd.ICD10[0], "D70.9") == []
    # G12.2 (motor neuron disease) is NTBT to dozens of disorders; G12.21's title names ALS only
    assert icd.orphas(icd.ICD10[0], "G12.21") == ["803"]
    assert icd.names_disorder("Acute myeloblastic leukemia, in relapse", ["Acute myeloid leukemia"])
    assert not icd.names_disorder("Atrial fibrillation", ["Familial atrial fibrillation"])
    assert not icd.names_disorder("Sickle-cell/Hb-C disease", ["Sickle cell S-E disease"])


def test_icd9_names_what_all_its_gem_alternatives_name():
    # 205.00 → C92.00 (AML), C92.40 (promyelocytic), C92.50 (myelomonocytic): all AML
    assert icd.orphas(icd.ICD9, "205.00") == ["519"]
    assert icd.orphas(icd.ICD9, "401.9") == [] and icd.orphas(icd.ICD9, "272.4") == []


def test_compiled_table_records_its_sources():
    source = icd.load()["source"]
    assert "ordo.sssom.tsv" in source and "CC BY 4.0" in source and "GEM" in source
