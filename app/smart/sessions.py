"""Launch sessions: one per EHR launch, kept server-side in Redis, addressed by an opaque id.

The browser only ever holds the session id (in the URL) and a binding cookie; tokens stay here.
Several launches in one browser (Epic opens one per patient tab) are separate sessions.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

import httpx

from ..config import Settings
from ..fetch.fhir import RelaunchRequired
from . import client as smart

REFRESH_MARGIN = 60  # refresh this many seconds before expiry


def new_session(store, settings: Settings, sid: str, *, ehr, token: dict, endpoints: smart.Endpoints,
                fhir_user: str | None, binding: str, cookies: bool = True) -> None:
    """Store the session ``sid`` made from a token response.

    ``cookies`` says whether the browser kept our cookies at the callback; a cookie-less session
    (only where the admin allows them) lives ``cookieless_ttl`` seconds at most.
    """
    session = {
        "iss": ehr.iss, "ehr": ehr.name, "patient": token.get("patient"), "encounter": token.get("encounter"),
        "fhir_user": fhir_user, "need_patient_banner": token["need_patient_banner"],
        "smart_style_url": token.get("smart_style_url"), "scope": token.get("scope", ""),
        "access_token": token["access_token"], "refresh_token": token.get("refresh_token"),
        "expires_at": token["expires_at"], "token_endpoint": endpoints.token_endpoint,
        "revocation_endpoint": endpoints.revocation_endpoint,
        "app_context": _app_context(token.get("appContext")),
        "binding": binding, "cookies": cookies, "csrf": secrets.token_urlsafe(32), "created": int(time.time()),
    }
    store.set("session", sid, session, settings.session_ttl if cookies else
              min(settings.session_ttl, settings.cookieless_ttl))


def _app_context(raw: object) -> dict:
    """The ``appContext`` a CDS card's SMART link passed through the EHR (JSON text), or {}."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and len(raw) < 4096:
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def load(store, sid: str, belongs: Callable[[dict], bool]) -> dict | None:
    """The session ``sid`` if it exists and ``belongs(session)`` (to the browser asking)."""
    if not sid or len(sid) > 128:
        return None
    session = store.get("session", sid)
    if session is None or not belongs(session):
        return None
    return session


# Everything kept per session that came from the patient's record: gone at sign-out.
SESSION_CASES = "session-cases"  # the RaDaR cases this session may see
SESSION_KINDS = ("profile", "narrative", "edits", SESSION_CASES)


def end(store, http: httpx.Client, settings: Settings, sid: str) -> None:
    """Sign out: revoke the tokens where the EHR offers revocation, forget them and every PHI-derived key."""
    session = store.get("session", sid)
    ehr = settings.ehr_for(session["iss"]) if session else None
    if session and ehr and session.get("revocation_endpoint"):
        for hint in ("refresh_token", "access_token"):
            if session.get(hint):
                smart.revoke(http, ehr, settings.keys, session["revocation_endpoint"], session[hint], hint)
    for kind in ("session", *SESSION_KINDS):
        store.delete(kind, sid)


class SessionTokens:
    """TokenSource for one session: refreshes ahead of expiry and after a 401, one refresh at a time."""

    def __init__(self, store, http: httpx.Client, settings: Settings, sid: str):
        self.store, self.http, self.settings, self.sid = store, http, settings, sid

    def get(self, rejected: str | None = None) -> str:
        """A usable access token; raises RelaunchRequired when none can be had."""
        session = self._session()
        if rejected is None and session["expires_at"] - time.time() > REFRESH_MARGIN:
            return session["access_token"]
        with self.store.lock(f"refresh:{self.sid}", timeout=30, blocking_timeout=30):
            session = self._session()
            if rejected is None and session["expires_at"] - time.time() > REFRESH_MARGIN:
                return session["access_token"]
            if rejected is not None and session["access_token"] != rejected:
                return session["access_token"]  # another request refreshed while we waited
            return self._refresh(session)

    def _session(self) -> dict:
        session = self.store.get("session", self.sid)
        if session is None:
            raise RelaunchRequired()
        return session

    def _refresh(self, session: dict) -> str:
        ehr = self.settings.ehr_for(session["iss"])
        if not session.get("refresh_token") or ehr is None:
            raise RelaunchRequired()
        try:
            token = smart.refresh(self.http, ehr, self.settings.keys, session["token_endpoint"],
                                  session["refresh_token"])
        except smart.SmartError:
            raise RelaunchRequired() from None
        session["access_token"] = token["access_token"]
        session["expires_at"] = token["expires_at"]
        # Oracle Health answers without a new refresh token: keep the one we have.
        if token.get("refresh_token"):
            session["refresh_token"] = token["refresh_token"]
        if not self.store.replace("session", self.sid, session):
            raise RelaunchRequired()
        return session["access_token"]
