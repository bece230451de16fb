"""A problem-list entry is read once per knowledge (issue 23): what the memo gives is what reading
it afresh gives, for every entry, however entries repeat or differ only in an absent or null part."""
from __future__ import annotations

from app.phenotype import coded
from app.pipeline import load_knowledge

SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def conditions() -> list[dict]:
    codes = [
        {"coding": [{"system": SNOMED}], "text": "Seizures"},
        {"coding": [{"system": SNOMED, "code": None}], "text": "Seizures"},
        {"coding": [{"system": SNOMED, "code": "91175000", "display": "Seizure"}]},
        {"coding": [{"system": ICD10, "code": "Q87.4"}], "text": "Marfan syndrome"},
        {"coding": [{"system": ICD10, "code": "Q87.4", "display": None}], "text": "Marfan syndrome"},
        {"text": "Ataxia and no nystagmus"},
    ]
    out = []
    for i, code in enumerate(codes * 2):
        refuted = {"verificationStatus": {"coding": [{"code": "refuted"}]}} if i % 3 == 0 else {}
        out.append({"resourceType": "Condition", "id": f"c{i}", "code": code, **refuted})
    return out


def test_the_memo_gives_what_a_fresh_reading_gives():
    kb = load_knowledge()
    fresh = []
    for condition in conditions():
        coded._READ.clear()
        fresh.append(coded.from_conditions([condition], kb))
    coded._READ.clear()
    coded.from_conditions(conditions(), kb)  # every entry in the memo now
    assert [coded.from_conditions([c], kb) for c in conditions()] == fresh
    assert any(found for found, _ in fresh) and any(known for _, known in fresh)
