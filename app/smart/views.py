"""SMART launch views: EHR launch, standalone launch, the OAuth callback and the app's JWKS."""
from __future__ import annotations

import logging
import secrets
from urllib.parse import urljoin

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from . import binding, sessions, client as smart
from .keys import public_jwks

bp = Blueprint("launch", __name__)
log = logging.getLogger("radar.launch")
STATE_TTL = 600
MAX_ISS = 2048
MAX_LAUNCH = 8192  # Epic's launch values are JWTs of a few kB
OAUTH_ERRORS = {"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
                "invalid_scope", "server_error", "temporarily_unavailable"}


def _ext(name: str):
    return current_app.extensions[f"radar.{name}"]


def message(title: str, text: str, status: int, *, detail: str | None = None, link: str | None = None,
            standalone: str | None = None):
    """A plain page that explains what happened and what to do (no redirect anywhere)."""
    return render_template("message.html", title=title, text=text, detail=detail, link=link,
                           standalone=standalone), status


@bp.get("/")
def home():
    """Opened directly, not from an EHR: say how RaDaR is meant to be opened."""
    return message("RaDaR in the chart", "RaDaR opens from inside the EHR: launch it from a patient's chart. "
                   "To sign in without the EHR, use the standalone launch.", 200,
                   link=None, standalone=url_for("launch.standalone_launch"))


@bp.get("/launch")
def ehr_launch():
    """EHR launch: validate ``iss`` against the registry, then send the browser to authorize."""
    iss, launch = request.args.get("iss", ""), request.args.get("launch", "")
    if len(iss) > MAX_ISS or len(launch) > MAX_LAUNCH:
        return message("Launch refused", "The launch request was malformed (a value is far too long).", 400)
    if not iss or not launch:
        return message("Open RaDaR from the patient's chart",
                       "This page is opened by the EHR. Launch RaDaR from the patient's chart.", 400)
    return _start(iss, launch=launch)


@bp.get("/standalone")
def standalone_launch():
    """Standalone launch: pick a registered EHR (or use ``iss``), then authorize with ``launch/patient``."""
    iss = request.args.get("iss", "")[:MAX_ISS + 1]
    if not iss:
        ehrs = sorted(_ext("settings").ehrs.values(), key=lambda e: e.name)
        return render_template("choose_ehr.html", ehrs=ehrs)
    return _start(iss, launch=None)


def _start(iss: str, launch: str | None):
    settings, store, http = _ext("settings"), _ext("store"), _ext("http")
    ehr = settings.ehr_for(iss)
    if ehr is None:
        log.warning("launch refused: unregistered iss")
        return message("This EHR is not registered",
                       "RaDaR was opened by a system it does not know, so it did not sign in. "
                       "Ask your administrator to register this EHR.", 400, detail=f"iss: {iss}")
    try:
        endpoints = smart.discover(http, store, ehr)
    except smart.SmartError as exc:
        log.warning("launch failed: %s", exc.detail)
        return message("Cannot reach the EHR", exc.message, exc.status)
    verifier, challenge = smart.new_pkce()
    state = secrets.token_urlsafe(32)
    scope = ehr.scopes if launch is not None else ehr.scope_for_standalone
    response = redirect(smart.authorize_url(endpoints, ehr, redirect_uri=redirect_uri(ehr), state=state,
                                            challenge=challenge, scope=scope, launch=launch))
    nonce = binding.bind(response, "s", state, path="/callback", max_age=STATE_TTL)
    store.set("state", state, {"iss": ehr.iss, "launch": launch, "verifier": verifier, "nonce": nonce,
                               "redirect_uri": redirect_uri(ehr)}, STATE_TTL)
    return response


@bp.get("/callback")
def callback():
    """OAuth redirect: check ``state`` (single use, this browser), redeem the code, open the chart."""
    settings, store, http = _ext("settings"), _ext("store"), _ext("http")
    state = request.args.get("state", "")
    if not state:
        return message("Sign-in failed", "The EHR's answer had no state value. Relaunch RaDaR from the EHR.", 400)
    pending = store.pop("state", state) if len(state) <= 256 else None
    if pending is None:
        return message("Sign-in expired", "This sign-in was already used or has expired. Relaunch RaDaR from the EHR.", 400)
    if not binding.matches("s", state, pending.get("nonce")):
        log.warning("callback refused: state bound to another browser")
        return message("Sign-in failed", "This sign-in was started in another browser. Relaunch RaDaR from the EHR.", 400)
    error = request.args.get("error")
    if error:
        code = error if error in OAUTH_ERRORS else "error"
        error_uri = request.args.get("error_uri", "")
        log.info("authorize error: %s", code)
        return message("The EHR did not sign RaDaR in", f"The EHR answered: {code}.", 400,
                       detail=request.args.get("error_description"),
                       link=error_uri if error_uri.startswith(("https://", "http://")) else None)
    ehr = settings.ehr_for(pending["iss"])
    code = request.args.get("code", "")
    if ehr is None or not code:
        return message("Sign-in failed", "The EHR's answer had no authorization code. Relaunch RaDaR from the EHR.", 400)
    try:
        endpoints = smart.discover(http, store, ehr)
        token = smart.exchange_code(http, ehr, settings.keys, endpoints.token_endpoint, code=code,
                                    verifier=pending["verifier"], redirect_uri=pending["redirect_uri"])
        fhir_user = None
        if token.get("id_token"):
            claims = smart.verify_id_token(http, store, endpoints, ehr, token["id_token"])
            fhir_user = claims.get("fhirUser") or claims.get("profile")
            if fhir_user:
                fhir_user = urljoin(ehr.iss + "/", fhir_user)
    except smart.SmartError as exc:
        log.warning("token exchange failed: %s", exc.detail)
        return message("Sign-in failed", exc.message + " Relaunch RaDaR from the EHR.", exc.status)
    if not token.get("patient"):
        return message("No patient in context", "The EHR did not say which patient is open, so RaDaR has nothing "
                       "to show. Open a patient's chart and launch RaDaR from there.", 400)
    sid = secrets.token_urlsafe(32)
    response = redirect(url_for("chart.chart", sid=sid))
    nonce = binding.bind(response, "c", sid, path=f"/s/{sid}/", max_age=settings.session_ttl)
    sessions.new_session(store, settings, sid, ehr=ehr, token=token, endpoints=endpoints, fhir_user=fhir_user,
                         binding=nonce)
    log.info("launch complete: ehr=%s auth=%s mode=%s", ehr.name, ehr.auth,
             "ehr" if pending.get("launch") is not None else "standalone")
    return binding.forget(response, "s", state, path="/callback")


@bp.get("/.well-known/jwks.json")
def jwks():
    """The app's public keys, for EHRs that authenticate it with ``private_key_jwt``."""
    return public_jwks(_ext("settings").keys), 200, {"Cache-Control": "public, max-age=3600"}


def redirect_uri(ehr) -> str:
    """The redirect URI registered for ``ehr``: explicit, else this app's public URL + /callback."""
    if ehr.redirect_uri:
        return ehr.redirect_uri
    base = _ext("settings").public_url or request.host_url.rstrip("/")
    return f"{base}/callback"
