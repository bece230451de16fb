"""CDS Hooks 2.0 endpoints: discovery, the ``patient-view`` service and its feedback.

A JSON API, kept apart from the clinician UI. Every call must carry a client JWT
(``app.cds.auth``); any failure there is a bare 401. Views parse, make one call, and answer.

Every answer allows any origin (CORS ``*``, no credentials): CDS clients such as the CDS Hooks
sandbox call from a browser, and the JWT, not a cookie, is what authenticates. Preflights
(``OPTIONS``, answered by Flask) need no token.
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from .. import services
from ..fetch.prefetch import Unobtainable
from .auth import CdsAuthError, verify
from .card import code_system
from .hook import SERVICE, SERVICE_ID, BadRequest, parse_feedback, parse_request
from .service import screen, store_feedback

bp = Blueprint("cds", __name__, url_prefix="/cds-services")
log = logging.getLogger("radar.cds")
MAX_BODY = 20 * 1024 * 1024
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Max-Age": "600"}


@bp.before_request
def allow_large_prefetch():
    """Prefetch can be large (labs, notes); other endpoints keep the app's 1 MB limit."""
    request.max_content_length = MAX_BODY


@bp.after_request
def cors(response):
    """Let browser-based CDS clients call and read every endpoint, errors and preflights included."""
    response.headers.update(CORS)
    return response


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
        cards = screen(services.current(), parse_request(json_body()), claims, base_url())
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
        store_feedback(services.current(), service_id, claims["iss"], parse_feedback(json_body()))
    except BadRequest as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify({})


@bp.get("/codes/<name>")
def codes(name: str):
    """The code systems the cards use (topic, override reasons), at the URLs the cards name."""
    doc = code_system(name, base_url())
    if doc is None:
        return jsonify({"error": "unknown code system"}), 404
    return jsonify(doc)


def json_body() -> object:
    """The request's JSON, or None when it is not JSON; JSON nested past the parser's limit is BadRequest."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None


def base_url() -> str:
    """This app's public URL (``RADAR_PUBLIC_URL``, else the host the request came to) for the links
    the cards and code systems name; never for the token's audience (``_authenticate``)."""
    return services.current().settings.public_url or request.host_url.rstrip("/")


def _authenticate(path: str) -> dict | None:
    ctx = services.current()
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    public_url = ctx.settings.public_url  # set whenever a client is trusted (app.config.cds.require_public_url)
    if not public_url or not ctx.settings.cds_clients:
        log.warning("CDS call refused: no CDS client is configured")
        return None
    try:
        return verify(token, audience=f"{public_url}/cds-services/{path}", clients=ctx.settings.cds_clients,
                      store=ctx.store, http=ctx.http)
    except CdsAuthError as exc:
        log.warning("CDS call refused: %s", exc)
        return None
