"""Labs as they are in real records: acute episodes shown but not weighed, lasting abnormalities
weighed, and how often an ordinary record with the same tests would show the finding (plain data)."""
from __future__ import annotations

from datetime import date

import pytest

from app.knowledge import Knowledge, hpo, loinc, orphanet
from app.knowledge.loinc import OUTSIDE_ONE_SIDE
from app.phenotype import extract
from app.phenotype.labs import PERSISTENT_DAYS, acute, from_labs
from app.record import PatientRecord

LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def kb():
    return Knowledge(lexicon=hpo.load_lexicon(), orphanet=orphanet.load(), loinc=loinc.load(), ranker=None)


@pytest.fixture(scope="module")
def analyte(kb):
    """A LOINC code loinc2hpo maps both ways, and its high term."""
    code, outcomes = next((c, o) for c, o in sorted(kb.loinc.items()) if "H" in o and "L" in o)
    return code, kb.lexicon.current(outcomes["H"])


def result(i, code, value, day, flag=None):
    o = {"resourceType": "Observation", "id": f"o{i}", "status": "final",
         "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": f"{day}T08:00:00Z",
         "valueQuantity": {"value": value, "unit": "u"},
         "referenceRange": [{"low": {"value": 10, "unit": "u"}, "high": {"value": 20, "unit": "u"}}]}
    if flag:  # HL7 v3 code, as MIMIC's export writes it, with its word beside it
        o["interpretation"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                            "code": flag}], "text": "abnormal"}]
    return o


def weighed_terms(kb, observations):
    return {p.hpo for p in extract(PatientRecord(patient_id="p", observations=observations), kb).weighed}


def test_a_derangement_during_daily_monitoring_is_shown_not_weighed(kb, analyte):
    code, high = analyte
    days = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    values = [15, 30, 28, 16, 14]  # high on two days of one admission, normal around them
    obs = [result(i, code, v, d) for i, (v, d) in enumerate(zip(values, days, strict=False))]
    profile = extract(PatientRecord(patient_id="p", observations=obs), kb)
    shown = [p for p in profile.present if p.hpo == high]
    assert shown and shown[0].acute
    assert high not in weighed_terms(kb, obs)


def test_abnormal_across_months_is_lasting_and_weighed(kb, analyte):
    code, high = analyte
    obs = [result(1, code, 30, "2026-01-10"), result(2, code, 31, "2026-01-11"),  # an admission…
           result(3, code, 29, "2026-06-01"), result(4, code, 32, "2026-06-02")]  # …and another, months later
    assert high in weighed_terms(kb, obs)


def test_one_result_on_its_own_keeps_its_weight(kb, analyte):
    code, high = analyte
    assert high in weighed_terms(kb, [result(1, code, 30, "2026-01-10")])


def test_an_abnormal_flag_without_direction_uses_the_range(kb, analyte):
    code, high = analyte
    # Before: "A" (abnormal, no direction) was dropped for a quantitative test.
    assert high in weighed_terms(kb, [result(1, code, 30, "2026-01-10", flag="A")])


def test_the_chance_grows_with_the_number_of_results(kb, analyte):
    code, high = analyte
    one = [p for p in from_labs([result(1, code, 30, "2026-01-10")], kb) if p.hpo == high]
    assert one[0].chance == pytest.approx(OUTSIDE_ONE_SIDE)
    many = [result(i, code, 15, f"2025-{m:02d}-01") for i, m in enumerate(range(1, 10))]
    many.append(result(99, code, 30, "2026-01-10"))
    found = [p for p in from_labs(many, kb) if p.hpo == high]
    assert found[0].chance == pytest.approx(1 - (1 - OUTSIDE_ONE_SIDE) ** 10)


def test_acute_rule_on_dates():
    d = date.fromisoformat
    daily = {d("2026-03-01"), d("2026-03-02"), d("2026-03-03")}
    assert acute([d("2026-03-02")], daily)
    assert not acute([d("2026-03-02")], {d("2026-03-02"), d("2026-05-01")})  # not monitored daily
    far = d("2026-03-02").toordinal() + PERSISTENT_DAYS
    later = date.fromordinal(far)
    assert not acute([d("2026-03-02"), later], daily | {later, date.fromordinal(far + 1)})
