"""Bulk Data Access 2.0 export on the sandbox: kick-off, polling, manifest, files, _type,
_typeFilter, _since, access tokens, DELETE, throttling, injected faults, both flavours."""
from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest

from dev.sandbox.store import parse_instant

from . import backend_kit as kit
from .smart import launch

# Slow: the sandbox's Bulk exports, polled to completion (make check leaves it out).
pytestmark = pytest.mark.slow

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


@pytest.fixture(scope="module")
def base(bundles, keys, jwks_server):
    """A sandbox of its own: these tests touch patients, inject faults and change export settings."""
    served = kit.start(bundles, keys, f"{jwks_server.url}/jwks.json")
    yield served.url
    served.stop()


@pytest.fixture(scope="module")
def epic(base, keys) -> str:
    """A backend token of the Epic-like tenant (v2 scopes)."""
    return kit.token(base, "epic", keys["RS384"])


@pytest.fixture(scope="module")
def cerner(base, keys) -> str:
    """A backend token of the Cerner-like tenant (v1 scopes)."""
    return kit.token(base, "cerner", keys["ES384"], "ES384", scope=kit.V1)


@pytest.fixture(autouse=True)
def _no_faults(base):
    yield
    httpx.delete(f"{base}/_sandbox/faults").raise_for_status()


@contextmanager
def settings(base: str, **changes):
    """Change the export settings for a block, then put them back."""
    before = httpx.post(f"{base}/_sandbox/bulk", json={}).json()
    assert httpx.post(f"{base}/_sandbox/bulk", json=changes).status_code == 200
    try:
        yield
    finally:
        httpx.post(f"{base}/_sandbox/bulk", json=before).raise_for_status()


def _ids(found: dict, rtype: str) -> set[str]:
    return {r["id"] for r in found.get(rtype, [])}


def test_group_export_whole_flow(base, bundles, epic):
    response = kit.kick_off(base, "epic", epic, "Group/rare")
    assert response.headers["content-location"].startswith(f"{base}/epic/bulk/status/")
    manifest = kit.wait_manifest(kit.status_url(response), epic)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"] == f"{base}/epic/fhir/Group/rare/$export"
    assert parse_instant(manifest["transactionTime"]) is not None
    found = kit.resources(manifest, epic)
    assert set(found) == {"Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport"}
    for rtype, lines in found.items():
        assert _ids(found, rtype) == kit.expected(bundles, kit.MEMBERS["rare"], rtype)
        assert len(lines) == len(_ids(found, rtype))
        assert {kit.patient_of(r) for r in lines} <= set(kit.MEMBERS["rare"])
        assert all(r["meta"]["lastUpdated"] for r in lines)
    observation_files = [o for o in manifest["output"] if o["type"] == "Observation"]
    assert [o["count"] for o in observation_files] == [2, 2, 2, 1]  # EXPORT_FILE_LINES = 2
    assert {o["url"].rsplit("/", 1)[1] for o in observation_files} == {f"Observation.{n}.ndjson" for n in (1, 2, 3, 4)}


def test_in_progress_then_delete(base, epic):
    with settings(base, export_seconds=120):
        url = kit.status_url(kit.kick_off(base, "epic", epic, "Group/all"))
        polled = httpx.get(url, headers=kit.bearer(epic))
        assert polled.status_code == 202
        assert polled.headers["retry-after"] == "1"
        assert polled.headers["x-progress"].endswith("% complete")
        jobs = [j["id"] for j in httpx.get(f"{base}/_sandbox/exports").json()]
        assert url.rsplit("/", 1)[1] in jobs
        assert httpx.delete(url, headers=kit.bearer(epic)).status_code == 202
        gone = httpx.get(url, headers=kit.bearer(epic))
        assert gone.status_code == 404 and gone.json()["resourceType"] == "OperationOutcome"
        assert url.rsplit("/", 1)[1] not in [j["id"] for j in httpx.get(f"{base}/_sandbox/exports").json()]


def test_delete_removes_files(base, epic):
    response = kit.kick_off(base, "epic", epic, "Group/edge")
    manifest = kit.wait_manifest(kit.status_url(response), epic)
    file_url = manifest["output"][0]["url"]
    assert httpx.get(file_url, headers=kit.bearer(epic)).status_code == 200
    assert httpx.delete(response.headers["content-location"], headers=kit.bearer(epic)).status_code == 202
    assert httpx.get(file_url, headers=kit.bearer(epic)).status_code == 404
    assert httpx.delete(response.headers["content-location"], headers=kit.bearer(epic)).status_code == 404


def test_files_require_the_access_token(base, keys, epic):
    manifest = kit.export(base, "epic", epic, "Group/edge")
    url = manifest["output"][0]["url"]
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and "invalid_token" in anonymous.headers["www-authenticate"]
    other_client = kit.token(base, "epic", keys["RS384"], client_id="backend-narrow", scope=kit.NARROW)
    assert httpx.get(url, headers=kit.bearer(other_client)).status_code == 404
    status = manifest["output"][0]["url"].replace("/files/", "/status/").rsplit("/", 1)[0]
    assert httpx.get(status).status_code == 401


def test_type_filter_keeps_lab_observations(base, bundles, epic):
    manifest = kit.export(base, "epic", epic, "Group/all", {
        "_type": "Patient,Observation,Condition",
        "_typeFilter": "Observation?category=laboratory,Condition?category=problem-list-item"})
    found = kit.resources(manifest, epic)
    assert set(found) == {"Patient", "Observation", "Condition"}
    observations = found["Observation"]
    assert observations and all(
        any(c["code"] == "laboratory" for cat in r["category"] for c in cat["coding"]) for r in observations)
    every = kit.expected(bundles, kit.MEMBERS["all"], "Observation")
    assert len(observations) < len(every)
    assert {c["category"][0]["coding"][0]["code"] for c in found["Condition"]} == {"problem-list-item"}
    with_system = kit.export(base, "epic", epic, "Group/all",
                             [("_type", "Observation"), ("_typeFilter", f"Observation?category={LAB}")])
    assert _ids(kit.resources(with_system, epic), "Observation") == _ids(found, "Observation")


@pytest.mark.parametrize("params, status", [
    ({"_typeFilter": "Observation?date=gt2020-01-01"}, 400),
    ({"_typeFilter": "Patient?gender=male"}, 400),
    ({"_typeFilter": "Observation"}, 400),
    ({"_type": "Encounter"}, 400),
    ({"_since": "yesterday"}, 400),
    ({"_since": "2024-01-01"}, 400),
    ({"_outputFormat": "text/csv"}, 400),
    ({"_elements": "id"}, 400),
])
def test_bad_parameters(base, epic, params, status):
    response = kit.kick_off(base, "epic", epic, "Group/rare", params)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_kick_off_needs_async_and_fhir_json(base, epic):
    assert kit.kick_off(base, "epic", epic, headers={"Prefer": None}).status_code == 400
    assert kit.kick_off(base, "epic", epic, headers={"Accept": "text/html"}).status_code == 400
    assert kit.kick_off(base, "epic", epic, "Group/nope").status_code == 404
    assert kit.kick_off(base, "epic", "not-a-token").status_code == 401


@pytest.mark.parametrize("fmt", ["application/fhir+ndjson", "application/ndjson", "ndjson"])
def test_output_formats(base, epic, fmt):
    assert kit.export(base, "epic", epic, "Group/edge", {"_outputFormat": fmt, "_type": "Patient"})["output"]


def test_since_finds_only_the_touched_patient(base, bundles, epic):
    first = kit.export(base, "epic", epic, "Group/all", {"_type": "Patient"})
    since = first["transactionTime"]
    nothing = kit.export(base, "epic", epic, "Group/all", {"_since": since})
    assert nothing["output"] == []
    touched = httpx.post(f"{base}/_sandbox/touch", json={"patient": "rd-002"}).json()
    assert parse_instant(touched["lastUpdated"]) > parse_instant(since) and touched["resources"] > 1
    found = kit.resources(kit.export(base, "epic", epic, "Group/all", {"_since": since}), epic)
    for rtype, lines in found.items():
        assert {kit.patient_of(r) for r in lines} == {"rd-002"}
        assert _ids(found, rtype) == kit.expected(bundles, ["rd-002"], rtype)
    assert set(found) == {"Patient", "Condition", "Observation", "DocumentReference"}
    assert httpx.post(f"{base}/_sandbox/touch", json={"patient": "nobody"}).status_code == 404


def test_patient_export_is_every_patient(base, epic):
    found = kit.resources(kit.export(base, "epic", epic, "Patient", {"_type": "Patient"}), epic)
    assert sorted(_ids(found, "Patient")) == sorted(kit.MEMBERS["all"])


def test_post_kick_off_with_parameters(base, epic):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Patient,Condition"},
        {"name": "_typeFilter", "valueString": "Condition?category=encounter-diagnosis"}]}
    manifest = kit.export(base, "epic", epic, "Group/rare", method="POST", body=body)
    found = kit.resources(manifest, epic)
    assert _ids(found, "Condition") == {"rd-001-cond2"}
    assert manifest["request"] == f"{base}/epic/fhir/Group/rare/$export"


@pytest.mark.parametrize("tenant, inline_note_binary", [("epic", True), ("cerner", False)])
def test_binary_only_when_named(base, bundles, request, tenant, inline_note_binary):
    access = request.getfixturevalue(tenant)
    plain = kit.resources(kit.export(base, tenant, access, "Group/rare"), access)
    assert "Binary" not in plain
    found = kit.resources(kit.export(base, tenant, access, "Group/rare", {
        "_type": "DocumentReference,DiagnosticReport,Binary"}), access)
    urls = {a["url"] for d in found["DocumentReference"] for c in d["content"]
            for a in [c["attachment"]] if "url" in a}
    urls |= {f["url"] for r in found["DiagnosticReport"] for f in r.get("presentedForm", [])}
    assert {f"Binary/{b['id']}" for b in found["Binary"]} == urls
    assert ("rd-001-note2-att0" in _ids(found, "Binary")) is inline_note_binary
    assert all(b["data"] and b["contentType"] for b in found["Binary"])
    assert _ids(found, "Binary") <= kit.expected(bundles, kit.MEMBERS["rare"], "Binary") | {"rd-001-note2-att0"}


def test_cerner_flavour_export(base, bundles, cerner):
    found = kit.resources(kit.export(base, "cerner", cerner, "Group/all"), cerner)
    assert _ids(found, "Patient") == set(kit.MEMBERS["all"])
    assert _ids(found, "Observation") == kit.expected(bundles, kit.MEMBERS["all"], "Observation")
    inline = [c["attachment"] for d in found["DocumentReference"] for c in d["content"] if "data" in c["attachment"]]
    assert inline  # Cerner-like tenants keep note data inline


def test_scopes_limit_the_export(base, keys):
    narrow = kit.token(base, "epic", keys["RS384"], client_id="backend-narrow", scope=kit.NARROW)
    manifest = kit.export(base, "epic", narrow, "Group/rare")
    assert {o["type"] for o in manifest["output"]} == {"Patient", "Condition"}
    refused = kit.kick_off(base, "epic", narrow, "Group/rare", {"_type": "Patient,Observation"})
    assert refused.status_code == 403 and "Observation" in refused.json()["issue"][0]["diagnostics"]


def test_patient_token_cannot_export(base):
    patient = launch(base, "epic", {"client_id": "radar-public", "token_endpoint_auth_method": "none"},
                     scope="launch patient/*.rs user/*.rs", patient="rd-001")["access_token"]
    assert kit.kick_off(base, "epic", patient, "Patient").status_code == 403


def test_too_many_jobs_is_429(base, keys, epic):
    with settings(base, export_seconds=120, max_jobs=3):
        urls = [kit.status_url(kit.kick_off(base, "epic", epic, "Group/edge")) for _ in range(3)]
        throttled = kit.kick_off(base, "epic", epic, "Group/edge")
        assert throttled.status_code == 429
        assert throttled.json()["issue"][0]["code"] == "throttled"
        assert int(throttled.headers["retry-after"]) >= 1
        other = kit.token(base, "epic", keys["RS384"], client_id="backend-url")
        other_url = kit.status_url(kit.kick_off(base, "epic", other, "Group/edge"))
        for url, access in [*[(u, epic) for u in urls], (other_url, other)]:
            assert httpx.delete(url, headers=kit.bearer(access)).status_code == 202
        assert kit.kick_off(base, "epic", epic, "Group/edge").status_code == 202


def _fault(base, resource, mode, times, retry_after):
    httpx.post(f"{base}/_sandbox/faults", json={"tenant": "epic", "resource": resource, "mode": mode,
                                                "times": times, "retry_after": retry_after}).raise_for_status()


def test_faults_on_status_and_files(base, epic):
    url = kit.status_url(kit.kick_off(base, "epic", epic, "Group/edge", {"_type": "Patient"}))
    _fault(base, "bulk-status", 503, 2, 0)
    for _ in range(2):
        failed = httpx.get(url, headers=kit.bearer(epic))
        assert failed.status_code == 503 and failed.headers["retry-after"] == "0"
        assert failed.json()["issue"][0]["code"] == "transient"
    manifest = kit.wait_manifest(url, epic)
    file_url = manifest["output"][0]["url"]
    _fault(base, "bulk-file", 429, 1, 1)
    throttled = httpx.get(file_url, headers=kit.bearer(epic))
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
    assert kit.download(file_url, epic)[0]["id"] == "edge-one"
    counts = httpx.get(f"{base}/_sandbox/requests").json()["epic"]
    assert counts["bulk-status"] >= 3 and counts["bulk-file"] >= 2 and counts["$export"] >= 1


def test_faults_control_checks_retry_after(base):
    response = httpx.post(f"{base}/_sandbox/faults", json={"resource": "bulk-file", "mode": 503,
                                                           "retry_after": "soon"})
    assert response.status_code == 400


def test_files_are_written_when_the_job_is_complete(base, epic):
    with settings(base, export_seconds=120):
        url = kit.status_url(kit.kick_off(base, "epic", epic, "Group/edge"))
        job = url.rsplit("/", 1)[1]
        early = httpx.get(f"{base}/epic/bulk/files/{job}/Patient.1.ndjson", headers=kit.bearer(epic))
        assert early.status_code == 404
        assert httpx.delete(url, headers=kit.bearer(epic)).status_code == 202
