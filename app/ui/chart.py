"""The clinician's chart page (htmx): banner, problems, abnormal labs, notes, suggestions panel.

Views parse, make one call and render; the work is in ``open_chart`` and ``edit_profile`` over
the one pipeline (``app.fetch`` → ``app.pipeline``).
"""
from __future__ import annotations

import hmac
import logging
import re
from datetime import date

from flask import Blueprint, abort, g, render_template, request
from jinja2_fragments.flask import render_block

from .. import audit, services
from .. import record as rec
from ..case.record_identifiers import record_people
from ..fetch.fhir import SECTION_RESOURCES, FhirClient, RelaunchRequired, fetch_record
from ..fetch.notes import excerpt
from ..phenotype import Profile, edits
from ..pipeline import ENGINE_LABEL, MIN_PRESENT, Analysis, analyse, reanalyse
from ..present import percent
from ..screen import handoff
from ..smart import binding, sessions
from . import radar, signal, style
from .pages import message, relaunch_page

bp = Blueprint("chart", __name__, url_prefix="/s/<sid>")
bp.register_blueprint(radar.bp)  # the RaDaR panel shares the session and CSRF checks below
bp.add_app_template_filter(signal.finding_anchor, "finding_anchor")  # profile rows and the bars that link to them
log = logging.getLogger("radar.chart")
PROFILE_TTL = 3600  # the extracted profile, kept so edits re-rank without refetching the record
EDIT_ACTIONS = {"remove": edits.remove, "restore": edits.restore, "add": edits.add}


class EditRefused(Exception):
    """A profile edit cannot be applied; ``status`` and the message are the answer."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@bp.url_value_preprocessor
def load_session(endpoint, values):
    """Every view here needs a live session for this browser; CSRF-check anything that changes state."""
    g.sid = values.pop("sid")
    g.session = sessions.load(services.current().store, g.sid, lambda s: binding.belongs("c", g.sid, s))
    if g.session is None:
        abort(401)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        # Bytes: compare_digest refuses non-ASCII str, and a hostile header must be a 403, not a 500.
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), g.session["csrf"].encode()):
            abort(403)


@bp.url_defaults
def add_sid(endpoint, values):
    """Links inside the chart keep the session id."""
    if "sid" not in values and g.get("sid"):
        values["sid"] = g.sid


@bp.get("/chart")
def chart():
    """The patient's chart; an htmx request gets just the record block."""
    try:
        context = open_chart(g.sid, g.session)
    except RelaunchRequired:
        return relaunch_page()
    if request.headers.get("HX-Request"):
        return render_block("chart.html", "record", **context), 200, {"Vary": "HX-Request"}
    return render_template("chart.html", **context), 200, {"Vary": "HX-Request"}


@bp.post("/phenotypes/<action>")
def edit_phenotypes(action):
    """Remove, restore or add a phenotype; the suggestions re-rank in place (htmx swaps the block)."""
    try:
        context = edit_profile(g.sid, g.session, action, request.form.get("hpo", ""))
    except EditRefused as exc:
        return str(exc), exc.status
    return render_block("chart.html", "analysis", **context)


@bp.get("/phenotypes/search")
def search_phenotypes():
    """Autocomplete over HPO names and synonyms (an htmx fragment of options)."""
    query = request.args.get("q", "").strip()[:100]
    options = services.current().knowledge.lexicon.search(query, limit=8) if len(query) >= 2 else []
    return render_block("chart.html", "hpo_options", options=options, query=query)


@bp.post("/end")
def end():
    """Sign out of this launch: forget its tokens."""
    ctx = services.current()
    sessions.end(ctx.store, ctx.http, ctx.settings, g.sid)
    return message("Signed out", "RaDaR has forgotten this session. Launch it again from the EHR to continue.", 200)


def open_chart(sid: str, session: dict) -> dict:
    """Fetch the record, run the pipeline (with the clinician's edits) and return the page's context.

    Raises RelaunchRequired when the EHR session is over (audited as such).
    """
    ctx = services.current()
    store = ctx.store
    client = FhirClient(ctx.http, session["iss"], sessions.SessionTokens(store, ctx.http, ctx.settings, sid),
                        timeout=ctx.settings.fhir_timeout)
    try:
        record = fetch_record(client, session["patient"])
    except RelaunchRequired:
        _audit(session, None, "relaunch-required")
        raise
    _audit(session, record, "partial" if record.unavailable else "success")
    analysis = analyse(record, ctx.knowledge, edits=store.get("edits", sid), case=ctx.case_options)
    store.set("profile", sid, analysis.extracted.to_dict(), PROFILE_TTL)
    context = chart_context(session, record, style.load(ctx.http, store, session.get("smart_style_url")))
    context["screened"] = screening_flag(handoff.flag_for(store, session["iss"], session["patient"]))
    context.update(analysis_context(analysis, ctx.settings.cds_thresholds, ctx.knowledge.ranker.background_name))
    edited = analysis.profile
    context.update(radar.panel_context(sid, session, analysis.narrative, [p.hpo for p in edited.present],
                                       [p.hpo for p in edited.absent], record.patient, record_people(record)))
    return context


def edit_profile(sid: str, session: dict, action: str, hpo: str) -> dict:
    """Apply one edit to the stored profile and re-rank; the analysis block's context."""
    if action not in EDIT_ACTIONS:
        abort(404)
    ctx = services.current()
    term = ctx.knowledge.lexicon.current(hpo.strip()[:20])
    if term is None:
        raise EditRefused("Unknown HPO term.", 400)
    saved = ctx.store.get("profile", sid)
    if saved is None:
        raise EditRefused("The record is no longer loaded: reload the chart.", 409)
    changed = EDIT_ACTIONS[action](ctx.store.get("edits", sid) or edits.empty(), term)
    ctx.store.set("edits", sid, changed, ctx.settings.session_ttl)
    analysis = reanalyse(Profile.from_dict(saved), ctx.knowledge, edits=changed)
    audit.record_view(ctx.store, user=session.get("fhir_user"), iss=session["iss"], patient=session["patient"],
                      what="phenotype-profile", session=sid, client=request.remote_addr)
    return {"csrf": session["csrf"],
            **analysis_context(analysis, ctx.settings.cds_thresholds, ctx.knowledge.ranker.background_name)}


def chart_context(session: dict, record: rec.PatientRecord, style_vars: dict) -> dict:
    """Everything the chart template shows, computed from the record (pure)."""
    notes = [{"ref": n.ref, "kind": n.kind, "title": n.title, "date": n.date, "error": n.error,
              "excerpt": excerpt(n.text) if n.text else "", "length": len(n.text), "shortened": n.shortened}
             for n in record.notes]
    return {
        "session": session, "csrf": session["csrf"], "style_vars": style_vars,
        "show_banner": session.get("need_patient_banner", True),
        "banner": rec.banner(record.patient, date.today()),
        "problems": rec.problems(record.conditions),
        "labs": rec.abnormal_labs(record.observations),
        "lab_count": len(record.observations),
        "notes": notes,
        "unavailable": record.unavailable,
        "partial": record.partial,
        "warnings": record.warnings,
    }


def screening_flag(flag: dict | None) -> dict | None:
    """The chart's line for a patient the population screen flagged (``app.screen.handoff.flag_for``):
    its text and level, or None when there is no flag (pure)."""
    if not flag:
        return None
    day = re.match(r"\d{4}-\d{2}-\d{2}", str(flag.get("screened_at") or ""))
    when = day.group(0) if day else "an unknown date"
    return {"text": f"Flagged by population screening on {when} (probability {percent(flag.get('probability'))})",
            "level": flag.get("signal") if flag.get("signal") in ("warning", "info") else None}


def analysis_context(analysis: Analysis, thresholds, background: str = "") -> dict:
    """The phenotype profile (after the clinician's edits) and the suggestions panel under the flag
    ``thresholds`` (``CdsThresholds``) the CDS card uses too, and the ``background`` P(rare) was
    judged against (``Ranker.background_name``) (pure)."""
    return {"analysis": analysis, "removed": analysis.removed, "engine_label": ENGINE_LABEL,
            "min_present": MIN_PRESENT, "panel": signal.panel(analysis, thresholds), "background": background}


def _audit(session: dict, record: rec.PatientRecord | None, outcome: str) -> None:
    types = sorted({t for name in SECTION_RESOURCES if record is None or name not in record.unavailable
                    for t in SECTION_RESOURCES[name]})
    detail = {"unavailable": sorted(record.unavailable)} if record and record.unavailable else None
    audit.record_read(services.current().store, user=session.get("fhir_user"), iss=session["iss"],
                      patient=session["patient"], resource_types=types, outcome=outcome, detail=detail,
                      session=g.sid, client=request.remote_addr)
