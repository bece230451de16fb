"""Test helpers: a whole SMART launch against the sandbox over real HTTP, and client auth."""
from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt

from dev.sandbox import create_sandbox
from tests.servers import Served, free_port, serve

REDIRECT = "http://127.0.0.1:8000/callback"
SCOPE = ("launch openid fhirUser offline_access patient/Patient.r patient/Condition.rs "
         "patient/Observation.rs patient/DocumentReference.rs patient/DiagnosticReport.rs "
         "patient/Binary.r patient/Encounter.r user/Practitioner.r")
SECRET = "sandbox-test-secret"
FULL_SCOPE = ("launch launch/patient launch/encounter openid fhirUser online_access offline_access "
              "patient/*.read patient/*.rs patient/Patient.r patient/Condition.rs patient/Observation.rs "
              "patient/DocumentReference.rs patient/DiagnosticReport.rs patient/Binary.r "
              "patient/Encounter.r user/Practitioner.r user/*.rs patient/Observation.read "
              "patient/Condition.read patient/Patient.read")


def pkce() -> tuple[str, str]:
    """A (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def mint_launch(base: str, tenant: str, patient: str = "p1") -> str:
    """Ask the control API for a launch value."""
    response = httpx.post(f"{base}/_sandbox/launch", json={"tenant": tenant, "patient": patient})
    response.raise_for_status()
    return response.json()["launch"]


def authorize(base: str, tenant: str, client_id: str, *, scope: str = SCOPE, launch: str | None = "mint",
              patient: str = "p1", challenge: str | None = None, method: str | None = "S256",
              aud: str | None = "default", redirect_uri: str = REDIRECT, extra: dict | None = None
              ) -> httpx.Response:
    """Send an authorization request and return the (unfollowed) response."""
    if launch == "mint":
        launch = mint_launch(base, tenant, patient)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": secrets.token_urlsafe(16),
              "aud": f"{base}/{tenant}/fhir" if aud == "default" else aud}
    if launch:
        params["launch"] = launch
    if challenge:
        params["code_challenge"] = challenge
    if method:
        params["code_challenge_method"] = method
    params = {k: v for k, v in {**params, **(extra or {})}.items() if v is not None}
    return httpx.get(f"{base}/{tenant}/oauth2/authorize", params=params)


def redirect_params(response: httpx.Response) -> dict:
    """The query parameters of an authorize redirect."""
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def assertion(key, alg: str, client_id: str, token_url: str, *, kid: str | None = None,
              jti: str | None = None, exp: float | None = None, header: dict | None = None) -> str:
    """A private_key_jwt client assertion."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_url,
              "jti": jti or secrets.token_urlsafe(12), "exp": int(exp or now + 240), "iat": now}
    head = {"alg": alg, "typ": "JWT", "kid": kid or key.kid, **(header or {})}
    return jwt.encode(head, claims, key, algorithms=[alg])


def token_request(base: str, tenant: str, client: dict, form: dict, **assertion_kw) -> httpx.Response:
    """POST to the token endpoint, authenticating as ``client`` (see conftest's clients)."""
    url = f"{base}/{tenant}/oauth2/token"
    form = dict(form)
    auth = None
    method = client["token_endpoint_auth_method"]
    if method == "none":
        form["client_id"] = client["client_id"]
    elif method == "client_secret_basic":
        auth = (client["client_id"], client["client_secret"])
    elif method == "client_secret_post":
        form.update(client_id=client["client_id"], client_secret=client["client_secret"])
    else:
        form.update(client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    client_assertion=assertion(client["key"], client["alg"], client["client_id"], url,
                                               **assertion_kw))
    return httpx.post(url, data=form, auth=auth)


def launch(base: str, tenant: str, client: dict, *, scope: str = SCOPE, patient: str = "p1",
           extra: dict | None = None) -> dict:
    """A whole EHR launch: mint, authorize, exchange the code; return the token response."""
    verifier, challenge = pkce()
    params = redirect_params(authorize(base, tenant, client["client_id"], scope=scope, patient=patient,
                                       challenge=challenge, extra=extra))
    response = token_request(base, tenant, client, {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    assert response.status_code == 200, response.text
    return response.json()


def fhir(base: str, tenant: str, token: str, path: str, **kw) -> httpx.Response:
    """GET a FHIR path of one tenant with a bearer token."""
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return httpx.get(f"{base}/{tenant}/fhir/{path}", headers=headers, **kw)


def registration(client_id: str, tenant: str, method: str, **extra) -> dict:
    """A client registration with the sandbox (every scope, both redirect URIs) plus ``extra``."""
    return {"client_id": client_id, "tenant": tenant, "token_endpoint_auth_method": method,
            "redirect_uris": [REDIRECT, "http://localhost:8000/callback"], "scope": FULL_SCOPE, **extra}


def registrations(clients: dict) -> list[dict]:
    """The registrations to hand to ``create_sandbox`` (one per client id and tenant)."""
    keep = ("client_id", "tenant", "token_endpoint_auth_method", "redirect_uris", "scope",
            "client_secret", "jwks_url")
    seen, regs = set(), []
    for client in clients.values():
        if (client["client_id"], client["tenant"]) not in seen:
            seen.add((client["client_id"], client["tenant"]))
            regs.append({k: client[k] for k in keep if k in client})
    return regs


def start_sandbox(bundles, clients, *, sleep=time.sleep, **config) -> Served:
    """Serve a fresh sandbox whose BASE_URL is its real address (``sleep``: how it waits out its latency)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_sandbox({"BASE_URL": base, "PATIENTS": None, "BUNDLES": bundles,
                          "CLIENTS": registrations(clients), **config}, sleep=sleep)
    return serve(app, port)
