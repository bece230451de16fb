"""SMART client pieces with httpx.MockTransport: discovery fallback, token quirks, id_token checks."""
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from app.config import Ehr
from app.smart import client as smart
from app.store import connect

ISS = "https://ehr.example/fhir"
EHR = Ehr(name="t", iss=ISS, client_id="app", auth="none", scopes="launch openid fhirUser")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return connect(None, tmp_path_factory.mktemp("redis"))


def client(routes: dict, seen: list | None = None) -> httpx.Client:
    def handler(request):
        if seen is not None:
            seen.append(request.url.path)
        answer = routes.get(request.url.path)
        if answer is None:
            return httpx.Response(404, text="not found")
        return httpx.Response(200, json=answer) if isinstance(answer, dict) else answer
    return httpx.Client(transport=httpx.MockTransport(handler))


def fresh_ehr(n):
    return Ehr(name="t", iss=f"https://ehr{n}.example/fhir", client_id="app", auth="none", scopes="launch")


def test_well_known_with_relative_urls(store):
    ehr = fresh_ehr(1)
    http = client({"/fhir/.well-known/smart-configuration": {
        "authorization_endpoint": "../oauth2/authorize", "token_endpoint": "https://ehr1.example/oauth2/token",
        "code_challenge_methods_supported": ["S256"], "capabilities": ["launch-ehr"]}})
    ep = smart.discover(http, store, ehr)
    assert ep.authorization_endpoint == "https://ehr1.example/oauth2/authorize"
    assert ep.token_endpoint == "https://ehr1.example/oauth2/token"


def test_falls_back_to_metadata(store):
    ehr = fresh_ehr(2)
    oauth = {"url": smart.OAUTH_URIS, "extension": [{"url": "authorize", "valueUri": "https://auth.example/a"},
                                                    {"url": "token", "valueUri": "https://auth.example/t"}]}
    http = client({"/fhir/metadata": {"resourceType": "CapabilityStatement",
                                      "rest": [{"security": {"extension": [oauth]}}]}})
    ep = smart.discover(http, store, ehr)
    assert (ep.authorization_endpoint, ep.token_endpoint) == ("https://auth.example/a", "https://auth.example/t")


def test_no_discovery_at_all(store):
    with pytest.raises(smart.SmartError) as err:
        smart.discover(client({}), store, fresh_ehr(3))
    assert err.value.status == 502


def test_plain_only_pkce_refused(store):
    http = client({"/fhir/.well-known/smart-configuration": {
        "authorization_endpoint": "https://x/a", "token_endpoint": "https://x/t", "code_challenge_methods_supported": ["plain"]}})
    with pytest.raises(smart.SmartError, match="PKCE S256"):
        smart.discover(http, store, fresh_ehr(4))


def test_token_quirks_normalised():
    token = smart.normalize_token({"access_token": "a", "expires_in": "570", "need_patient_banner": "false"})
    assert token["expires_in"] == 570 and token["need_patient_banner"] is False
    assert abs(token["expires_at"] - time.time() - 570) < 5
    assert smart.normalize_token({"access_token": "a"})["need_patient_banner"] is True


def test_authorize_url_has_required_parameters():
    ep = smart.Endpoints(authorization_endpoint="https://x/a?tenant=1", token_endpoint="https://x/t")
    url = smart.authorize_url(ep, EHR, redirect_uri="https://app/callback", state="s", challenge="c", scope="launch",
                              launch="L")
    q = httpx.URL(url).params
    assert url.startswith("https://x/a?tenant=1&")
    assert q["aud"] == ISS and q["code_challenge_method"] == "S256" and q["launch"] == "L" and q["state"] == "s"


KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"}, private=True)
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"}, private=True)
JWKS = KeySet([KEY]).as_dict(private=False)


def id_token(key=KEY, **claims):
    now = int(time.time())
    payload = {"iss": "https://ehr.example/oauth2", "aud": "app", "sub": "u", "iat": now, "exp": now + 300,
               "fhirUser": "Practitioner/1", **claims}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, payload, key)


def verify(store, token, issuer="https://ehr.example/oauth2"):
    ep = smart.Endpoints(authorization_endpoint="a", token_endpoint="t", issuer=issuer,
                         jwks_uri=f"https://ehr.example/jwks-{issuer[-3:]}-{id(token)}")
    http = client({httpx.URL(ep.jwks_uri).path: JWKS})
    return smart.verify_id_token(http, store, ep, EHR, token)


def test_id_token_valid(store):
    assert verify(store, id_token())["fhirUser"] == "Practitioner/1"


@pytest.mark.parametrize("bad", [
    lambda: id_token(aud="someone-else"),
    lambda: id_token(iss="https://evil.example"),
    lambda: id_token(exp=int(time.time()) - 3600),
    lambda: id_token(key=OTHER),
])
def test_id_token_rejected(store, bad):
    with pytest.raises(smart.SmartError, match="could not be verified"):
        verify(store, bad())


def test_id_token_issuer_pinned_to_the_registered_ehr(store):
    """Without an issuer in discovery, the issuer is the registered iss, never the token's own claim."""
    ep = smart.Endpoints(authorization_endpoint="a", token_endpoint="t")
    pinned = httpx.URL(EHR.iss).path
    asked = []
    routes = {f"{pinned}/.well-known/openid-configuration": {"jwks_uri": f"{EHR.iss}/keys-x"}, f"{pinned}/keys-x": JWKS,
              "/oauth2/.well-known/openid-configuration": {"jwks_uri": "https://ehr.example/oauth2/keys-y"},
              "/oauth2/keys-y": JWKS}
    http = client(routes, seen=asked)
    assert smart.verify_id_token(http, store, ep, EHR, id_token(iss=EHR.iss))["sub"] == "u"
    # A token that names another issuer is refused, and that issuer's keys are never looked up.
    with pytest.raises(smart.SmartError, match="could not be verified"):
        smart.verify_id_token(http, store, ep, EHR, id_token(iss="https://ehr.example/oauth2"))
    assert not any("/oauth2/" in path for path in asked)


def test_id_token_after_key_rotation_refetches_jwks(store):
    """A cached JWKS without the token's kid is fetched again once (the EHR rotated its keys)."""
    ep = smart.Endpoints(authorization_endpoint="a", token_endpoint="t", issuer="https://ehr.example/oauth2",
                         jwks_uri="https://ehr.example/rotating-jwks")
    old = RSAKey.generate_key(2048, parameters={"kid": "old", "alg": "RS256"}, private=True)
    store.set("jwks", ep.jwks_uri, KeySet([old]).as_dict(private=False), 3600)
    http = client({"/rotating-jwks": JWKS})
    assert smart.verify_id_token(http, store, ep, EHR, id_token())["sub"] == "u"


def test_revocation_sends_the_token_with_client_auth():
    sent = []

    def handler(request):
        sent.append((request.url.path, request.content.decode()))
        return httpx.Response(200)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    assert smart.revoke(http, EHR, None, "https://ehr.example/oauth2/revoke", "rt-1")
    [(path, body)] = sent
    assert path == "/oauth2/revoke" and "token=rt-1" in body and "token_type_hint=refresh_token" in body
    assert "client_id=app" in body


def test_token_error_description_reaches_the_detail():
    def handler(request):
        return httpx.Response(401, json={"error": "invalid_client",
                                         "error_description": "Invalid client_secret in the basic auth header\n"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(smart.SmartError) as err:
        smart.exchange_code(http, EHR, None, "https://ehr.example/token", code="c", verifier="v", redirect_uri="r")
    assert err.value.detail == "token: HTTP 401 invalid_client: Invalid client_secret in the basic auth header"


NESTED = "[" * 100_000 + "]" * 100_000


def test_answers_nested_past_the_json_parser_are_unreadable_not_a_crash(store):
    """A hostile EHR's discovery or token answer nested 100,000 deep is a SmartError, never a RecursionError."""
    nested = httpx.Response(200, text=NESTED, headers={"Content-Type": "application/json"})
    http = client({"/fhir/.well-known/smart-configuration": nested, "/fhir/metadata": nested, "/token": nested})
    with pytest.raises(smart.SmartError) as err:
        smart.discover(http, store, fresh_ehr(5))
    assert err.value.status == 502
    with pytest.raises(smart.SmartError, match="refused to sign this app in"):
        smart._token_request(http, fresh_ehr(6), None, "https://ehr6.example/token", "grant_type=x")
