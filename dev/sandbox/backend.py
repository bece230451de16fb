"""Asymmetric client authentication and SMART Backend Services for the tenants' authorization
servers: the ``private_key_jwt`` client assertion (RS384/ES384, checked against the client's
JWKS URL or inline JWKS) and the ``client_credentials`` grant that issues system-scope tokens
(no user, no patient, no refresh token)."""
from __future__ import annotations

import logging
import threading
import time

import httpx
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidScopeError, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .scopes import grant_system

log = logging.getLogger(__name__)

ASSERTION_ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = 300


class SmartClientAssertion(JWTBearerClientAssertion):
    """``private_key_jwt``: an RS384/ES384 assertion with a ``kid``, ``aud`` = the token URL,
    ``exp`` at most 5 minutes ahead and a ``jti`` never seen before, verified with the client's
    registered keys (JWKS URL, or an inline JWKS)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server):
        super().__init__(validate_jti=True, leeway=10)
        self.server = server

    def get_audiences(self):
        return [self.server.tenant.token_url]

    def validate_jti(self, claims, jti):
        return self.server.state.use_jti(claims["sub"], str(jti), float(claims["exp"]))

    def __call__(self, query_client, request):
        assertion = request.form.get("client_assertion")
        if request.form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None
        header, claims = self.extract_assertion(assertion)
        client = query_client(claims.get("sub")) if isinstance(claims.get("sub"), str) else None
        if client is None or not (client.reg.jwks_url or client.reg.jwks):
            raise InvalidClientError(description="Unknown client or no keys registered.")
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise InvalidClientError(description="Assertion 'alg' must be RS384 or ES384.")
        if not header.get("kid"):
            raise InvalidClientError(description="Assertion header has no 'kid'.")
        if "jku" in header and header["jku"] != client.reg.jwks_url:
            raise InvalidClientError(description="Assertion 'jku' is not the registered JWKS URL.")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp > time.time() + MAX_ASSERTION_LIFETIME + self.leeway:
            raise InvalidClientError(description="Assertion 'exp' must be at most 5 minutes ahead.")
        key_set = self.client_keys(client.reg, header["kid"])
        try:
            key = key_set.get_by_kid(header["kid"])
            token = jwt.decode(assertion, key, algorithms=ASSERTION_ALGORITHMS)
        except JoseError as error:
            raise InvalidClientError(description="Assertion signature does not verify.") from error
        request.client = client
        self.verify_claims(token.claims)
        return self.authenticate_client(client)

    def client_keys(self, reg, kid: str) -> KeySet:
        """The registration's public keys: its inline JWKS, or its JWKS URL (fetched again when
        the ``kid`` is unknown, as the client may have rotated its keys)."""
        if reg.jwks is not None:
            try:
                return KeySet.import_key_set(reg.jwks)
            except (ValueError, JoseError) as error:
                raise InvalidClientError(description="The registered JWKS is not usable.") from error
        key_set = self.fetch_jwks(reg.jwks_url)
        if kid not in {k.kid for k in key_set}:
            key_set = self.fetch_jwks(reg.jwks_url, fresh=True)
        return key_set

    _jwks_cache: dict[str, tuple[float, KeySet]] = {}
    _jwks_lock = threading.Lock()
    JWKS_CACHE_SECONDS = 300

    @classmethod
    def fetch_jwks(cls, url: str, fresh: bool = False) -> KeySet:
        """The client's JWKS, cached for a few minutes as EHRs do; an unknown kid fetches it again.

        Fetching on every token request made each launch wait on the app's JWKS endpoint, which
        under load timed out (5 s) and failed launches.
        """
        now = time.monotonic()
        with cls._jwks_lock:
            cached = cls._jwks_cache.get(url)
        if cached and not fresh and now - cached[0] < cls.JWKS_CACHE_SECONDS:
            return cached[1]
        try:
            response = httpx.get(url, timeout=5.0, headers={"Accept": "application/json"})
            response.raise_for_status()
            key_set = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as error:
            log.warning("cannot fetch JWKS %s: %s", url, error)
            raise InvalidClientError(description="Cannot fetch the client's JWKS.") from error
        with cls._jwks_lock:
            cls._jwks_cache[url] = (now, key_set)
        return key_set


class BackendGrant(grants.ClientCredentialsGrant):
    """SMART Backend Services: ``client_credentials`` authenticated by ``private_key_jwt`` only.
    The granted scope is the requested ``system/`` scopes as far as the registration covers them,
    in the flavour's spelling (v1 only for Cerner-like tenants); none covered → ``invalid_scope``."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]

    def validate_requested_scope(self):
        """Work out the granted scope now, so a refusal is a 400 before any token exists."""
        requested = self.request.payload.scope or ""
        v1_only = self.server.tenant.flavour.v1_system_scopes_only
        if not requested.strip():
            raise InvalidScopeError("A 'scope' of system/ scopes is required.")
        self.granted_scope = grant_system(requested, self.client.reg.scope, v1_only)
        if not self.granted_scope:
            hint = " This server uses SMART v1 scopes (system/<Type>.read)." if v1_only else ""
            raise InvalidScopeError("None of the requested scopes is registered for this client." + hint)

    def create_token_response(self):
        """Issue the token with the granted (not the requested) scope, never a refresh token."""
        token = self.generate_token(scope=self.granted_scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
