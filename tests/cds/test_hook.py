"""The patient-view request as data: ids, nesting, and which FHIR servers a client may name (pure)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cds.hook import BadRequest, allowed_servers, fhir_server_for, parse_request
from app.config import load_settings
from app.config.cds import CdsClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EHR_ISS = "https://fhir.hospital.example/interconnect-fhir-oauth/api/FHIR/R4"
SETTINGS = load_settings({"RADAR_EHRS": json.dumps([{"iss": EHR_ISS + "/", "client_id": "radar"}])})


def body(patient_id: str = "p-1", **extra) -> dict:
    return {"hook": "patient-view", "hookInstance": "h", "context": {"userId": "u", "patientId": patient_id}, **extra}


@pytest.mark.parametrize("patient_id", ["../../Patient/x", "a?b=c", "a b", "p-1\n", "x" * 65, "Patient/p-1", "é", 7])
def test_patient_id_must_be_a_fhir_id(patient_id):
    with pytest.raises(BadRequest, match="context.patientId must be a FHIR id"):
        parse_request(body(patient_id))


@pytest.mark.parametrize("patient_id", ["p-1", "eD.3nBsY2f5yfOUUStk6lRA3", "x" * 64, "12345"])
def test_fhir_ids_accepted(patient_id):
    assert parse_request(body(patient_id))["context"]["patientId"] == patient_id


def test_deeply_nested_body_is_a_bad_request():
    deep: dict = {}
    inner = deep
    for _ in range(1000):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_request(body(prefetch={"patient": deep}))
    # Real prefetch nests far less than the limit.
    prefetch = json.loads((FIXTURES / "prefetch-rd-minimal.json").read_text())
    assert parse_request(body(prefetch=prefetch))["prefetch"] == prefetch


def test_fhir_servers_default_to_the_iss_when_it_is_a_registered_ehr():
    assert allowed_servers(CdsClient(EHR_ISS, "https://k.example/jwks"), SETTINGS) == (EHR_ISS,)
    # The CDS Hooks sandbox or Oracle Health sign as a CDS service, not as a FHIR base: none by default.
    assert allowed_servers(CdsClient("https://cds-hooks.cerner.com", "https://authorization.cerner.com/jwk"),
                           SETTINGS) == ()
    listed = CdsClient("https://cds-hooks.cerner.com", "https://authorization.cerner.com/jwk",
                       fhir_servers=("https://fhir-ehr.cerner.com/r4/t-1",))
    assert allowed_servers(listed, SETTINGS) == ("https://fhir-ehr.cerner.com/r4/t-1",)
    # An explicit list replaces the default, even an empty one.
    assert allowed_servers(CdsClient(EHR_ISS, "https://k.example/jwks", fhir_servers=()), SETTINGS) == ()


def test_fhir_server_named_by_the_hook_only_when_allowed():
    allowed = (EHR_ISS,)
    assert fhir_server_for(body(fhirServer=EHR_ISS + "/"), allowed) == EHR_ISS
    assert fhir_server_for(body(fhirServer="http://127.0.0.1:9/fhir"), allowed) is None
    assert fhir_server_for(body(fhirServer=EHR_ISS + "/../../evil"), allowed) is None
    assert fhir_server_for(body(), allowed) is None


def test_deeply_nested_feedback_is_a_bad_request():
    from app.cds.hook import parse_feedback

    reason: dict = {}
    inner = reason
    for _ in range(900):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_feedback({"feedback": [{"card": "u", "outcome": "overridden", "overrideReason": reason}]})
