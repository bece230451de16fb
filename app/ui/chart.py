"""The clinician's chart page (htmx): banner, problems, abnormal labs, notes, suggestions panel."""
from __future__ import annotations

import hmac
import logging
from datetime import date

from flask import Blueprint, abort, current_app, g, render_template, request
from jinja2_fragments.flask import render_block

from .. import audit
from ..smart import binding, sessions
from . import radar, style
from ..fetch import record as rec
from ..case.narrative import build_narrative
from ..fetch.fhir import SECTION_RESOURCES, FhirClient, RelaunchRequired, fetch_record
from ..smart.views import message
from ..fetch.notes import excerpt
from ..phenotype import Profile, edits, extract
from ..pipeline import ENGINE_LABEL, MIN_PRESENT, rank_profile

bp = Blueprint("chart", __name__, url_prefix="/s/<sid>")
bp.register_blueprint(radar.bp)  # the RaDaR panel shares the session and CSRF checks below
log = logging.getLogger("radar.chart")
PROFILE_TTL = 3600  # the extracted profile, kept so edits re-rank without refetching the record


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
    kb = _ext("knowledge")
    profile = extract(record, kb)
    store.set("profile", g.sid, profile.to_dict(), PROFILE_TTL)
    context = chart_context(session, record, style.load(http, store, session.get("smart_style_url")))
    changes = store.get("edits", g.sid) or edits.empty()
    context.update(analysis_context(profile, changes, kb))
    edited = context["analysis"].profile
    narrative = build_narrative(record, edited, budget_tokens=settings.narrative_tokens, deidentify=settings.deidentify)
    context.update(radar.panel_context(g.sid, narrative, [p.hpo for p in edited.present], [p.hpo for p in edited.absent]))
    if request.headers.get("HX-Request"):
        return render_block("chart.html", "record", **context), 200, {"Vary": "HX-Request"}
    return render_template("chart.html", **context), 200, {"Vary": "HX-Request"}


@bp.post("/phenotypes/<action>")
def edit_phenotypes(action):
    """Remove, restore or add a phenotype; the suggestions re-rank in place (htmx swaps the block)."""
    if action not in ("remove", "restore", "add"):
        abort(404)
    kb, store = _ext("knowledge"), _ext("store")
    hpo = kb.lexicon.current(request.form.get("hpo", "").strip()[:20])
    if hpo is None:
        return "Unknown HPO term.", 400
    saved = store.get("profile", g.sid)
    if saved is None:
        return "The record is no longer loaded: reload the chart.", 409
    changed = getattr(edits, action)(store.get("edits", g.sid) or edits.empty(), hpo)
    store.set("edits", g.sid, changed, _ext("settings").session_ttl)
    context = {"csrf": g.session["csrf"], **analysis_context(Profile.from_dict(saved), changed, kb)}
    return render_block("chart.html", "analysis", **context)


@bp.get("/phenotypes/search")
def search_phenotypes():
    """Autocomplete over HPO names and synonyms (an htmx fragment of options)."""
    query = request.args.get("q", "").strip()[:100]
    options = _ext("knowledge").lexicon.search(query, limit=8) if len(query) >= 2 else []
    return render_block("chart.html", "hpo_options", options=options, query=query)


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


def analysis_context(profile: Profile, changes: dict, kb) -> dict:
    """The phenotype profile (after the clinician's edits) and the ranked suggestions (pure)."""
    edited = edits.apply(profile, changes, kb.lexicon)
    removed = [p for p in profile.all if p.hpo in set(changes["removed"])]
    return {"analysis": rank_profile(edited, kb), "removed": removed, "engine_label": ENGINE_LABEL,
            "min_present": MIN_PRESENT}


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
