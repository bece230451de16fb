"""FHIR API: tokens, scopes, compartment, searches, paging, flavours and Binary negotiation."""
from __future__ import annotations

import base64

import httpx
import pytest

from .smart import fhir, launch

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def tokens(sandbox, clients):
    """One patient-scoped token per tenant (patient p1), plus narrower ones."""
    base = sandbox.url
    return {
        "epic": launch(base, "epic", clients["epic-public"])["access_token"],
        "cerner": launch(base, "cerner", clients["cerner-public"])["access_token"],
        "epic-v1": launch(base, "epic", clients["epic-public"],
                          scope="launch patient/*.read")["access_token"],
        "epic-user": launch(base, "epic", clients["epic-public"], scope="launch user/*.rs")["access_token"],
        "cerner-narrow": launch(base, "cerner", clients["cerner-narrow"],
                                scope="launch patient/Patient.read patient/Condition.read")["access_token"],
    }


def _entries(bundle, mode="match"):
    return [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == mode]


def test_missing_or_bad_token_is_401(base):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = httpx.get(f"{base}/epic/fhir/Patient/p1", headers=headers)
        assert response.status_code == 401
        assert 'Bearer error="invalid_token"' in response.headers["www-authenticate"]
        assert response.json()["resourceType"] == "OperationOutcome"


def test_token_of_another_tenant_is_401(base, tokens):
    assert fhir(base, "cerner", tokens["epic"], "Patient/p1").status_code == 401


def test_read_patient(base, tokens):
    response = fhir(base, "epic", tokens["epic"], "Patient/p1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert response.json()["id"] == "p1"


def test_other_patient_is_403(base, tokens):
    assert fhir(base, "epic", tokens["epic"], "Patient/p2").status_code == 403
    assert fhir(base, "epic", tokens["epic"], "Condition?patient=p2").status_code == 403
    assert fhir(base, "epic", tokens["epic"], "Encounter/p2-enc1").status_code == 403


def test_user_scope_reads_any_patient(base, tokens):
    assert fhir(base, "epic", tokens["epic-user"], "Patient/p2").status_code == 200
    assert fhir(base, "epic", tokens["epic-user"], "Condition?patient=p2").status_code == 200


def test_missing_scope_is_403_insufficient_scope(base, tokens):
    response = fhir(base, "cerner", tokens["cerner-narrow"], "Observation?patient=p1")
    assert response.status_code == 403
    assert "insufficient_scope" in response.headers["www-authenticate"]
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "insufficient_scope"
    assert fhir(base, "cerner", tokens["cerner-narrow"], "Condition?patient=p1").status_code == 200
    assert fhir(base, "cerner", tokens["cerner-narrow"], "Binary/p1-note1-html",
                headers={"Accept": FHIR_JSON}).status_code == 403


def test_v1_scopes_work(base, tokens):
    assert fhir(base, "epic", tokens["epic-v1"], "Condition?patient=Patient/p1").status_code == 200
    assert fhir(base, "epic", tokens["epic-v1"], "Binary/p1-note1-html").status_code == 200


def test_unknown_id_and_type_are_404(base, tokens):
    response = fhir(base, "epic", tokens["epic"], "Condition/nope")
    assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"
    assert fhir(base, "epic", tokens["epic"], "Medication/x").status_code == 404


def test_epic_observation_needs_category(base, tokens):
    response = fhir(base, "epic", tokens["epic"], "Observation?patient=p1")
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert (issue["severity"], issue["code"]) == ("fatal", "required")


def test_epic_search_carries_outcome_entries(base, tokens):
    bundle = fhir(base, "epic", tokens["epic"], "Observation?patient=p1&category=laboratory").json()
    assert bundle["type"] == "searchset" and bundle["total"] == 3
    assert {o["resourceType"] for o in _entries(bundle)} == {"Observation"}
    outcome = _entries(bundle, "outcome")[0]
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "4119"
    empty = fhir(base, "epic", tokens["epic"], "Observation?patient=p1&category=social-history").json()
    assert empty["total"] == 0
    assert {o["issue"][0]["details"]["coding"][0]["code"] for o in _entries(empty, "outcome")} == {"4119", "4101"}


def test_cerner_observation_without_category(base, tokens):
    bundle = fhir(base, "cerner", tokens["cerner"], "Observation?patient=p1").json()
    assert bundle["total"] == 5
    assert all(e["search"]["mode"] == "match" for e in bundle["entry"])
    assert bundle["entry"][0]["fullUrl"] == f"{base}/cerner/fhir/Observation/{bundle['entry'][0]['resource']['id']}"


@pytest.mark.parametrize("category, expected", [
    ("laboratory", 3),
    ("http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", 2),
    ("laboratory,vital-signs", 5),
    ("http://other.example|laboratory", 0),
])
def test_category_tokens(base, tokens, category, expected):
    bundle = fhir(base, "cerner", tokens["cerner"], "Observation",
                  params={"subject": "Patient/p1", "category": category}).json()
    assert bundle["total"] == expected


def test_paging_follows_next_links(base, tokens):
    bundle = fhir(base, "cerner", tokens["cerner"], "Observation?patient=p1&_count=2").json()
    seen = [r["id"] for r in _entries(bundle)]
    pages = 1
    while (nxt := [link["url"] for link in bundle["link"] if link["relation"] == "next"]):
        assert httpx.get(nxt[0]).status_code == 401
        bundle = httpx.get(nxt[0], headers={"Authorization": f"Bearer {tokens['cerner']}"}).json()
        seen += [r["id"] for r in _entries(bundle)]
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 5


def test_results_are_newest_first(base, tokens):
    bundle = fhir(base, "cerner", tokens["cerner"], "Observation?patient=p1").json()
    dates = [r["effectiveDateTime"] for r in _entries(bundle)]
    assert dates == sorted(dates, reverse=True)


def test_epic_notes_point_to_binary(base, tokens):
    bundle = fhir(base, "epic", tokens["epic"], "DocumentReference?patient=p1&category=clinical-note").json()
    attachments = [c["attachment"] for d in _entries(bundle) for c in d["content"]]
    assert all("data" not in a and a["url"].startswith("Binary/") for a in attachments)
    assert {"text/html", "text/rtf"} <= {a["contentType"] for a in attachments}
    inline = [a for a in attachments if a["contentType"] == "text/plain"][0]
    raw = fhir(base, "epic", tokens["epic"], inline["url"], headers={"Accept": "text/plain"})
    assert raw.text == "Tall stature, arachnodactyly, lens subluxation."


def test_cerner_notes_keep_inline_data(base, tokens):
    bundle = fhir(base, "cerner", tokens["cerner"], "DocumentReference?patient=p1").json()
    attachments = [c["attachment"] for d in _entries(bundle) for c in d["content"]]
    assert any("data" in a for a in attachments)


@pytest.mark.parametrize("tenant, accept, status, kind", [
    ("epic", FHIR_JSON, 200, "resource"),
    ("epic", "text/html", 200, "raw"),
    ("epic", "*/*", 200, "raw"),
    ("epic", "image/png", 406, "outcome"),
    ("cerner", FHIR_JSON, 200, "resource"),
    ("cerner", "text/html", 200, "raw"),
    ("cerner", "*/*", 406, "outcome"),
    ("cerner", "application/json", 406, "outcome"),
])
def test_binary_negotiation(base, tokens, tenant, accept, status, kind):
    response = fhir(base, tenant, tokens[tenant], "Binary/p1-note1-html", headers={"Accept": accept})
    assert response.status_code == status
    if kind == "resource":
        body = response.json()
        assert body["resourceType"] == "Binary"
        assert b"long fingers" in base64.b64decode(body["data"])
    elif kind == "raw":
        assert response.headers["content-type"].startswith("text/html")
        assert "long fingers" in response.text
    else:
        assert response.json()["resourceType"] == "OperationOutcome"


def test_encounter_practitioner_and_report(base, tokens):
    assert fhir(base, "epic", tokens["epic"], "Encounter/p1-enc1").json()["status"] == "finished"
    assert fhir(base, "epic", tokens["epic"], "Practitioner/sandbox-practitioner").status_code == 200
    report = fhir(base, "epic", tokens["epic"], "DiagnosticReport?patient=p1&category=LAB").json()
    assert _entries(report)[0]["presentedForm"][0]["url"] == "Binary/p1-rep1-html"


def test_search_needs_a_patient(base, tokens):
    assert fhir(base, "cerner", tokens["cerner"], "Condition").status_code == 400
