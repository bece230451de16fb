"""The RaDaR panel of the chart: review the case narrative, run RaDaR, watch it reason, read the
grounded differential. Views parse, make one call into ``app.inference.jobs`` and render."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, g, render_template, request

from .. import audit, services
from ..case.deidentify import deidentify
from ..case.narrative import Narrative
from ..inference import jobs, service
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
    return case_fragment(run_again(g.sid, _owned(cid)))


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
        text = deidentify(text, saved.get("patient"), today=date.today())
    cid = jobs.submit(ctx.store, ctx.rq, ctx.settings.model, text, owner=owner_of(session),
                      present=saved.get("present", []), absent=saved.get("absent", []),
                      edited=text != saved.get("text"), force=force, grace=ctx.settings.job_stale_grace)
    ctx.store.add_member(SESSION_CASES, sid, cid, OWNER_TTL)
    return cid


def run_again(sid: str, cid: str) -> str:
    """Queue a case again with its narrative, findings and owner (the patient it belongs to)."""
    ctx = services.current()
    existing = jobs.view(ctx.store, cid, ctx.settings.model, ctx.settings.job_stale_grace)
    if existing is None or ctx.settings.model is None:
        abort(404)
    new = jobs.submit(ctx.store, ctx.rq, ctx.settings.model, existing["narrative"], present=existing["present"],
                      absent=existing["absent"], edited=existing.get("edited", False), force=True,
                      grace=ctx.settings.job_stale_grace, owner=existing.get("owner"))
    ctx.store.add_member(SESSION_CASES, sid, new, OWNER_TTL)
    return new


def owner_of(session: dict) -> str:
    """The patient a case belongs to: ``iss|patient id`` (the same key a CDS-started case carries)."""
    return f"{session['iss'].rstrip('/')}|{session['patient']}"


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
    return render_template("radar_case.html", case=view, csrf=g.session["csrf"], model=ctx.settings.model)


def panel_context(sid: str, session: dict, narrative: Narrative, present: list[str], absent: list[str],
                  patient: dict | None = None) -> dict:
    """What the chart's RaDaR panel shows: service state, the narrative, and a known case if any.

    ``patient`` (the Patient resource) is kept with the narrative so edited text can be scrubbed again.
    """
    ctx = services.current()
    settings, store = ctx.settings, ctx.store
    state = service.status(store, settings.model)
    store.set("narrative", sid, {"text": narrative.text, "present": present, "absent": absent, "patient": patient},
              settings.session_ttl)
    case_id = None
    if settings.model is not None:
        cid = jobs.case_id(settings.model, narrative.text)
        found = store.get("case", cid) is not None
        # A case started by the CDS hook (its card's appContext) is shown when this launch has none.
        linked = str((session.get("app_context") or {}).get("case", ""))
        if not found and len(linked) == 32 and (store.get("case", linked) or {}).get("owner") == owner_of(session):
            cid, found = linked, True
        if found:
            store.add_member(SESSION_CASES, sid, cid, OWNER_TTL)
            case_id = cid
    return {"radar_state": state, "narrative": narrative, "case_id": case_id, "model": settings.model}
