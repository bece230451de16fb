"""CDS Hooks 2.0 service over real HTTP: discovery, signed calls (sandbox- and Epic-style JWTs),
prefetch (full, partial + fhirAuthorization against the sandbox EHR, missing, malformed, huge),
the card, background RaDaR, and the feedback round trip."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from launch.vllm_stub import create_stub
from tests.conftest import build_stack, session_id
from tests.fhir_data import prefetch_for
from tests.servers import serve

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "radar-patient-view"
SANDBOX_ISS = "https://sandbox.cds-hooks.example"


class Signer:
    """A CDS client: its keys served as a JWKS on loopback, and JWTs signed the way it would."""

    def __init__(self, iss: str, alg: str):
        self.iss, self.alg = iss, alg
        key = (RSAKey.generate_key(2048, private=True) if alg == "RS384" else ECKey.generate_key("P-384", private=True))
        self.kid = uuid.uuid4().hex
        self.key = key
        jwks = KeySet([RSAKey.import_key(key.as_dict(private=False)) if alg == "RS384"
                       else ECKey.import_key(key.as_dict(private=False))]).as_dict()
        jwks["keys"][0].update(kid=self.kid, alg=alg, use="sig")
        app = Flask("jwks")
        app.get("/jwks.json")(lambda: jwks)
        self.served = serve(app)
        self.jwks_url = f"{self.served.url}/jwks.json"

    def token(self, aud: str, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.iss, "aud": aud, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex,
                   **({"sub": "epic-client", "nbf": now - 300} if self.alg == "RS384" else {}), **claims}
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT", "jku": self.jwks_url}
        return jwt.encode(header, payload, self.key, algorithms=[self.alg])


@pytest.fixture(scope="module")
def cds(tmp_path_factory):
    sandbox_client = Signer(SANDBOX_ISS, "ES384")
    stub = serve(create_stub({"model": "sczzz/RaDaR-32B"}))
    holder = {}
    # Epic-style: iss = the organisation's FHIR base (the sandbox's epic tenant), RS384.
    epic_client = Signer("placeholder", "RS384")

    def clients(epic_iss):
        return json.dumps([{"iss": SANDBOX_ISS, "jwks_url": sandbox_client.jwks_url},
                           {"iss": epic_iss, "jwks_url": epic_client.jwks_url}])
    # The Epic client's iss is the sandbox's epic FHIR base, known once the ports are chosen.
    stack = build_stack(tmp_path_factory.mktemp("cds"), extra_env=lambda app_url, sandbox_url: {
        "RADAR_CDS_CLIENTS": clients(f"{sandbox_url}/epic/fhir"), "RADAR_URL": f"{stub.url}/v1",
        "RADAR_MODEL": "sczzz/RaDaR-32B"})
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


def hook_body(pid: str, **extra) -> dict:
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/123", "patientId": pid}, **extra}


def test_discovery(cds):
    doc = httpx.get(f"{cds['stack'].app_url}/cds-services").json()
    [service] = doc["services"]
    assert service["hook"] == "patient-view" and service["id"] == SERVICE and service["description"]
    assert {"patient", "conditions", "labs", "notes"} <= set(service["prefetch"])
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"


@pytest.mark.parametrize("signer", ["sandbox", "epic"])
def test_card_for_a_rare_disease_signal(cds, signer):
    resp = call(cds, hook_body("rd-001", prefetch=prefetch_for("rd-001")), signer=signer)
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    assert len(card["summary"]) <= 140 and card["summary"].startswith("Possible rare disease:")
    assert card["indicator"] in ("info", "warning")
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


def test_known_disease_not_suggested_again(cds):
    resp = call(cds, hook_body("rd-035", prefetch=prefetch_for("rd-035")))
    cards = resp.json()["cards"]
    assert all("Cleidocranial dysplasia" not in c["summary"] and "Cleidocranial dysplasia" not in c["detail"]
               for c in cards)


def test_missing_prefetch_without_authorization_is_412(cds):
    body = hook_body("rd-001", prefetch={k: v for k, v in prefetch_for("rd-001").items() if k != "labs"})
    resp = call(cds, body)
    assert resp.status_code == 412 and "labs" in resp.json()["error"]


def test_partial_prefetch_completed_from_the_fhir_server(cds):
    stack = cds["stack"]
    launched = stack.launch("epic", "rd-001")
    token = stack.store.get("session", session_id(launched))["access_token"]
    stack.control("DELETE", "requests")
    partial = {k: v for k, v in prefetch_for("rd-001", inline_notes=False).items() if k in ("patient", "notes")}
    body = hook_body("rd-001", prefetch=partial, fhirServer=stack.iss("epic"),
                     fhirAuthorization={"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": "radar"})
    resp = call(cds, body)
    assert resp.status_code == 200 and resp.json()["cards"]
    counts = json.dumps(stack.control("GET", "requests").json())
    assert "Observation" in counts and "Condition" in counts and "Binary" in counts


def test_bad_fhir_authorization_is_412(cds):
    stack = cds["stack"]
    body = hook_body("rd-001", prefetch={"patient": prefetch_for("rd-001")["patient"]}, fhirServer=stack.iss("epic"),
                     fhirAuthorization={"access_token": "not-a-token", "token_type": "Bearer"})
    assert call(cds, body).status_code == 412


@pytest.mark.parametrize("body, reason", [
    ({"hook": "order-sign"}, "hook must be patient-view"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {"userId": "Practitioner/1"}}, "context.patientId"),
    ({**hook_body("rd-001"), "prefetch": {**prefetch_for("rd-001"), "conditions": "oops"}}, "prefetch.conditions must be a Bundle"),
    ({**hook_body("rd-001"), "prefetch": {**prefetch_for("rd-001"), "patient": prefetch_for("rd-002")["patient"]}},
     "does not match"),
    ({**hook_body("rd-001"), "fhirAuthorization": {"access_token": "t"}}, "fhirServer is required"),
])
def test_malformed_requests_get_a_short_reason(cds, body, reason):
    resp = call(cds, body)
    assert resp.status_code == 400 and reason in resp.json()["error"]
    assert "Traceback" not in resp.text and "rd-0" not in resp.text


def test_null_prefetch_means_no_data(cds):
    body = hook_body("rd-001", prefetch={"patient": prefetch_for("rd-001")["patient"], "conditions": None,
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
    resp = call(cds, hook_body("rd-001", prefetch=prefetch_for("rd-001")), token=token)
    assert resp.status_code == 401 and resp.text == ""


def test_replayed_token_refused(cds):
    url = f"{cds['stack'].app_url}/cds-services/{SERVICE}"
    token = cds["sandbox"].token(url)
    body = hook_body("rd-001", prefetch=prefetch_for("rd-001"))
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
