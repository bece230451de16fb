"""The SMART App Launch flow: validate the launch, send the browser to authorize, redeem the code.

Kept apart from the views so each view is parse → one call → render. A step that fails raises
``LaunchFailed`` with the page to show; nothing here renders or logs PHI.
"""
from __future__ import annotations

import logging
import secrets
from urllib.parse import urljoin

from flask import redirect, request, url_for

from .. import services
from ..fetch.fhir import valid_id
from . import binding, sessions
from . import client as smart

log = logging.getLogger("radar.launch")
STATE_TTL = 600
OAUTH_ERRORS = {"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
                "invalid_scope", "server_error", "temporarily_unavailable"}


class LaunchFailed(Exception):
    """A launch step failed: the title, text and status of the page that says so."""

    def __init__(self, title: str, text: str, status: int = 400, *, detail: str | None = None,
                 link: str | None = None):
        super().__init__(title)
        self.title, self.text, self.status, self.detail, self.link = title, text, status, detail, link


def begin(iss: str, launch: str | None):
    """Validate ``iss`` against the registry, then redirect the browser to the EHR's authorize endpoint."""
    ctx = services.current()
    ehr = ctx.settings.ehr_for(iss)
    if ehr is None:
        log.warning("launch refused: unregistered iss")
        raise LaunchFailed("This EHR is not registered",
                           "RaDaR was opened by a system it does not know, so it did not sign in. "
                           "Ask your administrator to register this EHR.", detail=f"iss: {iss}")
    try:
        endpoints = smart.discover(ctx.http, ctx.store, ehr)
    except smart.SmartError as exc:
        log.warning("launch failed: %s", exc.detail)
        raise LaunchFailed("Cannot reach the EHR", exc.message, exc.status) from None
    verifier, challenge = smart.new_pkce()
    state = secrets.token_urlsafe(32)
    scope = ehr.scopes if launch is not None else ehr.scope_for_standalone
    response = redirect(smart.authorize_url(endpoints, ehr, redirect_uri=redirect_uri(ehr), state=state,
                                            challenge=challenge, scope=scope, launch=launch))
    nonce = binding.bind(response, "s", state, path="/callback", max_age=STATE_TTL)
    ctx.store.set("state", state, {"iss": ehr.iss, "launch": launch, "verifier": verifier, "nonce": nonce,
                                   "redirect_uri": redirect_uri(ehr)}, STATE_TTL)
    return response


def finish(args) -> object:
    """The OAuth redirect: check ``state`` (single use, this browser), redeem the code, open the chart."""
    ctx = services.current()
    state = args.get("state", "")
    pending = _pending(state)
    _refuse_authorize_error(args)
    ehr = ctx.settings.ehr_for(pending["iss"])
    code = args.get("code", "")
    if ehr is None or not code:
        raise LaunchFailed("Sign-in failed", "The EHR's answer had no authorization code. Relaunch RaDaR from the EHR.")
    try:
        endpoints = smart.discover(ctx.http, ctx.store, ehr)
        token = smart.exchange_code(ctx.http, ehr, ctx.settings.keys, endpoints.token_endpoint, code=code,
                                    verifier=pending["verifier"], redirect_uri=pending["redirect_uri"])
        fhir_user = _fhir_user(ctx, endpoints, ehr, token)
    except smart.SmartError as exc:
        log.warning("token exchange failed: %s", exc.detail)
        raise LaunchFailed("Sign-in failed", exc.message + " Relaunch RaDaR from the EHR.", exc.status) from None
    if not token.get("patient"):
        raise LaunchFailed("No patient in context", "The EHR did not say which patient is open, so RaDaR has "
                           "nothing to show. Open a patient's chart and launch RaDaR from there.")
    if not valid_id(token["patient"]):
        log.warning("launch refused: the token's patient is not a FHIR id")
        raise LaunchFailed("Sign-in failed", "The EHR named the patient in a form RaDaR cannot use. "
                           "Relaunch RaDaR from the EHR.")
    sid = secrets.token_urlsafe(32)
    response = redirect(url_for("chart.chart", sid=sid))
    nonce = binding.bind(response, "c", sid, path=f"/s/{sid}/", max_age=ctx.settings.session_ttl)
    sessions.new_session(ctx.store, ctx.settings, sid, ehr=ehr, token=token, endpoints=endpoints,
                         fhir_user=fhir_user, binding=nonce, cookies=pending["cookies"])
    log.info("launch complete: ehr=%s auth=%s mode=%s", ehr.name, ehr.auth,
             "ehr" if pending.get("launch") is not None else "standalone")
    return binding.forget(response, "s", state, path="/callback")


def _pending(state: str) -> dict:
    """The launch this callback belongs to (single use), started in this browser.

    Whether the browser kept the launch cookie is remembered as ``cookies``: a browser that kept
    none gets a session only where the admin allows cookie-less sessions (login CSRF otherwise:
    anyone's callback URL would sign a fresh browser in).
    """
    if not state:
        raise LaunchFailed("Sign-in failed", "The EHR's answer had no state value. Relaunch RaDaR from the EHR.")
    pending = services.current().store.pop("state", state) if len(state) <= 256 else None
    if pending is None:
        raise LaunchFailed("Sign-in expired", "This sign-in was already used or has expired. Relaunch RaDaR from the EHR.")
    pending["cookies"] = binding.sent("s", state)
    if (pending["cookies"] and not binding.matches("s", state, pending.get("nonce"))) or \
            (not pending["cookies"] and binding.keeps_cookies()):
        log.warning("callback refused: state bound to another browser")
        raise LaunchFailed("Sign-in failed", "This sign-in was started in another browser. Relaunch RaDaR from the EHR.")
    if not pending["cookies"] and not services.current().settings.cookieless_sessions:
        log.warning("callback refused: the browser kept no cookie")
        raise LaunchFailed("Cookies are blocked", "This browser did not keep RaDaR's sign-in cookie, so the "
                           "sign-in cannot be tied to it. Allow cookies for RaDaR in the EHR's browser, or ask "
                           "your administrator to allow cookie-less sessions.")
    return pending


def _refuse_authorize_error(args) -> None:
    error = args.get("error")
    if not error:
        return
    code = error if error in OAUTH_ERRORS else "error"
    log.info("authorize error: %s", code)
    # error_uri comes from the URL, which anyone can craft: it is never rendered as a link.
    raise LaunchFailed("The EHR did not sign RaDaR in", f"The EHR answered: {code}.",
                       detail=args.get("error_description"))


def _fhir_user(ctx, endpoints, ehr, token: dict) -> str | None:
    if not token.get("id_token"):
        return None
    claims = smart.verify_id_token(ctx.http, ctx.store, endpoints, ehr, token["id_token"])
    fhir_user = claims.get("fhirUser") or claims.get("profile")
    return urljoin(ehr.iss + "/", fhir_user) if fhir_user else None


def redirect_uri(ehr) -> str:
    """The redirect URI registered for ``ehr``: explicit, else this app's public URL + /callback."""
    if ehr.redirect_uri:
        return ehr.redirect_uri
    base = services.current().settings.public_url or request.host_url.rstrip("/")
    return f"{base}/callback"
