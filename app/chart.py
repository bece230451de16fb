"""The clinician's chart page (htmx): banner, problems, abnormal labs, notes, suggestions panel."""
from __future__ import annotations

import hmac
import logging
from datetime import date

from flask import Blueprint, abort, current_app, g, render_template, request
from jinja2_fragments.flask import render_block

from . import audit, binding, record as rec, sessions, style
from .fhir import SECTION_RESOURCES, FhirClient, RelaunchRequired, fetch_record
from .launch import message
from .notes import excerpt

bp = Blueprint("chart", __name__, url_prefix="/s/<sid>")
log = logging.getLogger("radar.chart")


def _ext(name: str):
    return current_app.extensions[f"radar.{name}"]


@bp.url_value_preprocessor
def load_session(endpoint, values):
    """Every view here needs a live session for this browser; CSRF-check anything that changes state."""
    g.sid = values.pop("sid")
    g.session = sessions.load(_ext("store"), g.sid, lambda s: binding.matches("c", g.sid, s.get("binding")))
    if g.session is None:
        abort(401)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        if not hmac.compare_digest(sent, g.session["csrf"]):
            abort(403)


@bp.url_defaults
def add_sid(endpoint, values):
    """Links inside the chart keep the session id."""
    if "sid" not in values and g.get("sid"):
        values["sid"] = g.sid


@bp.get("/chart")
def chart():
    """The patient's chart; an htmx request gets just the record block."""
    settings, store, http = _ext("settings"), _ext("store"), _ext("http")
    session = g.session
    client = FhirClient(http, session["iss"], sessions.SessionTokens(store, http, settings, g.sid),
                        timeout=settings.fhir_timeout)
    try:
        record = fetch_record(client, session["patient"])
    except RelaunchRequired:
        _audit(session, None, "relaunch-required")
        return relaunch_page()
    _audit(session, record, "partial" if record.unavailable else "success")
    context = chart_context(session, record, style.load(http, store, session.get("smart_style_url")))
    if request.headers.get("HX-Request"):
        return render_block("chart.html", "record", **context), 200, {"Vary": "HX-Request"}
    return render_template("chart.html", **context), 200, {"Vary": "HX-Request"}


@bp.post("/end")
def end():
    """Sign out of this launch: forget its tokens."""
    sessions.end(_ext("store"), g.sid)
    return message("Signed out", "RaDaR has forgotten this session. Launch it again from the EHR to continue.", 200)


def chart_context(session: dict, record: rec.PatientRecord, style_vars: dict) -> dict:
    """Everything the chart template shows, computed from the record (pure)."""
    notes = [{"ref": n.ref, "kind": n.kind, "title": n.title, "date": n.date, "error": n.error,
              "excerpt": excerpt(n.text) if n.text else "", "length": len(n.text)} for n in record.notes]
    return {
        "session": session, "csrf": session["csrf"], "style_vars": style_vars,
        "show_banner": session.get("need_patient_banner", True),
        "banner": rec.banner(record.patient, date.today()),
        "problems": rec.problems(record.conditions),
        "labs": rec.abnormal_labs(record.observations),
        "lab_count": len(record.observations),
        "notes": notes,
        "unavailable": record.unavailable,
        "warnings": record.warnings,
    }


def _audit(session: dict, record: rec.PatientRecord | None, outcome: str) -> None:
    types = sorted({t for name in SECTION_RESOURCES if record is None or name not in record.unavailable
                    for t in SECTION_RESOURCES[name]})
    detail = {"unavailable": sorted(record.unavailable)} if record and record.unavailable else None
    audit.record_read(_ext("store"), user=session.get("fhir_user"), iss=session["iss"], patient=session["patient"],
                      resource_types=types, outcome=outcome, detail=detail)


def relaunch_page():
    """The EHR session is over: the clinician must relaunch from the EHR."""
    return message("Please relaunch RaDaR", "Your EHR session has ended or was signed out. "
                   "Relaunch RaDaR from the patient's chart in the EHR.", 401)
