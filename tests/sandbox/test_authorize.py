"""Authorization server: EHR launch, PKCE, aud, launch values, codes and client authentication."""
from __future__ import annotations

import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .smart import REDIRECT, SCOPE, assertion, authorize, launch, mint_launch, pkce, redirect_params, start_sandbox, token_request


@pytest.mark.parametrize("name", ["epic-public", "epic-basic", "epic-post", "epic-rs384",
                                  "epic-es384", "cerner-basic", "cerner-public"])
def test_ehr_launch_with_each_client_auth_method(base, clients, name):
    client = clients[name]
    token = launch(base, client["tenant"], client)
    assert token["token_type"] == "Bearer"
    assert token["patient"] == "p1"
    assert token["encounter"] == "p1-enc2"
    assert token["smart_style_url"] == f"{base}/{client['tenant']}/style.json"
    assert set(token["scope"].split()) == set(SCOPE.split())
    assert "refresh_token" in token


def test_token_response_flavours(base, clients):
    epic = launch(base, "epic", clients["epic-public"])
    cerner = launch(base, "cerner", clients["cerner-public"])
    assert (epic["expires_in"], epic["need_patient_banner"]) == (3600, "false")
    assert (cerner["expires_in"], cerner["need_patient_banner"]) == (570, True)


def test_token_response_is_not_cached(base, clients):
    verifier, challenge = pkce()
    code = redirect_params(authorize(base, "epic", "radar-public", challenge=challenge))["code"]
    response = token_request(base, "epic", clients["epic-public"], {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_state_is_echoed_and_scope_trimmed_to_registration(base, clients):
    verifier, challenge = pkce()
    response = authorize(base, "cerner", "cerner-narrow", challenge=challenge,
                         scope="launch openid fhirUser patient/Patient.read patient/Observation.read")
    params = redirect_params(response)
    assert params["state"] == dict(httpx.URL(str(response.request.url)).params)["state"]
    token = token_request(base, "cerner", clients["cerner-narrow"], {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier}).json()
    assert token["scope"] == "launch openid fhirUser patient/Patient.read"
    assert "refresh_token" not in token


def test_id_token_verifies_and_names_the_user(base, clients):
    token = launch(base, "epic", clients["epic-basic"], extra={"nonce": "n-123"})
    config = httpx.get(f"{base}/epic/oauth2/.well-known/openid-configuration").json()
    keys = KeySet.import_key_set(httpx.get(config["jwks_uri"]).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["iss"] == config["issuer"] == f"{base}/epic/oauth2"
    assert claims["aud"] == "epic-basic"
    assert claims["fhirUser"] == f"{base}/epic/fhir/Practitioner/sandbox-practitioner"
    assert claims["nonce"] == "n-123"
    assert 0 < claims["exp"] - time.time() <= 300
    assert claims["sub"] and claims["iat"]


def test_pkce_plain_is_refused(base):
    verifier, _ = pkce()
    params = redirect_params(authorize(base, "epic", "radar-public", challenge=verifier, method="plain"))
    assert params["error"] == "invalid_request"


def test_pkce_missing_is_refused(base):
    params = redirect_params(authorize(base, "epic", "radar-public", challenge=None, method=None))
    assert params["error"] == "invalid_request"
    assert "state" in params


def test_wrong_verifier_is_invalid_grant(base, clients):
    _, challenge = pkce()
    code = redirect_params(authorize(base, "epic", "radar-public", challenge=challenge))["code"]
    other, _ = pkce()
    response = token_request(base, "epic", clients["epic-public"], {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": other})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize("aud", [None, "http://evil.example/fhir", "cerner"])
def test_aud_must_be_this_fhir_base(base, aud):
    _, challenge = pkce()
    if aud == "cerner":
        aud = f"{base}/cerner/fhir"
    params = redirect_params(authorize(base, "epic", "radar-public", challenge=challenge, aud=aud))
    assert params["error"] == "invalid_request"


def test_unregistered_redirect_uri_shows_an_error_page(base):
    _, challenge = pkce()
    response = authorize(base, "epic", "radar-public", challenge=challenge,
                         redirect_uri="http://evil.example/callback")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert 'data-error="invalid_request"' in response.text


def test_unknown_client_shows_an_error_page(base):
    _, challenge = pkce()
    response = authorize(base, "epic", "nobody", challenge=challenge)
    assert response.status_code == 400
    assert 'data-error="invalid_client"' in response.text


def test_launch_is_single_use(base):
    value = mint_launch(base, "epic")
    _, challenge = pkce()
    assert "code" in redirect_params(authorize(base, "epic", "radar-public", launch=value,
                                               challenge=challenge))
    again = redirect_params(authorize(base, "epic", "radar-public", launch=value, challenge=challenge))
    assert again["error"] == "invalid_request"


def test_launch_is_bound_to_its_tenant(base):
    value = mint_launch(base, "cerner")
    _, challenge = pkce()
    params = redirect_params(authorize(base, "epic", "radar-public", launch=value, challenge=challenge))
    assert params["error"] == "invalid_request"


def test_unknown_launch_is_refused(base):
    _, challenge = pkce()
    params = redirect_params(authorize(base, "epic", "radar-public", launch="made-up", challenge=challenge))
    assert params["error"] == "invalid_request"


def test_code_reuse_is_invalid_grant_and_revokes_its_tokens(base, clients):
    verifier, challenge = pkce()
    code = redirect_params(authorize(base, "epic", "radar-public", challenge=challenge))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}
    first = token_request(base, "epic", clients["epic-public"], form)
    assert first.status_code == 200
    second = token_request(base, "epic", clients["epic-public"], form)
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")
    patient = httpx.get(f"{base}/epic/fhir/Patient/p1",
                        headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert patient.status_code == 401


def test_code_is_bound_to_its_client(base, clients):
    verifier, challenge = pkce()
    code = redirect_params(authorize(base, "epic", "radar-public", challenge=challenge))["code"]
    response = token_request(base, "epic", clients["epic-basic"], {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    assert response.json()["error"] == "invalid_grant"


def test_expired_code_is_invalid_grant(bundles, clients):
    served = start_sandbox(bundles, clients, CODE_LIFETIME=0.2)
    try:
        verifier, challenge = pkce()
        code = redirect_params(authorize(served.url, "epic", "radar-public", challenge=challenge))["code"]
        time.sleep(0.4)
        response = token_request(served.url, "epic", clients["epic-public"], {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier})
        assert response.json()["error"] == "invalid_grant"
    finally:
        served.stop()


def _code(base, client_id="epic-jwt"):
    verifier, challenge = pkce()
    code = redirect_params(authorize(base, "epic", client_id, challenge=challenge))["code"]
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}


def test_jti_replay_is_invalid_client(base, clients):
    client = clients["epic-rs384"]
    assert token_request(base, "epic", client, _code(base), jti="once").status_code == 200
    response = token_request(base, "epic", client, _code(base), jti="once")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("bad", [
    {"kid": "unknown-kid"},
    {"header": {"jku": "http://evil.example/jwks.json"}},
    {"exp": time.time() + 3600},
    {"exp": time.time() - 120},
])
def test_bad_assertion_is_invalid_client(base, clients, bad):
    response = token_request(base, "epic", clients["epic-es384"], _code(base), **bad)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_assertion_with_wrong_audience_is_invalid_client(base, clients, keys):
    form = _code(base)
    form.update(client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                client_assertion=assertion(keys["RS384"], "RS384", "epic-jwt", f"{base}/cerner/oauth2/token"))
    response = httpx.post(f"{base}/epic/oauth2/token", data=form)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_rs256_assertion_is_refused(base, clients, keys):
    response = token_request(base, "epic", {**clients["epic-rs384"], "alg": "RS256"}, _code(base))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_wrong_secret_is_invalid_client(base, clients):
    for name in ("epic-basic", "epic-post"):
        client = {**clients[name], "client_secret": "wrong"}
        response = token_request(base, "epic", client, _code(base, client["client_id"]))
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_confidential_client_cannot_act_public(base, clients):
    client = {**clients["epic-basic"], "token_endpoint_auth_method": "none"}
    response = token_request(base, "epic", client, _code(base, "epic-basic"))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_standalone_launch_shows_a_patient_picker(base, clients):
    verifier, challenge = pkce()
    scope = "launch/patient openid fhirUser patient/*.rs"
    page = authorize(base, "cerner", "radar-public", launch=None, scope=scope, challenge=challenge)
    assert page.status_code == 200
    assert 'data-patient-id="p2"' in page.text
    link = page.text.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    params = redirect_params(httpx.get(link))
    token = token_request(base, "cerner", clients["cerner-public"], {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier}).json()
    assert token["patient"] == "p1"


def test_standalone_sandbox_patient_shortcut(base, clients):
    verifier, challenge = pkce()
    params = redirect_params(authorize(base, "epic", "radar-public", launch=None, challenge=challenge,
                                       scope="launch/patient launch/encounter patient/*.rs",
                                       extra={"sandbox_patient": "p2"}))
    token = token_request(base, "epic", clients["epic-public"], {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier}).json()
    assert (token["patient"], token["encounter"]) == ("p2", "p2-enc1")


def test_authorize_by_post(base, clients):
    verifier, challenge = pkce()
    form = {"response_type": "code", "client_id": "radar-public", "redirect_uri": REDIRECT,
            "scope": SCOPE, "state": "s" * 24, "aud": f"{base}/epic/fhir",
            "launch": mint_launch(base, "epic"), "code_challenge": challenge,
            "code_challenge_method": "S256"}
    params = redirect_params(httpx.post(f"{base}/epic/oauth2/authorize", data=form))
    assert params["state"] == "s" * 24 and params["code"]
