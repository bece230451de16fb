"""SMART App Launch 2.x client: discovery, authorize request, token exchange, refresh, id_token.

Built from authlib's OAuth 2.0 parts (PKCE challenge, client-assertion signing, token request
encoding) over our own httpx client, so timeouts and transports are ours to set.
"""
from __future__ import annotations

import base64
import secrets
import time
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlencode, urljoin

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from ..config import Ehr
from ..errors import SignInError
from .keys import signing_key

DISCOVERY_TTL = 3600
JWKS_TTL = 3600
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


class SmartError(SignInError):
    """A launch step failed; ``message`` is safe to show to the clinician."""


@dataclass(frozen=True)
class Endpoints:
    """What discovery tells about an EHR's authorization server."""

    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    jwks_uri: str | None = None
    capabilities: tuple[str, ...] = ()
    code_challenge_methods: tuple[str, ...] = ()
    revocation_endpoint: str | None = None


def discover(http: httpx.Client, store, ehr: Ehr) -> Endpoints:
    """Read ``{iss}/.well-known/smart-configuration`` (fallback: ``/metadata``), cached per iss."""
    cached = store.get("smart-config", ehr.iss)
    if cached:
        return Endpoints(**{k: tuple(v) if isinstance(v, list) else v for k, v in cached.items()})
    try:
        endpoints = _from_well_known(http, ehr.iss)
    except (httpx.HTTPError, ValueError, KeyError, TypeError, RecursionError):  # Recursion: JSON nested too deep
        try:
            endpoints = _from_metadata(http, ehr)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise SmartError("The EHR's sign-in service could not be found.", f"discovery: {type(exc).__name__}",
                              502) from None
    if endpoints.code_challenge_methods and "S256" not in endpoints.code_challenge_methods:
        raise SmartError("The EHR does not support PKCE S256, which this app requires.")
    store.set("smart-config", ehr.iss, asdict(endpoints), DISCOVERY_TTL)
    return endpoints


def _from_well_known(http: httpx.Client, iss: str) -> Endpoints:
    resp = http.get(f"{iss}/.well-known/smart-configuration", headers={"Accept": "application/json"})
    resp.raise_for_status()
    doc = resp.json()
    base = iss + "/"
    return Endpoints(
        authorization_endpoint=urljoin(base, doc["authorization_endpoint"]),
        token_endpoint=urljoin(base, doc["token_endpoint"]),
        issuer=doc.get("issuer"),
        jwks_uri=urljoin(base, doc["jwks_uri"]) if doc.get("jwks_uri") else None,
        capabilities=tuple(doc.get("capabilities") or ()),
        code_challenge_methods=tuple(doc.get("code_challenge_methods_supported") or ()),
        revocation_endpoint=urljoin(base, doc["revocation_endpoint"]) if doc.get("revocation_endpoint") else None,
    )


def _from_metadata(http: httpx.Client, ehr: Ehr) -> Endpoints:
    # Epic lets an organisation override endpoints per client, keyed by this header.
    resp = http.get(f"{ehr.iss}/metadata", headers={"Accept": "application/fhir+json",
                                                     "Epic-Client-ID": ehr.client_id})
    resp.raise_for_status()
    uris = {}
    for rest in resp.json().get("rest", []):
        for ext in rest.get("security", {}).get("extension", []):
            if ext.get("url") == OAUTH_URIS:
                uris = {e["url"]: e.get("valueUri") for e in ext.get("extension", [])}
    base = ehr.iss + "/"
    return Endpoints(authorization_endpoint=urljoin(base, uris["authorize"]), token_endpoint=urljoin(base, uris["token"]))


def new_pkce() -> tuple[str, str]:
    """A fresh PKCE (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(64)
    return verifier, create_s256_code_challenge(verifier)


def authorize_url(endpoints: Endpoints, ehr: Ehr, *, redirect_uri: str, state: str, challenge: str,
                  scope: str, launch: str | None = None) -> str:
    """The authorize request URL (``aud`` = iss, PKCE S256, ``launch`` for an EHR launch)."""
    params = {"response_type": "code", "client_id": ehr.client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": state, "aud": ehr.iss, "code_challenge": challenge,
              "code_challenge_method": "S256"}
    if launch is not None:
        params["launch"] = launch
    sep = "&" if "?" in endpoints.authorization_endpoint else "?"
    return f"{endpoints.authorization_endpoint}{sep}{urlencode(params)}"


def exchange_code(http: httpx.Client, ehr: Ehr, keys: KeySet | None, token_endpoint: str, *, code: str,
                  verifier: str, redirect_uri: str) -> dict:
    """Redeem an authorization code; returns the normalised token response."""
    body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri,
                                 code_verifier=verifier)
    return _token_request(http, ehr, keys, token_endpoint, body)


def refresh(http: httpx.Client, ehr: Ehr, keys: KeySet | None, token_endpoint: str, refresh_token: str) -> dict:
    """Use a refresh token; the response may omit a new refresh token (Oracle Health)."""
    body = prepare_token_request("refresh_token", refresh_token=refresh_token)
    return _token_request(http, ehr, keys, token_endpoint, body)


def revoke(http: httpx.Client, ehr: Ehr, keys: KeySet | None, revocation_endpoint: str, token: str,
           hint: str = "refresh_token") -> bool:
    """Ask the EHR to revoke ``token`` (RFC 7009), authenticated as at the token endpoint; True when it agreed.

    Revocation is best effort: sign-out forgets the tokens here whatever the EHR answers.
    """
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    body = _authenticate(ehr, keys, revocation_endpoint, headers, urlencode({"token": token, "token_type_hint": hint}))
    try:
        return http.post(revocation_endpoint, content=body, headers=headers, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def _token_request(http: httpx.Client, ehr: Ehr, keys: KeySet | None, token_endpoint: str, body: str) -> dict:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    body = _authenticate(ehr, keys, token_endpoint, headers, body)
    try:
        resp = http.post(token_endpoint, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SmartError("The EHR's sign-in service did not answer.", f"token: {type(exc).__name__}", 502) from None
    try:
        doc = resp.json()
    except (ValueError, RecursionError):
        doc = {}
    if resp.status_code != 200 or "access_token" not in doc:
        error = doc.get("error") if isinstance(doc, dict) else None
        # The EHR's own explanation ("Invalid client_secret in the basic auth header") is what an
        # integration engineer needs; it names the client, never the patient. Printable and capped.
        why = doc.get("error_description") if isinstance(doc, dict) else None
        why = "".join(c for c in why if c.isprintable())[:300] if isinstance(why, str) else ""
        detail = f"token: HTTP {resp.status_code} {error or ''}".strip() + (f": {why}" if why else "")
        raise SmartError("The EHR refused to sign this app in.", detail)
    return normalize_token(doc)


def _authenticate(ehr: Ehr, keys: KeySet | None, token_endpoint: str, headers: dict, body: str) -> str:
    if ehr.auth == "client_secret_basic":
        # RFC 6749 §2.3.1: form-encode id and secret before Basic encoding (Epic requires it).
        pair = f"{quote(ehr.client_id, safe='')}:{quote(ehr.client_secret or '', safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return body
    if ehr.auth == "client_secret_post":
        return body + "&" + urlencode({"client_id": ehr.client_id, "client_secret": ehr.client_secret})
    if ehr.auth == "private_key_jwt":
        return body + "&" + urlencode(client_assertion(ehr, keys, token_endpoint, ehr.client_id))
    return body + "&" + urlencode({"client_id": ehr.client_id})


def client_assertion(ehr: Ehr, keys: KeySet | None, token_endpoint: str, client_id: str) -> dict:
    """The private_key_jwt form fields for ``client_id`` (signed with the entry's ``signing_alg``, aud = token URL)."""
    key = signing_key(keys, ehr.signing_alg)
    assertion = private_key_jwt_sign(key, client_id, token_endpoint, alg=ehr.signing_alg,
                                     header={"kid": key.kid, "typ": "JWT"}, expires_in=300)
    return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}


def normalize_token(doc: dict) -> dict:
    """Coerce vendor quirks: string ``expires_in``, string ``need_patient_banner``; add ``expires_at``."""
    token = dict(doc)
    try:
        expires_in = int(float(token.get("expires_in", 3600)))
    except (TypeError, ValueError):
        expires_in = 3600
    token["expires_in"] = expires_in
    token["expires_at"] = int(time.time()) + expires_in
    banner = token.get("need_patient_banner", True)
    if isinstance(banner, str):
        banner = banner.strip().lower() != "false"
    token["need_patient_banner"] = bool(banner)
    return token


def verify_id_token(http: httpx.Client, store, endpoints: Endpoints, ehr: Ehr, id_token: str) -> dict:
    """Verify the id_token's signature, ``iss``, ``aud`` and ``exp``; return its claims."""
    # The issuer is pinned to the registered EHR (its discovery document, else its iss), never
    # taken from the token: a token naming another issuer would otherwise pick its own keys.
    issuer = endpoints.issuer or ehr.iss
    try:
        jwks_uri = endpoints.jwks_uri or _openid_jwks_uri(http, issuer)
        kid = extract_compact(id_token.encode()).headers().get("kid")
        document = _jwks(http, store, jwks_uri)
        if kid and kid not in {k.get("kid") for k in document.get("keys", [])}:
            document = _jwks(http, store, jwks_uri, refresh=True)  # the EHR rotated its keys
        token = jwt.decode(id_token, KeySet.import_key_set(document), algorithms=["RS256", "RS384", "ES384"])
        rules = {"iss": {"essential": True, "value": issuer},
                 "aud": {"essential": True, "value": ehr.client_id},
                 "exp": {"essential": True}}
        jwt.JWTClaimsRegistry(leeway=60, **rules).validate(token.claims)
    except (JoseError, httpx.HTTPError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise SmartError("The EHR's identity token could not be verified.", f"id_token: {type(exc).__name__}") from None
    return token.claims


def _openid_jwks_uri(http: httpx.Client, issuer: str) -> str:
    resp = http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", headers={"Accept": "application/json"})
    resp.raise_for_status()
    return resp.json()["jwks_uri"]


def _jwks(http: httpx.Client, store, uri: str, refresh: bool = False) -> dict:
    cached = None if refresh else store.get("jwks", uri)
    if cached:
        return cached
    resp = http.get(uri, headers={"Accept": "application/json"})
    resp.raise_for_status()
    doc = resp.json()
    store.set("jwks", uri, doc, JWKS_TTL)
    return doc
