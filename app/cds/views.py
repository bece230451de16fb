"""CDS Hooks 2.0 endpoints: discovery, the ``patient-view`` service and its feedback.

A JSON API, kept apart from the clinician UI. Every call must carry a client JWT
(``app.cds.auth``); any failure there is a bare 401. Views parse, make one call, and answer.
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from .. import services
from ..fetch.prefetch import Unobtainable
from .auth import CdsAuthError, verify
from .hook import SERVICE, SERVICE_ID, BadRequest, parse_feedback, parse_request
from .service import screen, store_feedback

bp = Blueprint("cds", __name__, url_prefix="/cds-services")
log = logging.getLogger("radar.cds")
MAX_BODY = 20 * 1024 * 1024


@bp.before_request
def allow_large_prefetch():
    """Prefetch can be large (labs, notes); other endpoints keep the app's 1 MB limit."""
    request.max_content_length = MAX_BODY


@bp.get("")
def discovery():
    """The services this CDS service offers (no PHI, no token needed)."""
    return jsonify({"services": [SERVICE]})


@bp.post("/<service_id>")
def call(service_id: str):
    """Run the patient-view screen."""
    if service_id != SERVICE_ID:
        return jsonify({"error": "unknown service"}), 404
    claims = _authenticate(service_id)
    if claims is None:
        return "", 401
    try:
        cards = screen(services.current(), parse_request(request.get_json(silent=True)), claims, base_url())
    except BadRequest as exc:
        return jsonify({"error": str(exc)}), 400
    except Unobtainable as exc:
        return jsonify({"error": str(exc)}), 412
    return jsonify({"cards": cards})


@bp.post("/<service_id>/feedback")
def feedback(service_id: str):
    """Store accepted / overridden outcomes (``radar feedback export`` writes them out)."""
    if service_id != SERVICE_ID:
        return jsonify({"error": "unknown service"}), 404
    claims = _authenticate(f"{service_id}/feedback")
    if claims is None:
        return "", 401
    try:
        store_feedback(services.current(), service_id, claims["iss"], parse_feedback(request.get_json(silent=True)))
    except BadRequest as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify({})


def base_url() -> str:
    """This app's public URL (``RADAR_PUBLIC_URL``, else the host the request came to)."""
    return services.current().settings.public_url or request.host_url.rstrip("/")


def _authenticate(path: str) -> dict | None:
    ctx = services.current()
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    try:
        return verify(token, audience=f"{base_url()}/cds-services/{path}", clients=ctx.settings.cds_clients,
                      store=ctx.store, http=ctx.http)
    except CdsAuthError as exc:
        log.warning("CDS call refused: %s", exc)
        return None
