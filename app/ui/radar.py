"""The RaDaR panel of the chart: review the case narrative, run RaDaR, watch it reason, read the
grounded differential. Views parse, make one call into ``app.inference.jobs`` and render.

At launch the panel shows the case of the narrative the chart writes; when there is none, the case a
CDS card linked, or else the analysis the population screen queued for this patient
(``app.screen.handoff``), labelled as such: it was written from the record as it was on the day of
the screen, and Run again runs today's narrative instead.
"""
from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, abort, g, render_template, request

from .. import audit, services
from ..case.deidentify import Scrubber
from ..case.narrative import Narrative
from ..inference import jobs, service
from ..screen import handoff
from ..smart import sessions

# Nested in the chart blueprint: its session and CSRF checks and its URL defaults apply here too.
bp = Blueprint("radar", __name__, url_prefix="/radar")
MAX_NARRATIVE_CHARS = 100_000
OWNER_TTL = 24 * 3600
SESSION_CASES = sessions.SESSION_CASES


class Refused(Exception):
    """The run request cannot be served; ``status`` and the message are the answer."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@bp.post("")
def run():
    """Send the (possibly edited) narrative to RaDaR."""
    try:
        cid = start_case(g.sid, g.session, request.form.get("narrative") or "", force=request.form.get("force") == "1")
    except Refused as exc:
        return str(exc), exc.status
    return case_fragment(cid)


@bp.get("/<cid>")
def case(cid):
    """The case fragment; it polls itself while RaDaR is working."""
    return case_fragment(cid)


@bp.post("/<cid>/cancel")
def cancel(cid):
    """Stop a running case."""
    jobs.cancel(services.current().store, _owned(cid))
    return case_fragment(cid)


@bp.post("/<cid>/rerun")
def rerun(cid):
    """Run the same narrative again (a fresh answer)."""
    return case_fragment(run_again(g.sid, g.session, _owned(cid)))


def start_case(sid: str, session: dict, narrative: str, *, force: bool = False) -> str:
    """Queue RaDaR for the narrative the clinician sent; the case belongs to this session and patient."""
    ctx = services.current()
    text = narrative.strip()
    if not text:
        raise Refused("The case summary is empty.", 400)
    if len(text) > MAX_NARRATIVE_CHARS:
        raise Refused("The case summary is too long.", 400)
    if ctx.settings.model is None:
        raise Refused("RaDaR is not configured.", 409)
    state = service.status(ctx.store, ctx.settings.model)
    if not state["ok"]:
        raise Refused("RaDaR is not available right now; try again in a few minutes.", 409)
    saved = ctx.store.get("narrative", sid) or {}
    if ctx.settings.deidentify:
        # Whatever the clinician typed (or a client posted) is scrubbed again before it leaves.
        text = Scrubber(saved.get("patient"), date.today(), people=saved.get("people") or ()).scrub(text)
    cid = jobs.submit_for(ctx, text, owner=jobs.owner(session["iss"], session["patient"]),
                          present=saved.get("present", []), absent=saved.get("absent", []),
                          edited=text != saved.get("text"), force=force)
    ctx.store.add_member(SESSION_CASES, sid, cid, OWNER_TTL)
    return cid


def run_again(sid: str, session: dict, cid: str) -> str:
    """Queue a case again with its narrative, findings and owner (the patient it belongs to); the
    population screen's case shown at this launch is run with today's narrative instead."""
    ctx = services.current()
    existing = jobs.view(ctx.store, cid, ctx.settings.model, ctx.settings.job_stale_grace)
    if existing is None or ctx.settings.model is None:
        abort(404)
    saved = ctx.store.get("narrative", sid) or {}
    if _screened_in(saved, cid):
        existing = {"narrative": saved["text"], "present": saved.get("present", []),
                    "absent": saved.get("absent", []), "owner": jobs.owner(session["iss"], session["patient"])}
    new = jobs.submit_for(ctx, existing["narrative"], owner=existing.get("owner"), present=existing["present"],
                          absent=existing["absent"], edited=existing.get("edited", False), force=True)
    ctx.store.add_member(SESSION_CASES, sid, new, OWNER_TTL)
    return new


def _owned(cid: str) -> str:
    if len(cid) != 32 or not services.current().store.is_member(SESSION_CASES, g.sid, cid):
        abort(404)
    return cid


def case_fragment(cid: str):
    """Render one case (status, live reasoning, answer) for htmx."""
    ctx = services.current()
    view = jobs.view(ctx.store, _owned(cid), ctx.settings.model, ctx.settings.job_stale_grace)
    if view is None:
        abort(404)
    # The fragment polls itself: one audit event per session and case, not one per poll.
    if ctx.store.set_once("audited-view", f"{audit.session_ref(g.sid)}:{cid}", OWNER_TTL):
        audit.record_view(ctx.store, user=g.session.get("fhir_user"), iss=g.session["iss"],
                          patient=g.session["patient"], what="radar-case", session=g.sid, client=request.remote_addr)
    saved = ctx.store.get("narrative", g.sid) or {}
    return render_template("radar_case.html", case=view, csrf=g.session["csrf"], model=ctx.settings.model,
                           screened=saved["screened"] if _screened_in(saved, cid) else None)


def _screened_in(saved: dict, cid: str) -> bool:
    """True when ``cid`` is the population screen's case this session's launch showed (``panel_context``)."""
    return (saved.get("screened") or {}).get("case") == cid


def screened_case(store, session: dict) -> dict | None:
    """The analysis the population screen queued for this session's patient (``app.screen.handoff``)
    while it is kept and belongs to this EHR and patient: ``{"case": id, "day": "YYYY-MM-DD" or None}``."""
    flag = handoff.flag_for(store, session["iss"], session["patient"]) or {}
    cid = str(flag.get("case") or "")
    if not jobs.belongs(store, cid, session["iss"], session["patient"]):
        return None
    day = re.match(r"\d{4}-\d{2}-\d{2}", str(flag.get("screened_at") or ""))
    return {"case": cid, "day": day.group(0) if day else None}


def panel_context(sid: str, session: dict, narrative: Narrative, present: list[str], absent: list[str],
                  patient: dict | None = None, people: list[dict] = ()) -> dict:
    """What the chart's RaDaR panel shows: service state, the narrative, and a known case if any.

    ``patient`` (the Patient resource) and ``people`` (everyone else the record names: note authors,
    recorders, performers) are kept with the narrative so edited text is scrubbed again of all of them.
    """
    ctx = services.current()
    settings, store = ctx.settings, ctx.store
    state = service.status(store, settings.model)
    case_id = screened = None
    if settings.model is not None:
        cid = jobs.case_id(settings.model, narrative.text)
        found = store.get("case", cid) is not None
        # A case started by the CDS hook (its card's appContext) is shown when this launch has none.
        linked = str((session.get("app_context") or {}).get("case", ""))
        if not found and jobs.belongs(store, linked, session["iss"], session["patient"]):
            cid, found = linked, True
        # Else the population screen's analysis, written from the record as it was then (labelled so).
        if not found and (screened := screened_case(store, session)):
            cid, found = screened["case"], True
        if found:
            store.add_member(SESSION_CASES, sid, cid, OWNER_TTL)
            case_id = cid
    store.set("narrative", sid, {"text": narrative.text, "present": present, "absent": absent, "patient": patient,
                                 "people": list(people), "screened": screened}, settings.session_ttl)
    return {"radar_state": state, "narrative": narrative, "case_id": case_id, "model": settings.model}
