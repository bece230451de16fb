"""The one record builder and the prefetch reader, on plain JSON (no HTTP, no app)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.fetch.build import INVALID, NOT_A_RESOURCE, build_record, bundle_resources
from app.fetch.files import record_from_bundle
from app.fetch.notes import Unreadable
from app.fetch.prefetch import BadRequest, Unobtainable, prefetched, record_from_hook
from app.record import PatientRecord

PREFETCH = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "prefetch-rd-minimal.json").read_text())


def hook(prefetch: dict, **extra) -> dict:
    return {"hook": "patient-view", "hookInstance": "h", "context": {"userId": "u", "patientId": "p-1"},
            "prefetch": prefetch, **extra}


def test_bundle_entries_unwrapped_and_outcomes_become_warnings():
    warnings: list[str] = []
    found = bundle_resources(PREFETCH["conditions"], warnings, ["Condition"])
    assert [r["id"] for r in found] == ["c-1", "c-1", "c-2"]
    assert warnings == ["warning: results truncated"]
    assert bundle_resources({"resourceType": "Bundle", "entry": [1, {"resource": "x"}, {}]}, warnings) == []


def test_builder_deduplicates_selects_and_orders():
    resources, warnings = prefetched(PREFETCH, "p-1")
    record = build_record("p-1", resources, warnings=warnings, missing_content="not in this file")
    assert [c["id"] for c in record.conditions] == ["c-2", "c-1"]  # once each, newest first
    assert [o["id"] for o in record.observations] == ["o-1"]  # entered in error left out
    assert record.patient["id"] == "p-1" and record.warnings == ["warning: results truncated"]
    assert [(n.ref, n.text, n.error) for n in record.notes] == [
        ("DocumentReference/d-2", "", "not in this file"),
        ("DocumentReference/d-1", "Progressive ataxia. No fever.", None)]


def test_builder_reads_binaries_among_the_resources_or_through_the_door():
    resources, _ = prefetched(PREFETCH, "p-1")
    binary = {"resourceType": "Binary", "id": "b-9", "contentType": "text/plain", "data": "U2hvcnQgc3RhdHVyZS4="}
    assert build_record("p-1", resources + [binary]).notes[0].text == "Short stature."
    asked = []

    def read_url(url: str) -> bytes:
        asked.append(url)
        raise Unreadable("the EHR did not answer in time")

    record = build_record("p-1", resources, read_url=read_url)
    assert asked == ["Binary/b-9"] and record.notes[0].error == "the EHR did not answer in time"


def test_builder_leaves_out_invalid_resources_with_a_warning():
    bad = {"resourceType": "Condition", "id": "c-bad", "code": "not a CodeableConcept"}
    record = build_record("p-1", [bad, {"resourceType": "Patient", "id": "p-1"}])
    assert record.conditions == [] and record.warnings == ["1 Condition entries could not be read and were left out"]


def test_builder_keeps_unavailable_sections():
    record = build_record("p-1", [], unavailable={"labs": "the EHR had an error (503)"})
    assert record.unavailable == {"labs": "the EHR had an error (503)"} and record.observations == []


@pytest.mark.parametrize("key, value, reason", [
    ("conditions", "oops", "prefetch.conditions must be a Bundle"),
    ("patient", {"resourceType": "Patient", "id": "other"}, "prefetch.patient does not match context.patientId"),
    ("patient", {"resourceType": "Observation"}, "prefetch.patient must be a Patient"),
    ("reports", [], "prefetch.reports must be a Bundle"),
])
def test_malformed_prefetch_is_a_bad_request(key, value, reason):
    with pytest.raises(BadRequest, match=reason):
        prefetched({**PREFETCH, key: value}, "p-1")


def test_null_and_operation_outcome_prefetch_mean_no_data():
    resources, _ = prefetched({"patient": None, "conditions": None,
                               "labs": {"resourceType": "OperationOutcome", "issue": []}}, "p-1")
    assert resources == []


def test_prefetch_without_reports_says_so_instead_of_fetching():
    record = record_from_hook(hook(PREFETCH), http=None)
    assert "reports not available: not prefetched, and no fhirAuthorization to fetch them" in record.warnings
    assert [n.error for n in record.notes if n.error] == ["note content not prefetched"]


def test_missing_prefetch_key_without_authorization_is_unobtainable():
    partial = {k: v for k, v in PREFETCH.items() if k != "labs"}
    with pytest.raises(Unobtainable, match="prefetch lacks labs"):
        record_from_hook(hook(partial), http=None)


def test_a_failed_fhir_request_is_not_a_note_reading_error():
    # FhirError used to subclass the note-reading error, so code catching one silently caught both.
    from app.fetch.fhir import FhirError

    assert not issubclass(FhirError, Unreadable)


CASES = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "prefetch-not-this-patient.json").read_text())


@pytest.mark.parametrize("key, value, reason", CASES["refused"].values(), ids=list(CASES["refused"]))
def test_prefetch_of_another_patient_or_unparseable_patient_is_refused(key, value, reason):
    with pytest.raises(BadRequest) as err:
        prefetched({**PREFETCH, key: value}, "p-1", CASES["fhirServer"])
    assert str(err.value) == reason


@pytest.mark.parametrize("key, value", CASES["accepted"].values(), ids=list(CASES["accepted"]))
def test_prefetch_subjects_of_this_patient_are_accepted(key, value):
    resources, _ = prefetched({**PREFETCH, key: value}, "p-1", CASES["fhirServer"])
    assert value["entry"][0]["resource"] in resources


class NoHttp:
    """Any request through it is a test failure: the door must not contact a server it may not name."""

    def __init__(self):
        self.calls = []

    def get(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        raise AssertionError("contacted a FHIR server")


AUTH = {"fhirServer": "http://127.0.0.1:9/fhir", "fhirAuthorization": {"access_token": "secret", "token_type": "Bearer"}}


def test_disallowed_fhir_server_is_never_contacted():
    http = NoHttp()
    partial = {k: v for k, v in PREFETCH.items() if k != "labs"}
    with pytest.raises(Unobtainable) as err:
        record_from_hook(hook(partial, **AUTH), http, server_allowed=False)
    assert str(err.value) == ("prefetch lacks labs, and the fhirServer named is not one this CDS client may "
                              "name (its fhir_servers), so it was not contacted")
    record = record_from_hook(hook(PREFETCH, **AUTH), http, server_allowed=False)
    assert http.calls == []
    assert "reports not available: not prefetched, and the fhirServer named is not registered for this client" \
        in record.warnings
    assert [n.error for n in record.notes if n.error] == ["note content not prefetched"]


def test_a_resource_that_fails_validation_is_counted_and_named_in_the_gaps():
    note = {"resourceType": "DocumentReference", "id": "d-1", "subject": {"reference": "Patient/p-1"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "QXRheGlhLg=="}}]}  # no status
    odd = {"resourceType": "Condition", "id": "c-1", "Jane Doe 1970-01-01": "x"}
    record = build_record("p-1", [{"resourceType": "Patient", "id": "p-1"}, note, dict(note, id="d-2"), odd])
    assert record.notes == [] and record.conditions == []
    assert record.left_out == {INVALID: {"DocumentReference: required status missing": 2,
                                         "Condition: an element FHIR R4 does not define": 1}}
    assert "resource that failed FHIR validation: 2 left out (DocumentReference: required status missing)" \
        in record.gaps()
    assert not any("Jane" in gap for gap in record.gaps())  # never the data itself


def test_bundle_entries_that_are_not_resources_are_counted_in_the_gaps():
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "p-1"}},
                                                  1, {"resource": "x"}, {"fullUrl": "urn:uuid:1"}]}
    record = record_from_bundle(bundle)
    assert record.left_out == {NOT_A_RESOURCE: {"not an object": 1, "no resourceType": 1, "no resource": 1}}
    assert set(record.gaps()) == {f"Bundle entry without a FHIR resource: 1 left out ({why})"
                                  for why in ("not an object", "no resourceType", "no resource")}


def test_a_record_saved_before_left_out_existed_still_loads():
    saved = build_record("p-1", [{"resourceType": "Patient", "id": "p-1"}]).to_dict()
    del saved["left_out"]
    assert PatientRecord.from_dict(saved).left_out == {}


def test_the_reason_stays_a_few_words_however_deep_the_error():
    ext = {"url": "u", "valueString": "x"}
    for _ in range(300):  # 600 JSON levels: past what the FHIR models can recurse through
        ext = {"url": "u", "extension": [ext]}
    condition = {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p-1"},
                 "code": {"text": "x"}, "extension": [ext]}
    record = build_record("p-1", [{"resourceType": "Patient", "id": "p-1"}, condition])
    assert record.conditions == []
    assert record.left_out == {INVALID: {"Condition: extension.extension.….extension not valid": 1}}


def test_prefetch_entries_without_a_resource_are_gaps_of_the_cds_record():
    """The CDS door counts what its prefetch Bundles held that is no FHIR resource, as the other doors do."""
    conditions = dict(PREFETCH["conditions"], entry=PREFETCH["conditions"]["entry"] + [{"resource": "x"}, 3])
    record = record_from_hook(hook({**PREFETCH, "conditions": conditions}), http=None)
    assert record.left_out[NOT_A_RESOURCE] == {"no resourceType": 1, "not an object": 1}
    assert "Bundle entry without a FHIR resource: 1 left out (not an object)" in record.gaps()


def test_only_the_observations_the_record_uses_are_validated_and_counted():
    """A vital sign or a cancelled lab is left out whatever it holds, as it always was: it is not
    validated, so a malformed one is not named in the gaps. A laboratory result, or an Observation
    whose category or status is itself malformed, is validated, and left out and named when it fails."""
    subject = {"reference": "Patient/p-1"}
    bad_value = {"value": "7.2", "unit": "mmol/L"}  # a number as a string: not valid FHIR R4

    def obs(oid, category, **more):
        return {"resourceType": "Observation", "id": oid, "status": "final", "subject": subject,
                "code": {"text": "x"}, "valueQuantity": bad_value, "category": category} | more

    vital = [{"coding": [{"code": "vital-signs"}]}]
    lab = [{"coding": [{"code": "laboratory"}]}]
    record = build_record("p-1", [
        {"resourceType": "Patient", "id": "p-1"},
        obs("vital", vital), obs("cancelled", lab, status="cancelled"), obs("lab", lab), obs("no-category", None),
        obs("odd-category", [{"coding": [{"code": {"code": "vital-signs"}}]}]),
        obs("odd-status", vital, status=3, valueQuantity={"value": 7.2}),
        obs("odd-concept", ["vital-signs"], valueQuantity={"value": 7.2}),
        obs("fine-vital", vital, valueQuantity={"value": 7.2}),
    ])
    assert record.observations == []
    assert record.left_out == {INVALID: {"Observation: valueQuantity.value of the wrong type": 2,
                                         "Observation: category.coding.code of the wrong type": 1,
                                         "Observation: status of the wrong type": 1,
                                         "Observation: category not valid": 1}}
