"""SMART Backend Services (App Launch 2.x): ``client_credentials`` with a private_key_jwt assertion.

A population export runs without a user or a patient context: the app signs in as itself with
the registry entry's ``backend_client_id`` and ``system/`` scopes. The access token lives only in
this object's memory. The store is Redis, and the embedded Redis saves itself to disk under the
data directory, so a token kept there would end up in a file; a five-minute token gains nothing
from outliving the process that asked for it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from joserfc.jwk import KeySet

from ..config import Ehr
from .client import SmartError, client_assertion, discover, normalize_token

RENEW_BEFORE = 60  # seconds before expiry a new token is asked for


class BackendAuth:
    """Access tokens for one EHR's Backend Services registration, renewed before they expire."""

    def __init__(self, http: httpx.Client, store, ehr: Ehr, keys: KeySet | None, *,
                 clock: Callable[[], float] = time.time):
        if not ehr.backend_client_id:
            raise SmartError(f"{ehr.name} has no backend_client_id in RADAR_EHRS: population export is off.")
        self.http, self.store, self.ehr, self.keys = http, store, ehr, keys
        self.granted_scope = ""
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def __repr__(self) -> str:
        return f"BackendAuth({self.ehr.iss!r}, client_id={self.ehr.backend_client_id!r})"

    def token(self) -> str:
        """A valid access token: the cached one, or a new one when it is within a minute of expiring."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch()
            return self._token

    def renew(self) -> str:
        """Forget the cached token and sign in again (after the EHR answered 401 to it)."""
        with self._lock:
            self._fetch()
            return self._token

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for a FHIR or Bulk request."""
        return {"Authorization": f"Bearer {self.token()}"}

    def _fetch(self) -> None:
        token_endpoint = discover(self.http, self.store, self.ehr).token_endpoint
        form = {"grant_type": "client_credentials", "scope": self.ehr.backend_scopes,
                **client_assertion(self.ehr, self.keys, token_endpoint, self.ehr.backend_client_id)}
        try:
            resp = self.http.post(token_endpoint, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SmartError("The EHR's sign-in service did not answer.", f"backend token: {type(exc).__name__}",
                             502) from None
        try:
            doc = resp.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's parser
            doc = None
        if resp.status_code != 200 or not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
            raise SmartError("The EHR refused the backend sign-in.", _refusal(resp.status_code, doc),
                             502 if resp.status_code >= 500 else 400)
        token = normalize_token(doc)
        lifetime = max(1, token["expires_in"])
        # A token shorter-lived than two minutes is renewed at half its life rather than used once.
        self._renew_at = self._clock() + lifetime - min(RENEW_BEFORE, lifetime / 2)
        self._token = token["access_token"]
        self.granted_scope = str(token.get("scope") or "")


def _refusal(status: int, doc) -> str:
    """What the token endpoint said, for an integration engineer: error code and a capped description."""
    doc = doc if isinstance(doc, dict) else {}
    error = doc.get("error") if isinstance(doc.get("error"), str) else ""
    why = doc.get("error_description")
    why = "".join(c for c in why if c.isprintable())[:300] if isinstance(why, str) else ""
    return f"backend token: HTTP {status} {error}".strip() + (f": {why}" if why else "")
