"""CDS Hooks 2.0 service over real HTTP: discovery, signed calls (sandbox- and Epic-style JWTs),
prefetch (full, partial + fhirAuthorization against the sandbox EHR, missing, malformed, huge),
the card, background RaDaR, and the feedback round trip."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from flask import Flask, request

from dev.vllm_stub import create_stub
from tests.fhir_data import prefetch_for
from tests.servers import serve
from tests.support.cds import SANDBOX_ISS, Signer, hook_body
from tests.support.stack import build_stack, session_id

# Slow: its own sandbox + app stack, the vLLM stub and a radar worker process (make check leaves it
# out; tests/cds/test_card.py and test_auth.py are the pure part).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "radar-patient-view"


@pytest.fixture(scope="module")
def cds(tmp_path_factory):
    sandbox_client = Signer(SANDBOX_ISS, "ES384")
    stub = serve(create_stub({"model": "sczzz/RaDaR-32B"}))
    holder = {}
    # Epic-style: iss = the organisation's FHIR base (the sandbox's epic tenant), RS384.
    epic_client = Signer("placeholder", "RS384")

    def clients(epic_iss):
        # The sandbox client may name the epic tenant as its fhirServer; the Epic client, whose iss is
        # a registered EHR's FHIR base, may name that base by default.
        return json.dumps([{"iss": SANDBOX_ISS, "jwks_url": sandbox_client.jwks_url, "fhir_servers": [epic_iss]},
                           {"iss": epic_iss, "jwks_url": epic_client.jwks_url}])
    # The Epic client's iss is the sandbox's epic FHIR base, known once the ports are chosen.
    stack = build_stack(tmp_path_factory.mktemp("cds"), extra_env=lambda app_url, sandbox_url: {
        "RADAR_CDS_CLIENTS": clients(f"{sandbox_url}/epic/fhir"), "RADAR_PUBLIC_URL": app_url,
        "RADAR_URL": f"{stub.url}/v1", "RADAR_MODEL": "sczzz/RaDaR-32B"})
    epic_client.iss = stack.iss("epic")
    holder.update(stack=stack, sandbox=sandbox_client, epic=epic_client, stub=stub)
    yield holder
    for s in (sandbox_client.served, epic_client.served, stub, stack.app_served, stack.sandbox_served):
        s.stop()


def call(cds, body: dict, *, signer="sandbox", token: str | None = None, path: str = SERVICE):
    stack = cds["stack"]
    url = f"{stack.app_url}/cds-services/{path}"
    token = token if token is not None else cds[signer].token(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, json=body, headers=headers, timeout=30)


def test_discovery(cds):
    doc = httpx.get(f"{cds['stack'].app_url}/cds-services").json()
    [service] = doc["services"]
    assert service["hook"] == "patient-view" and service["id"] == SERVICE and service["description"]
    assert {"patient", "conditions", "labs", "notes"} <= set(service["prefetch"])
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"


@pytest.mark.parametrize("signer", ["sandbox", "epic"])
def test_card_for_a_rare_disease_signal(cds, signer):
    # The whole record prefetched (reports too): a card with nothing left unread is the chart's.
    resp = call(cds, hook_body("rd-008", prefetch=prefetch_for("rd-008", reports=True)), signer=signer)
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    assert len(card["summary"]) <= 140
    assert re.fullmatch(r"Rare-disease pattern \((>99|\d{1,2})%\): .+ (<1|>99|\d{1,2})% \(\+2 more\)", card["summary"])
    # rd-008 carries a strong signal (P(rare) > 0.99 on the sandbox data against the shipped background): a warning.
    assert card["indicator"] == "warning"
    assert re.search(r"^Probability of a rare disease given these \d+ findings: (>99|\d{1,2})%$", card["detail"], re.M)
    assert len(re.findall(r"^\d\. \[.+\]\(https://\S+\) — (<1|>99|\d{1,2})% — matches: ", card["detail"], re.M)) == 3
    assert card["source"]["label"].startswith("RaDaR") and card["source"]["url"]
    assert len(card["source"]["topic"]["code"]) <= 100
    assert "https://www.orpha.net/en/disease/detail/" in card["detail"]
    [link] = card["links"]
    assert link["type"] == "smart" and link["url"].endswith("/launch")
    assert json.loads(link["appContext"])["case"]
    assert uuid.UUID(card["uuid"])
    assert all(r["display"] for r in card["overrideReasons"])


def test_background_radar_case_is_queued(cds):
    resp = call(cds, hook_body("rd-002", prefetch=prefetch_for("rd-002")))
    case_id = json.loads(resp.json()["cards"][0]["links"][0]["appContext"])["case"]
    case = cds["stack"].store.get("case", case_id)
    assert case and case["status"] in ("queued", "running", "done") and case["owner"].endswith("|rd-002")


def test_no_signal_no_card(cds):
    resp = call(cds, hook_body("edge-empty", prefetch=prefetch_for("edge-empty")))
    assert resp.status_code == 200 and resp.json() == {"cards": []}


def test_no_card_when_the_rare_disease_is_already_on_the_problem_list(cds):
    # rd-017's diagnosis is on its problem list: P(rare) is about 0, so nothing to screen for.
    resp = call(cds, hook_body("rd-017", prefetch=prefetch_for("rd-017")))
    assert resp.status_code == 200 and resp.json() == {"cards": []}


def test_known_disease_not_suggested_again(cds):
    resp = call(cds, hook_body("rd-035", prefetch=prefetch_for("rd-035")))
    cards = resp.json()["cards"]
    assert all("Cleidocranial dysplasia" not in c["summary"] and "Cleidocranial dysplasia" not in c["detail"]
               for c in cards)


def test_missing_prefetch_without_authorization_is_412(cds):
    body = hook_body("rd-008", prefetch={k: v for k, v in prefetch_for("rd-008").items() if k != "labs"})
    resp = call(cds, body)
    assert resp.status_code == 412 and "labs" in resp.json()["error"]


def test_partial_prefetch_completed_from_the_fhir_server(cds):
    stack = cds["stack"]
    launched = stack.launch("epic", "rd-008")
    token = stack.store.get("session", session_id(launched))["access_token"]
    stack.control("DELETE", "requests")
    partial = {k: v for k, v in prefetch_for("rd-008", inline_notes=False).items() if k in ("patient", "notes")}
    body = hook_body("rd-008", prefetch=partial, fhirServer=stack.iss("epic"),
                     fhirAuthorization={"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": "radar"})
    resp = call(cds, body)
    assert resp.status_code == 200 and resp.json()["cards"]
    counts = json.dumps(stack.control("GET", "requests").json())
    assert "Observation" in counts and "Condition" in counts and "Binary" in counts


def chart_findings(stack, pid: str) -> int:
    """How many findings the chart shows for ``pid`` (its own launch and fetch, through the one middle)."""
    from app.fetch.fhir import FhirClient, fetch_record
    from app.pipeline import analyse
    from app.smart.sessions import SessionTokens

    sid = session_id(stack.launch("epic", pid))
    ctx = stack.app.extensions["radar"]
    client = FhirClient(ctx.http, stack.iss("epic"), SessionTokens(ctx.store, ctx.http, ctx.settings, sid), timeout=3)
    return len(analyse(fetch_record(client, pid), ctx.knowledge).profile.present)


def card_findings(card: dict) -> int:
    return int(re.search(r"from (\d+) findings in the record", card["detail"]).group(1))


def test_notes_behind_binary_links_are_read_with_fhir_authorization(cds):
    stack = cds["stack"]
    token = stack.store.get("session", session_id(stack.launch("epic", "rd-008")))["access_token"]
    stack.control("DELETE", "requests")
    body = hook_body("rd-008", prefetch=prefetch_for("rd-008", reports=True, inline_notes=False),
                     fhirServer=stack.iss("epic"), fhirAuthorization={"access_token": token, "token_type": "Bearer"})
    [card] = call(cds, body).json()["cards"]
    assert "Binary" in json.dumps(stack.control("GET", "requests").json())
    assert "could not be read" not in card["detail"] and "chart has more" not in card["detail"]
    assert card_findings(card) == chart_findings(stack, "rd-008")


def test_notes_behind_binary_links_without_fhir_authorization_the_card_says_the_chart_has_more(cds):
    stack = cds["stack"]
    body = hook_body("rd-008", prefetch=prefetch_for("rd-008", reports=True, inline_notes=False))
    [card] = call(cds, body).json()["cards"]
    assert "could not be read (note content not prefetched)" in card["detail"]
    assert card_findings(card) < chart_findings(stack, "rd-008")
    assert "The chart has more" in card["detail"] and "prefetched data only" in card["summary"]
    assert "from the prefetched data only (not the chart's)" in card["detail"]
    assert card["links"][0]["type"] == "smart" and "chart" in card["links"][0]["label"]


def test_bad_fhir_authorization_is_412(cds):
    stack = cds["stack"]
    body = hook_body("rd-008", prefetch={"patient": prefetch_for("rd-008")["patient"]}, fhirServer=stack.iss("epic"),
                     fhirAuthorization={"access_token": "not-a-token", "token_type": "Bearer"})
    assert call(cds, body).status_code == 412


@pytest.mark.parametrize("body, reason", [
    ({"hook": "order-sign"}, "hook must be patient-view"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {"userId": "Practitioner/1"}}, "context.patientId"),
    ({**hook_body("rd-008"), "prefetch": {**prefetch_for("rd-008"), "conditions": "oops"}},
     "prefetch.conditions must be a Bundle"),
    ({**hook_body("rd-008"), "prefetch": {**prefetch_for("rd-008"), "patient": prefetch_for("rd-002")["patient"]}},
     "does not match"),
    ({**hook_body("rd-008"), "fhirAuthorization": {"access_token": "t"}}, "fhirServer is required"),
])
def test_malformed_requests_get_a_short_reason(cds, body, reason):
    resp = call(cds, body)
    assert resp.status_code == 400 and reason in resp.json()["error"]
    assert "Traceback" not in resp.text and "rd-0" not in resp.text


def test_null_prefetch_means_no_data(cds):
    body = hook_body("rd-008", prefetch={"patient": prefetch_for("rd-008")["patient"], "conditions": None,
                                         "labs": None, "notes": None})
    assert call(cds, body).json() == {"cards": []}


def test_huge_prefetch(cds):
    resp = call(cds, hook_body("edge-manylabs", prefetch=prefetch_for("edge-manylabs")))
    assert resp.status_code == 200
    big = call(cds, hook_body("edge-bignote", prefetch=prefetch_for("edge-bignote")))
    assert big.status_code == 200


@pytest.mark.parametrize("case", ["none", "garbage", "wrong-aud", "wrong-service-aud", "expired", "unknown-iss"])
def test_bad_tokens_are_bare_401(cds, case):
    stack = cds["stack"]
    url = f"{stack.app_url}/cds-services/{SERVICE}"
    signer = cds["sandbox"]
    token = {"none": "", "garbage": "a.b.c", "wrong-aud": signer.token("https://other.example/cds-services/x"),
             "wrong-service-aud": signer.token(f"{stack.app_url}/cds-services"),
             "expired": signer.token(url, exp=int(time.time()) - 600, iat=int(time.time()) - 900),
             "unknown-iss": signer.token(url, iss="https://evil.example")}[case]
    resp = call(cds, hook_body("rd-008", prefetch=prefetch_for("rd-008")), token=token)
    assert resp.status_code == 401 and resp.text == ""


@pytest.mark.parametrize("host", ["evil.example", "evil.example:443"])
def test_audience_is_the_public_url_never_the_host_header(cds, host):
    # A token minted for another host's URL, sent with that Host header, used to be accepted.
    endpoint = f"/cds-services/{SERVICE}"
    token = cds["sandbox"].token(f"http://{host}{endpoint}")
    resp = httpx.post(f"{cds['stack'].app_url}{endpoint}", json=hook_body("rd-008", prefetch=prefetch_for("rd-008")),
                      headers={"Authorization": f"Bearer {token}", "Host": host}, timeout=30)
    assert resp.status_code == 401 and resp.text == ""


def test_replayed_token_refused(cds):
    url = f"{cds['stack'].app_url}/cds-services/{SERVICE}"
    token = cds["sandbox"].token(url)
    body = hook_body("rd-008", prefetch=prefetch_for("rd-008"))
    assert call(cds, body, token=token).status_code == 200
    assert call(cds, body, token=token).status_code == 401


def test_feedback_round_trip(cds):
    stack = cds["stack"]
    card = call(cds, hook_body("rd-003", prefetch=prefetch_for("rd-003"))).json()["cards"][0]
    feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                              "overrideReason": {"reason": {"code": "not-relevant", "system": "https://radar.example/cds-override"},
                                                 "userComment": "known to us"},
                              "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}
    resp = call(cds, feedback, path=f"{SERVICE}/feedback")
    assert resp.status_code == 200
    assert call(cds, {"feedback": [{"outcome": "maybe"}]}, path=f"{SERVICE}/feedback").status_code == 400
    socket = stack.store.redis.connection_pool.connection_kwargs["path"]
    out = subprocess.run([sys.executable, "-m", "app.cli", "feedback", "export"], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "REDIS_URL": f"unix://{socket}", "RADAR_EHRS": ""}, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    mine = [x for x in lines if x["card"] == card["uuid"]]
    assert mine and mine[0]["outcome"] == "overridden" and mine[0]["overrideReason"]["reason"]["code"] == "not-relevant"


def test_cds_reads_are_audited(cds):
    from app import audit

    stack = cds["stack"]
    before = len(audit.events(stack.store))
    call(cds, hook_body("rd-004", prefetch=prefetch_for("rd-004")))
    [event] = audit.events(stack.store)[before:]
    assert event["patient"] == "rd-004" and event["user"] == "Practitioner/123" and event["outcome"] == "cds"


# --- hardening: fhirServer allowlist, ids, prefetch ownership, CORS, gaps, code systems -----------

class Recorder:
    """A FHIR server stand-in on loopback that records every request it gets (and its Authorization)."""

    def __init__(self):
        self.requests: list[tuple[str, str | None]] = []
        app = Flask("recorder")

        @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
        @app.route("/<path:path>", methods=["GET", "POST"])
        def anything(path):
            self.requests.append((path, request.headers.get("Authorization")))
            return {"resourceType": "Bundle", "type": "searchset", "entry": []}

        self.served = serve(app)
        self.url = f"{self.served.url}/fhir"


@pytest.fixture(scope="module")
def recorder():
    r = Recorder()
    yield r
    r.served.stop()


def authorization(server: str) -> dict:
    return {"fhirServer": server, "fhirAuthorization": {"access_token": "the-callers-token", "token_type": "Bearer",
                                                          "expires_in": 300, "scope": "patient/*.read",
                                                          "subject": "radar"}}


@pytest.mark.parametrize("signer", ["sandbox", "epic"])
def test_ssrf_a_fhir_server_the_client_may_not_name_is_never_contacted(cds, recorder, signer):
    recorder.requests.clear()
    partial = {"patient": prefetch_for("rd-008")["patient"]}
    resp = call(cds, hook_body("rd-008", prefetch=partial, **authorization(recorder.url)), signer=signer)
    assert resp.status_code == 412, resp.text
    assert "not contacted" in resp.json()["error"] and "conditions" in resp.json()["error"]
    assert recorder.requests == []  # not one request, so the caller's token went nowhere


def test_disallowed_fhir_server_prefetch_alone_and_the_card_says_what_was_not_read(cds, recorder):
    recorder.requests.clear()
    stack = cds["stack"]
    from app import audit

    before = len(audit.events(stack.store))
    resp = call(cds, hook_body("rd-008", prefetch=prefetch_for("rd-008"), **authorization(recorder.url)))
    assert resp.status_code == 200 and recorder.requests == []
    [card] = resp.json()["cards"]
    assert "Not read, so not screened:" in card["detail"]
    assert "reports: not prefetched, and the fhirServer named is not registered for this client" in card["detail"]
    [event] = audit.events(stack.store)[before:]
    assert event["iss"] == SANDBOX_ISS and recorder.url not in json.dumps(event)


def test_audit_records_the_authenticated_client_and_an_allowed_fhir_server(cds):
    stack = cds["stack"]
    from app import audit

    before = len(audit.events(stack.store))
    body = hook_body("rd-005", prefetch=prefetch_for("rd-005", reports=True), **authorization(stack.iss("epic")))
    assert call(cds, body).status_code == 200
    [event] = audit.events(stack.store)[before:]
    assert event["iss"] == SANDBOX_ISS
    assert json.loads(event["detail"])["fhirServer"] == stack.iss("epic")


def test_epic_client_completes_prefetch_from_its_own_fhir_base_by_default(cds):
    stack = cds["stack"]
    launched = stack.launch("epic", "rd-008")
    token = stack.store.get("session", session_id(launched))["access_token"]
    stack.control("DELETE", "requests")
    body = hook_body("rd-008", prefetch={"patient": prefetch_for("rd-008")["patient"]}, fhirServer=stack.iss("epic"),
                     fhirAuthorization={"access_token": token, "token_type": "Bearer"})
    resp = call(cds, body, signer="epic")
    assert resp.status_code == 200 and resp.json()["cards"]
    assert "Condition" in json.dumps(stack.control("GET", "requests").json())


@pytest.mark.parametrize("patient_id", ["../../Patient/x", "a?b=c", "rd-008/../x"])
def test_patient_id_must_be_a_fhir_id(cds, patient_id):
    resp = call(cds, hook_body(patient_id, prefetch=prefetch_for("rd-008")))
    assert resp.status_code == 400 and "context.patientId must be a FHIR id" in resp.json()["error"]


@pytest.mark.parametrize("patient, reason", [
    ({"birthDate": 12}, "not a valid FHIR R4 Patient"), ({"name": "x"}, "not a valid FHIR R4 Patient"),
    ({"id": None}, "prefetch.patient has no id"),
])
def test_malformed_prefetch_patient_is_400_not_500(cds, patient, reason):
    prefetch = prefetch_for("rd-008")
    prefetch["patient"] = {k: v for k, v in {**prefetch["patient"], **patient}.items() if v is not None}
    resp = call(cds, hook_body("rd-008", prefetch=prefetch))
    assert resp.status_code == 400 and reason in resp.json()["error"]


def test_prefetch_of_another_patient_is_400(cds):
    prefetch = prefetch_for("rd-008")
    prefetch["conditions"] = prefetch_for("rd-002")["conditions"]
    resp = call(cds, hook_body("rd-008", prefetch=prefetch))
    assert resp.status_code == 400 and resp.json()["error"] == "prefetch.conditions holds a Condition of another patient"


@pytest.mark.parametrize("subject", [{"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-2"}},
                                     {"display": "Someone Else"}, None])
def test_prefetch_not_referencing_the_patient_is_400_not_a_card(cds, subject):
    # Another patient's record with its references replaced by an identifier or a display (or
    # removed) used to be read into this patient's record, and produced a card.
    prefetch = prefetch_for("rd-008")
    for key in ("conditions", "labs"):
        prefetch[key] = copy.deepcopy(prefetch_for("rd-002")[key])
        for entry in prefetch[key]["entry"]:
            entry["resource"].pop("subject")
            if subject is not None:
                entry["resource"]["subject"] = subject
    resp = call(cds, hook_body("rd-008", prefetch=prefetch))
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == ("prefetch.conditions holds a Condition without a literal reference to the "
                                    "patient (subject.reference)")


def test_absolute_references_on_the_fhir_server_named_are_the_patients(cds):
    stack = cds["stack"]
    base = stack.iss("epic")
    prefetch = copy.deepcopy(prefetch_for("rd-008"))  # its resources are the shared sandbox records
    for key in ("conditions", "labs"):
        for entry in prefetch[key]["entry"]:
            entry["resource"]["subject"] = {"reference": f"{base}/Patient/rd-008/_history/1"}
    resp = call(cds, hook_body("rd-008", prefetch=prefetch, fhirServer=base))
    assert resp.status_code == 200, resp.text
    resp = call(cds, hook_body("rd-008", prefetch=prefetch, fhirServer=stack.iss("cerner")))
    assert resp.status_code == 400 and resp.json()["error"] == "prefetch.conditions holds a Condition of another patient"


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_400_not_500(cds, depth):
    url = f"{cds['stack'].app_url}/cds-services/{SERVICE}"
    raw = json.dumps(hook_body("rd-008"))[:-1] + ', "prefetch": {"patient": ' + "[" * depth + "]" * depth + "}}"
    resp = httpx.post(url, content=raw, headers={"Authorization": f"Bearer {cds['sandbox'].token(url)}",
                                                 "Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 400 and "nested too deeply" in resp.json()["error"]


@pytest.mark.parametrize("depth", [500, 1000])
def test_deeply_nested_feedback_is_400_not_500(cds, depth):
    url = f"{cds['stack'].app_url}/cds-services/{SERVICE}/feedback"
    raw = '{"feedback": [{"card": "u", "outcome": "overridden", "overrideReason": ' + "[" * depth + "]" * depth + "}]}"
    resp = httpx.post(url, content=raw, headers={"Authorization": f"Bearer {cds['sandbox'].token(url)}",
                                                 "Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 400 and "nested too deeply" in resp.json()["error"]


@pytest.mark.parametrize("path, method", [("", "GET"), (SERVICE, "POST"), (f"{SERVICE}/feedback", "POST")])
def test_cors_on_every_cds_endpoint_preflight_without_a_token(cds, path, method):
    url = f"{cds['stack'].app_url}/cds-services" + (f"/{path}" if path else "")
    preflight = httpx.options(url, headers={"Origin": "https://sandbox.cds-hooks.org",
                                            "Access-Control-Request-Method": method,
                                            "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")} >= {
        "authorization", "content-type"}
    assert {m.strip() for m in preflight.headers["Access-Control-Allow-Methods"].split(",")} >= {method, "OPTIONS"}
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    # The real call answers with the header too, a refusal included, so the browser can read it.
    real = httpx.request(method, url, headers={"Origin": "https://sandbox.cds-hooks.org"}, json={})
    assert real.headers["Access-Control-Allow-Origin"] == "*" and "Access-Control-Allow-Credentials" not in real.headers


def test_code_systems_on_the_card_resolve(cds):
    card = call(cds, hook_body("rd-040", prefetch=prefetch_for("rd-040"))).json()["cards"][0]
    system = card["overrideReasons"][0]["system"]
    assert system == f"{cds['stack'].app_url}/cds-services/codes/override"
    doc = httpx.get(system).json()
    assert doc["resourceType"] == "CodeSystem" and doc["url"] == system
    assert {c["code"] for c in doc["concept"]} == {r["code"] for r in card["overrideReasons"]}
    topic = card["source"]["topic"]
    assert topic["code"] in {c["code"] for c in httpx.get(topic["system"]).json()["concept"]}
    assert httpx.get(f"{cds['stack'].app_url}/cds-services/codes/nope").status_code == 404
