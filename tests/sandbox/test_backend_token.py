"""SMART Backend Services on the sandbox: client_credentials with private_key_jwt, system scopes
per flavour (v2 on Epic-like, v1 on Cerner-like), refusals, and what a backend token may read."""
from __future__ import annotations

import secrets
import time

import httpx
import pytest
from joserfc.jwk import RSAKey

from dev.sandbox.settings import DEV_DIR, load_clients, parse_client

from . import backend_kit as kit
from .smart import authorize, fhir, launch, redirect_params


@pytest.fixture(scope="module")
def base(bundles, keys, jwks_server):
    """A sandbox of its own with the backend registrations."""
    served = kit.start(bundles, keys, f"{jwks_server.url}/jwks.json")
    yield served.url
    served.stop()


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_epic_token_with_v2_scopes(base, keys, alg):
    response = kit.token_response(base, "epic", keys[alg], alg)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == kit.V2
    assert "refresh_token" not in body and "patient" not in body and "id_token" not in body
    assert response.headers["cache-control"] == "no-store"


def test_epic_accepts_v1_spellings_as_far_as_registered(base, keys):
    body = kit.token_response(base, "epic", keys["RS384"], "RS384",
                              scope="system/Patient.read system/Binary.read").json()
    assert body["scope"] == "system/Patient.read system/Binary.r"


def test_cerner_grants_v1_and_refuses_v2(base, keys):
    body = kit.token_response(base, "cerner", keys["RS384"], "RS384", scope=kit.V1).json()
    assert body["scope"] == kit.V1 and body["expires_in"] == 300
    refused = kit.token_response(base, "cerner", keys["RS384"], "RS384", scope=kit.V2)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert "v1" in refused.json()["error_description"]


def test_registration_lifetime_overrides(base, keys):
    body = kit.token_response(base, "epic", keys["RS384"], "RS384", client_id="backend-short").json()
    assert body["expires_in"] == 120


def test_jwks_url_registration(base, keys):
    assert kit.token_response(base, "epic", keys["ES384"], "ES384", client_id="backend-url").status_code == 200


def test_unregistered_scope(base, keys):
    refused = kit.token_response(base, "epic", keys["RS384"], "RS384", client_id="backend-narrow",
                                 scope="system/Observation.rs patient/*.rs launch")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    partial = kit.token_response(base, "epic", keys["RS384"], "RS384", client_id="backend-narrow",
                                 scope="system/Patient.rs system/Observation.rs")
    assert partial.json()["scope"] == "system/Patient.rs"
    missing = kit.token_response(base, "epic", keys["RS384"], "RS384", scope=None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_scope"


def _refused(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    return response.json().get("error_description", "")


def test_bad_signature(base, keys):
    stranger = RSAKey.generate_key(2048, parameters={"kid": keys["RS384"].kid})
    assert "signature" in _refused(kit.token_response(base, "epic", stranger, "RS384"))


def test_wrong_audience(base, keys):
    _refused(kit.token_response(base, "epic", keys["RS384"], "RS384", aud=f"{base}/cerner/oauth2/token"))
    _refused(kit.token_response(base, "epic", keys["RS384"], "RS384", aud=f"{base}/epic/fhir"))


def test_replayed_jti(base, keys):
    jti = secrets.token_urlsafe(12)
    assert kit.token_response(base, "epic", keys["RS384"], "RS384", jti=jti).status_code == 200
    _refused(kit.token_response(base, "epic", keys["RS384"], "RS384", jti=jti))


def test_assertion_rules(base, keys):
    assert "5 minutes" in _refused(kit.token_response(base, "epic", keys["RS384"], "RS384",
                                                      exp=time.time() + 600))
    _refused(kit.token_response(base, "epic", keys["RS384"], "RS256"))
    _refused(kit.token_response(base, "epic", keys["RS384"], "RS384", kid="unknown-kid"))
    _refused(kit.token_response(base, "epic", keys["RS384"], "RS384", header={"jku": "https://elsewhere.example/jwks"}))
    _refused(kit.token_response(base, "epic", keys["RS384"], "RS384", client_id="nobody"))
    no_assertion = httpx.post(f"{base}/epic/oauth2/token", data={"grant_type": "client_credentials",
                                                                  "scope": kit.V2, "client_id": "backend"})
    assert no_assertion.status_code == 401 and no_assertion.json()["error"] == "invalid_client"


def test_grant_types_follow_the_registration(base, keys):
    code_client = kit.token_response(base, "epic", keys["RS384"], "RS384", client_id="code-jwt")
    assert code_client.status_code == 400 and code_client.json()["error"] == "unauthorized_client"
    # A backend registration may not run the authorization code flow, even with a redirect URI.
    assert redirect_params(authorize(base, "epic", "backend-short"))["error"] == "unauthorized_client"


def test_backend_token_reads_any_patient(base, keys):
    access = kit.token(base, "epic", keys["RS384"])
    for patient in kit.MEMBERS["all"]:
        assert fhir(base, "epic", access, f"Patient/{patient}").json()["id"] == patient
    labs = fhir(base, "epic", access, "Observation?patient=rd-001&category=laboratory").json()
    assert labs["total"] == 3
    binary = fhir(base, "epic", access, "Binary/rd-001-note1-html", headers={"Accept": "application/fhir+json"})
    assert binary.status_code == 200 and binary.json()["resourceType"] == "Binary"
    assert fhir(base, "epic", access, "Encounter/rd-001-enc1").status_code == 403  # not registered
    cerner = kit.token(base, "cerner", keys["RS384"], scope=kit.V1)
    assert fhir(base, "cerner", cerner, "Binary/rd-002-note1-html",
                headers={"Accept": "application/fhir+json"}).status_code == 200


def test_group_read(base, keys):
    access = kit.token(base, "epic", keys["RS384"])
    for gid, members in kit.MEMBERS.items():
        group = fhir(base, "epic", access, f"Group/{gid}").json()
        assert (group["resourceType"], group["type"], group["actual"]) == ("Group", "person", True)
        assert group["quantity"] == len(members)
        assert [m["entity"]["reference"] for m in group["member"]] == [f"Patient/{p}" for p in members]
        assert group["meta"]["lastUpdated"]
    assert fhir(base, "epic", access, "Group/nope").status_code == 404
    narrow = kit.token(base, "epic", keys["RS384"], client_id="backend-narrow", scope=kit.NARROW)
    assert fhir(base, "epic", narrow, "Group/all").status_code == 403


def test_patient_token_cannot_read_groups(base):
    patient = launch(base, "epic", {"client_id": "radar-public", "token_endpoint_auth_method": "none"},
                     scope="launch patient/*.rs", patient="rd-001")["access_token"]
    assert fhir(base, "epic", patient, "Patient/rd-001").status_code == 200
    assert fhir(base, "epic", patient, "Group/rare").status_code == 403


@pytest.mark.parametrize("tenant, system_scope, absent", [
    ("epic", "system/Patient.rs", None), ("cerner", "system/Patient.read", "system/Patient.rs")])
def test_discovery(base, tenant, system_scope, absent):
    config = httpx.get(f"{base}/{tenant}/fhir/.well-known/smart-configuration").json()
    assert "client_credentials" in config["grant_types_supported"]
    assert "client-confidential-asymmetric" in config["capabilities"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert system_scope in config["scopes_supported"]
    assert absent is None or absent not in config["scopes_supported"]
    metadata = httpx.get(f"{base}/{tenant}/fhir/metadata").json()
    operations = {r["type"]: r.get("operation", []) for r in metadata["rest"][0]["resource"]}
    assert operations["Group"][0]["name"] == "export" and operations["Patient"][0]["name"] == "export"


def test_repo_backend_registrations():
    backends = [c for c in load_clients(DEV_DIR / "clients.json") if c.client_id == "radar-backend"]
    assert {c.tenant: c.grant_types for c in backends} == {"epic": ("client_credentials",),
                                                            "cerner": ("client_credentials",)}
    scopes = {c.tenant: c.scope for c in backends}
    assert scopes == {"epic": kit.V2, "cerner": kit.V1}
    assert all(c.token_endpoint_auth_method == "private_key_jwt" and c.jwks_url for c in backends)


@pytest.mark.parametrize("raw, message", [
    ({"token_endpoint_auth_method": "client_secret_basic", "client_secret": "s",
      "grant_types": ["client_credentials"]}, "private_key_jwt"),
    ({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["password"], "jwks": {"keys": []}},
     "grant_types"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "RSA", "d": "x"}]}}, "private"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": ["not a set"]}, "JWK Set"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
])
def test_bad_backend_registrations(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_client({"client_id": "x", "tenant": "epic", **raw}, allow_secret=True)
