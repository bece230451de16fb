"""FHIR fetchers against the sandbox: both flavours, paging, and each failure mode shown as
"not available: why" — never a crash, never an empty list that looks like "no data"."""
from __future__ import annotations

import httpx
import pytest

from app.fetch.fhir import FhirClient, fetch_record
from app.smart.sessions import SessionTokens
from tests.support.stack import new_browser, session_id


def record_for(stack, tenant="epic", patient="rd-001", concurrent=True, faults=(), timeout=3.0):
    """Launch (so the app holds a session), inject ``faults``, then fetch the record through the app's client."""
    resp = stack.launch(tenant, patient)
    assert resp.status_code == 200, resp.text
    for fault in faults:
        stack.fault(tenant, *fault)
    sid = session_id(resp)
    app = stack.app
    client = FhirClient(app.extensions["radar"].http, stack.iss(tenant),
                        SessionTokens(stack.store, app.extensions["radar"].http, app.extensions["radar"].settings, sid),
                        timeout=timeout)
    return fetch_record(client, patient, concurrent=concurrent)


@pytest.mark.parametrize("tenant", ["epic", "cerner"])
def test_record_complete_in_both_flavours(stack, tenant):
    record = record_for(stack, tenant)
    assert record.unavailable == {}
    assert record.patient["id"] == "rd-001"
    assert len(record.conditions) == 5
    assert len(record.observations) == 7
    assert len(record.notes) == 2 and all(n.text and not n.error for n in record.notes)
    # Epic flavour: outcome entries are reported as warnings, never parsed as data.
    if tenant == "epic":
        assert any("4119" in w or "entire record" in w for w in record.warnings)


def test_concurrent_and_sequential_fetch_agree(stack):
    a, b = record_for(stack, concurrent=True), record_for(stack, concurrent=False)
    assert a.to_dict() == b.to_dict()


def test_paging_follows_next_links(stack):
    record = record_for(stack, "cerner", "edge-manylabs")
    assert len(record.observations) == 3000
    assert len({o["id"] for o in record.observations}) == 3000


def test_busy_patient_all_notes_read(stack):
    record = record_for(stack, "epic", "edge-busy")
    assert len(record.observations) == 500
    assert len([n for n in record.notes if n.kind == "note"]) == 20
    assert all(n.text for n in record.notes if n.kind == "note")


def test_empty_record_is_empty_not_unavailable(stack):
    record = record_for(stack, "epic", "edge-empty")
    assert record.unavailable == {}
    assert record.conditions == [] and record.observations == [] and record.notes == []


def test_malformed_attachments_reported_per_note(stack):
    record = record_for(stack, "cerner", "edge-malformed")
    assert record.unavailable == {}
    errors = [n.error for n in record.notes if n.error]
    assert any("invalid base64" in e for e in errors)
    assert any("not found" in e for e in errors)
    assert any("PDF" in e or "pdf" in e for e in errors)
    assert any(n.text for n in record.notes)


def test_big_note_read_in_full(stack):
    record = record_for(stack, "epic", "edge-bignote")
    assert max(len(n.text) for n in record.notes) > 4_000_000


@pytest.mark.parametrize("resource, section", [("Observation", "labs"), ("Condition", "conditions"),
                                               ("DocumentReference", None), ("Patient", "patient")])
@pytest.mark.parametrize("mode, reason", [(403, "access not granted by the EHR (403)"), (500, "the EHR had an error (500)"),
                                          ("malformed", "unreadable answer"), ("timeout", "did not answer in time")])
def test_one_failing_fetcher_marks_only_its_section(stack, resource, section, mode, reason):
    # A short client timeout: the sandbox holds "timeout" faults for 5 s, the client gives up after 1 s.
    record = record_for(stack, "epic", faults=[(resource, mode)], timeout=1.0 if mode == "timeout" else 3.0)
    if section is None:  # notes: DocumentReference failed but reports still came
        assert "notes" not in record.unavailable
        assert any("clinical notes not available: " in w and reason in w for w in record.warnings)
    else:
        assert reason in record.unavailable[section]
        assert set(record.unavailable) == {section}
    others = {"labs": record.observations, "conditions": record.conditions}
    for name, items in others.items():
        if name != section:
            assert items, f"{name} should still be there"


def test_all_notes_sources_failing_marks_notes_unavailable(stack):
    record = record_for(stack, "cerner", faults=[("DocumentReference", 503), ("DiagnosticReport", 503)])
    assert record.unavailable == {"notes": "the EHR had an error (503)"}


def test_binary_failure_marks_that_note(stack):
    record = record_for(stack, "epic", faults=[("Binary", 500)])
    assert "notes" not in record.unavailable
    assert all(n.error == "the EHR had an error (500)" for n in record.notes if n.kind == "note")


def test_chart_page_says_what_is_missing(stack):
    stack.fault("epic", "Observation", 403)
    resp = stack.launch("epic")
    assert resp.status_code == 200
    assert "Not available: access not granted by the EHR (403)" in resp.text
    assert "No abnormal results" not in resp.text


def test_epic_observation_without_category_is_400(stack):
    resp = stack.launch("epic")
    token = stack.store.get("session", session_id(resp))["access_token"]
    r = httpx.get(f"{stack.iss('epic')}/Observation", params={"patient": "rd-001"},
                  headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_next_link_to_another_host_is_not_followed(stack):
    from app.fetch.fhir import FhirError

    class Tokens:
        def get(self, rejected=None):
            return "t"

    def handler(request):
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": [],
                                         "link": [{"relation": "next", "url": "https://evil.example/steal"}]})

    client = FhirClient(httpx.Client(transport=httpx.MockTransport(handler)), "https://ehr.example/fhir", Tokens())
    with pytest.raises(FhirError, match="another server"):
        client.search("Condition", {"patient": "p"})


def test_htmx_reload_returns_only_the_record_block(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    part = browser.get(str(resp.url), headers={"HX-Request": "true"})
    assert part.status_code == 200 and part.text.lstrip().startswith('<div id="record"')
    assert "<html" not in part.text and part.headers["vary"] == "HX-Request"


def test_failed_notes_search_is_never_no_notes(stack):
    # The notes search failing used to leave "No notes recorded." on the page and "No excerpts" in the narrative.
    stack.fault("epic", "DocumentReference", 503)
    record = record_for(stack, "epic", "rd-001")
    assert record.partial == {"notes": ["clinical notes: the EHR had an error (503)"]}
    assert "clinical notes and reports: partly not available (clinical notes: the EHR had an error (503))" \
        in record.gaps()
    page = stack.launch("epic", "rd-001").text
    assert "Partly not available: clinical notes: the EHR had an error (503)" in page
    assert "No notes recorded." not in page


def test_one_failing_condition_category_is_said():
    class Tokens:
        def get(self, rejected=None):
            return "t"

    def handler(request):
        if request.url.params.get("category") == "health-concern":
            return httpx.Response(500)
        if request.url.path.endswith("/Patient/p"):
            return httpx.Response(200, json={"resourceType": "Patient", "id": "p"})
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})

    client = FhirClient(httpx.Client(transport=httpx.MockTransport(handler)), "https://ehr.example/fhir", Tokens())
    record = fetch_record(client, "p")
    assert record.unavailable == {}
    assert record.partial == {"conditions": ["health concerns: the EHR had an error (500)"]}
    assert "health concerns not available: the EHR had an error (500)" in record.warnings


def test_paths_outside_the_fhir_base_are_refused():
    from app.fetch.fhir import FhirError, valid_id

    asked = []

    class Tokens:
        def get(self, rejected=None):
            return "t"

    def handler(request):
        asked.append(request.url.path)
        return httpx.Response(200, json={"resourceType": "Patient", "id": "p"})

    client = FhirClient(httpx.Client(transport=httpx.MockTransport(handler)), "https://ehr.example/fhir", Tokens())
    for escape in ("../../admin/Patient/x", "Patient/../../x", "/other/Patient/p"):
        with pytest.raises(FhirError, match="outside its FHIR API"):
            client.read_json(escape)
    assert asked == []
    assert client.read_json("Patient/p")["id"] == "p" and asked == ["/fhir/Patient/p"]
    assert valid_id("rd-001") and valid_id("A.b-9")
    assert not any(valid_id(v) for v in ("../../Patient/x", "a?b=c", "a/b", "", "..", "x" * 65, None))


def test_search_entries_without_a_resource_are_gaps_of_the_chart_record():
    """A searchset entry that holds no FHIR resource is counted in the record's gaps, not only a warning."""
    from app.fetch.build import NOT_A_RESOURCE

    class Tokens:
        def get(self, rejected=None):
            return "t"

    def handler(request):
        if request.url.path.endswith("/Patient/p"):
            return httpx.Response(200, json={"resourceType": "Patient", "id": "p"})
        if request.url.path.endswith("/Condition"):
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                             "entry": [{"resource": "x"}, 7]})
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})

    client = FhirClient(httpx.Client(transport=httpx.MockTransport(handler)), "https://ehr.example/fhir", Tokens())
    record = fetch_record(client, "p")
    counts = record.left_out[NOT_A_RESOURCE]
    assert set(counts) == {"no resourceType", "not an object"} and all(n >= 1 for n in counts.values())
    assert any(gap.startswith(f"{NOT_A_RESOURCE}: ") for gap in record.gaps())
