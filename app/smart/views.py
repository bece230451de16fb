"""SMART launch views: EHR launch, standalone launch, the OAuth callback and the app's JWKS."""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for

from .. import services
from ..ui.pages import message
from . import flow
from .keys import public_jwks

bp = Blueprint("launch", __name__)
MAX_ISS = 2048
MAX_LAUNCH = 8192  # Epic's launch values are JWTs of a few kB


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
    return _run(flow.begin, iss, launch)


@bp.get("/standalone")
def standalone_launch():
    """Standalone launch: pick a registered EHR (or use ``iss``), then authorize with ``launch/patient``."""
    iss = request.args.get("iss", "")[:MAX_ISS + 1]
    if not iss:
        ehrs = sorted(services.current().settings.ehrs.values(), key=lambda e: e.name)
        return render_template("choose_ehr.html", ehrs=ehrs)
    return _run(flow.begin, iss, None)


@bp.get("/callback")
def callback():
    """OAuth redirect: check ``state`` (single use, this browser), redeem the code, open the chart."""
    return _run(flow.finish, request.args)


@bp.get("/.well-known/jwks.json")
def jwks():
    """The app's public keys, for EHRs that authenticate it with ``private_key_jwt``."""
    return public_jwks(services.current().settings.keys), 200, {"Cache-Control": "public, max-age=3600"}


def _run(step, *args):
    """Run a launch step; a failure is the plain page that explains it."""
    try:
        return step(*args)
    except flow.LaunchFailed as exc:
        return message(exc.title, exc.text, exc.status, detail=exc.detail, link=exc.link)
