"""Verification of the JWT a CDS Hooks client (the EHR) sends on every call.

CDS Hooks 2.0 has the client send ``Authorization: Bearer <JWT>`` on every call, discovery
and feedback included. This module checks that token against an allowlist of trusted clients
(``RADAR_CDS_CLIENTS``), each an ``iss`` plus its keys: the URL of its JWK Set (``jwks_url``) or
the set itself, pinned inline (``jwks``). The rules follow the spec, with SMART-style hardening added:

* header: ``alg`` must be RS384 or ES384 (no ``none``, no HMAC, no RS256). ``kid`` is required,
  ``typ`` if present must be JWT, and ``jku`` if present must be registered for that client
  exactly: its ``jwks_url`` or one of its ``jku`` values. With ``jwks_url`` a registered ``jku`` is
  the URL the keys are fetched from; with inline ``jwks`` it is only a label and nothing is
  fetched. A key URL is never taken from the token unless the client's registration lists it.
* ``iss``: read from the unverified payload only to pick the client; the key then comes from
  that client's registration, so a forged ``iss`` can only select keys its signer doesn't hold.
* claims: ``aud`` equals the endpoint URL (a string, or an array containing it). ``exp``,
  ``iat`` and ``jti`` are required, ``nbf`` is respected, and there is 60 s leeway. The
  lifetime ``exp - iat`` is capped at one hour: the spec doesn't set a cap, but Epic and the
  Sandbox use five minutes, and the cap bounds how long a replay record has to be kept.
* replay: each ``(iss, jti)`` is recorded with ``SET NX`` until the token expires (plus
  leeway). A second use is rejected.

JWK Sets are cached in Redis under one key per URL, honouring ``Cache-Control: max-age``
clamped to [60 s, 24 h] (1 h when absent), so every worker shares one fetch. When a ``kid``
is unknown the set is fetched again (the client rotated its keys), at most once a minute per
URL. Parsed key sets are also kept in process memory, keyed by URL and the SHA-256 of the cached
document, so the usual call costs one Redis GET, one signature check and one Redis SET.

Failures raise ``CdsAuthError``. The caller answers a bare 401, and the reason (an event name)
only goes to the log. The token itself is never logged.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Sequence

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry, extract_compact, validate_compact

from ..config.cds import CdsClient
from ..config.parse import normalize_iss

log = logging.getLogger("radar.cds_auth")

ALGORITHMS = ("RS384", "ES384")
LEEWAY = 60
MAX_LIFETIME = 3600
JWKS_TTL_DEFAULT = 3600
JWKS_TTL_MIN, JWKS_TTL_MAX = 60, 24 * 3600
REFETCH_INTERVAL = 60
FETCH_BACKOFF = 5
FETCH_TIMEOUT = httpx.Timeout(2.0)
MAX_JWKS_BYTES = 256 * 1024

_REGISTRY = JWSRegistry(algorithms=list(ALGORITHMS))
JWKS, JWKS_REFETCH, JWKS_FAILED, JTI = "cds-jwks", "cds-jwks-refetch", "cds-jwks-failed", "cds-jti"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class CdsAuthError(Exception):
    """The client JWT was rejected. The message is an event name for the log, not for the caller."""


def verify(token: str | None, *, audience: str, clients: Sequence[CdsClient], store, http: httpx.Client,
           now: float | None = None) -> dict:
    """Verify a CDS Hooks client JWT and return its claims.

    ``token`` is the Bearer value. ``audience`` is the exact URL of the endpoint that was
    called. ``clients`` are the trusted issuers, ``store`` the app's Redis ``Store``, and
    ``http`` the client used to fetch JWK Sets. Raises ``CdsAuthError`` on any failure.
    """
    iss = None
    try:
        header, claims, obj = _parse(token)
        iss = claims.get("iss")
        client = _client_for(iss, clients)
        _check_header(header, client)
        key = _key_for(client, header, store, http)
        try:
            valid = validate_compact(obj, key, registry=_REGISTRY)
        except (JoseError, ValueError, TypeError):
            raise CdsAuthError("key_unusable") from None
        if not valid:
            raise CdsAuthError("bad_signature")
        now = time.time() if now is None else now
        _check_claims(claims, audience, now)
        _remember_jti(store, client.iss, claims, now)
    except CdsAuthError as exc:
        # The iss is unverified input: repr() and a length cap keep it from forging log lines.
        log.warning("cds_auth_rejected reason=%s iss=%.200r", exc, iss if isinstance(iss, str) else None)
        raise
    return claims


# --- token structure -------------------------------------------------------------------------

def _parse(token: str | None):
    if not token or not isinstance(token, str):
        raise CdsAuthError("token_missing")
    if token.count(".") != 2:
        raise CdsAuthError("token_malformed")
    try:
        obj = extract_compact(token.encode("ascii"), registry=_REGISTRY)
        header = obj.headers()
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise CdsAuthError("token_malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise CdsAuthError("token_malformed")
    return header, claims, obj


def client_of(claims: dict, clients: Sequence[CdsClient]) -> CdsClient:
    """The registered client whose verified ``claims`` these are (``verify`` already found it)."""
    return _client_for(claims.get("iss"), clients)


def _client_for(iss, clients: Sequence[CdsClient]) -> CdsClient:
    if not isinstance(iss, str) or not iss.strip():
        raise CdsAuthError("iss_missing")
    wanted = normalize_iss(iss)
    for client in clients:
        if client.iss == wanted:
            return client
    raise CdsAuthError("iss_unknown")


def _check_header(header: dict, client: CdsClient) -> None:
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise CdsAuthError("alg_not_allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise CdsAuthError("kid_missing")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise CdsAuthError("typ_not_jwt")
    if "jku" in header and not any(header["jku"] == url for url in _registered_jku(client)):
        raise CdsAuthError("jku_not_registered")
    # A JWT never needs critical extensions or an unencoded payload (RFC 7797). Refusing both
    # keeps the signing input exactly what RFC 7519 defines.
    if "crit" in header or "b64" in header:
        raise CdsAuthError("header_unsupported")


# --- claims ----------------------------------------------------------------------------------

def _number(claims: dict, name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise CdsAuthError(f"{name}_missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CdsAuthError(f"{name}_invalid")
    return float(value)


def _check_claims(claims: dict, audience: str, now: float) -> None:
    aud = claims.get("aud")
    if isinstance(aud, str):
        audience_ok = aud == audience
    elif isinstance(aud, list):
        audience_ok = audience in aud
    else:
        raise CdsAuthError("aud_missing")
    if not audience_ok:
        raise CdsAuthError("aud_mismatch")
    exp = _number(claims, "exp", True)
    iat = _number(claims, "iat", True)
    nbf = _number(claims, "nbf", False)
    if exp < now - LEEWAY:
        raise CdsAuthError("expired")
    if iat > now + LEEWAY:
        raise CdsAuthError("iat_in_future")
    if nbf is not None and nbf > now + LEEWAY:
        raise CdsAuthError("not_yet_valid")
    if exp <= iat:
        raise CdsAuthError("exp_before_iat")
    if exp - iat > MAX_LIFETIME:
        raise CdsAuthError("lifetime_too_long")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise CdsAuthError("jti_missing")


def _remember_jti(store, iss: str, claims: dict, now: float) -> None:
    # Hashing bounds the key length whatever the client puts in jti. The record lives as long as
    # the token could still pass the exp check, which is never more than lifetime + 2 * leeway.
    digest = hashlib.sha256(f"{iss}\n{claims['jti']}".encode()).hexdigest()
    ttl = max(1, math.ceil(claims["exp"] + LEEWAY - now))
    if not store.set_once(JTI, digest, ttl):
        raise CdsAuthError("jti_replayed")


# --- keys ------------------------------------------------------------------------------------

class _ParsedSets:
    """Key sets parsed once per (URL, document hash), shared by all threads of a worker."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_url: dict[str, tuple[str, dict[str, object]]] = {}

    def get(self, url: str, text: str) -> dict[str, object]:
        digest = hashlib.sha256(text.encode()).hexdigest()
        hit = self._by_url.get(url)
        if hit is not None and hit[0] == digest:
            return hit[1]
        keys = _import_keys(text)
        with self._lock:
            self._by_url[url] = (digest, keys)
        return keys

    def clear(self) -> None:
        with self._lock:
            self._by_url.clear()


_parsed = _ParsedSets()


def _import_keys(text: str) -> dict[str, object]:
    """kid → public key for the signing keys of a JWKS document. Other keys are skipped."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWK Set")
    usable = []
    for jwk in doc["keys"]:
        # Only keys that can verify RS384/ES384 are imported. One unusual key (an encryption
        # key, an OKP key) must not make the client's whole set unusable.
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC") or not jwk.get("kid"):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
        usable.append(public)
    keys = KeySet.import_key_set({"keys": usable})
    return {key.kid: key for key in keys}


def _registered_jku(client: CdsClient) -> tuple[str, ...]:
    return ((client.jwks_url,) if client.jwks_url else ()) + client.jku


def _key_for(client: CdsClient, header: dict, store, http: httpx.Client):
    kid = header["kid"]
    if client.jwks is not None:
        # Pinned keys: nothing to fetch, so an unknown kid is simply unknown.
        return _checked(_keys(f"inline:{client.iss}", client.jwks).get(kid), header)
    # _check_header let a jku through only when it is registered for this client.
    url = header.get("jku") or client.jwks_url
    text = store.get_text(JWKS, url)
    fetched = False
    if text is None:
        # One fetch per worker when many hooks arrive at once on a cold cache; the others wait
        # and then read what it stored.
        with _fetch_lock(url):
            text = store.get_text(JWKS, url)
            if text is None:
                text = _fetch(url, store, http)
                fetched = True
    keys = _keys(url, text)
    key = keys.get(kid)
    # An unknown kid usually means the client rotated its keys. Fetch again, but at most once a
    # minute per URL across all workers, so tokens with made-up kids can't make us hammer the
    # client's key server.
    if key is None and not fetched and store.set_once(JWKS_REFETCH, url, REFETCH_INTERVAL):
        keys = _keys(url, _fetch(url, store, http))
        key = keys.get(kid)
    return _checked(key, header)


def _checked(key, header: dict):
    if key is None:
        raise CdsAuthError("kid_unknown")
    if key.alg is not None and key.alg != header["alg"]:
        raise CdsAuthError("key_alg_mismatch")
    return key


_fetch_locks: dict[str, threading.Lock] = {}
_fetch_locks_guard = threading.Lock()


def _fetch_lock(url: str) -> threading.Lock:
    with _fetch_locks_guard:
        return _fetch_locks.setdefault(url, threading.Lock())


def _keys(url: str, text: str) -> dict[str, object]:
    try:
        return _parsed.get(url, text)
    except (JoseError, ValueError, TypeError, KeyError):
        raise CdsAuthError("jwks_invalid") from None


def _fetch(url: str, store, http: httpx.Client) -> str:
    """GET the JWKS, check it parses, cache it in Redis for its max-age; return the text."""
    # After a failed fetch, callers fail fast for a few seconds instead of each waiting out the
    # timeout. That matters when 20 concurrent hooks hit a client whose key server is down.
    if store.exists(JWKS_FAILED, url):
        raise CdsAuthError("jwks_unavailable")
    try:
        resp = http.get(url, headers={"Accept": "application/json"}, timeout=FETCH_TIMEOUT)
        resp.raise_for_status()
        if len(resp.content) > MAX_JWKS_BYTES:
            raise ValueError("JWKS too large")
        text = resp.text
        _parsed.get(url, text)
    except (httpx.HTTPError, JoseError, ValueError, TypeError, KeyError) as exc:
        store.set_once(JWKS_FAILED, url, FETCH_BACKOFF)
        log.warning("cds_jwks_fetch_failed url=%s error=%s", url, type(exc).__name__)
        raise CdsAuthError("jwks_unavailable") from None
    store.set_text(JWKS, url, text, _max_age(resp.headers.get("cache-control")))
    return text


def _max_age(cache_control: str | None) -> int:
    match = _MAX_AGE.search(cache_control or "")
    if not match:
        return JWKS_TTL_DEFAULT
    return min(JWKS_TTL_MAX, max(JWKS_TTL_MIN, int(match.group(1))))
