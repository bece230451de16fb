"""The RaDaR panel of the chart: review the case narrative, run RaDaR, watch it reason, read the
grounded differential. Views stay skinny; the work is in case, jobs and grounding."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g, render_template, request

from ..inference import jobs, service

# Nested in the chart blueprint: its session and CSRF checks and its URL defaults apply here too.
bp = Blueprint("radar", __name__, url_prefix="/radar")
MAX_NARRATIVE_CHARS = 100_000
OWNER_TTL = 24 * 3600


def _ext(name: str):
    return current_app.extensions[f"radar.{name}"]


@bp.post("")
def run():
    """Send the (possibly edited) narrative to RaDaR."""
    settings, store = _ext("settings"), _ext("store")
    text = (request.form.get("narrative") or "").strip()
    if not text:
        return "The case summary is empty.", 400
    if len(text) > MAX_NARRATIVE_CHARS:
        return "The case summary is too long.", 400
    if settings.model is None:
        return "RaDaR is not configured.", 409
    saved = store.get("narrative", g.sid) or {}
    cid = jobs.submit(store, _ext("rq"), settings.model, text, owner=f"{g.session['iss']}|{g.session['patient']}",
                      present=saved.get("present", []),
                      absent=saved.get("absent", []), edited=text != saved.get("text"),
                      force=request.form.get("force") == "1", grace=settings.job_stale_grace)
    store.redis.sadd(f"radar:session-cases:{g.sid}", cid)
    store.redis.expire(f"radar:session-cases:{g.sid}", OWNER_TTL)
    return case_fragment(cid)


@bp.get("/<cid>")
def case(cid):
    """The case fragment; it polls itself while RaDaR is working."""
    return case_fragment(cid)


@bp.post("/<cid>/cancel")
def cancel(cid):
    """Stop a running case."""
    _owned(cid)
    jobs.cancel(_ext("store"), cid)
    return case_fragment(cid)


@bp.post("/<cid>/rerun")
def rerun(cid):
    """Run the same narrative again (a fresh answer)."""
    settings, store = _ext("settings"), _ext("store")
    existing = jobs.view(store, _owned(cid), settings.model, settings.job_stale_grace)
    if existing is None or settings.model is None:
        abort(404)
    cid = jobs.submit(store, _ext("rq"), settings.model, existing["narrative"], present=existing["present"],
                      absent=existing["absent"], edited=existing.get("edited", False), force=True,
                      grace=settings.job_stale_grace)
    return case_fragment(cid)


def _owned(cid: str) -> str:
    if len(cid) != 32 or not _ext("store").redis.sismember(f"radar:session-cases:{g.sid}", cid):
        abort(404)
    return cid


def case_fragment(cid: str):
    """Render one case (status, live reasoning, answer) for htmx."""
    settings, store = _ext("settings"), _ext("store")
    view = jobs.view(store, _owned(cid), settings.model, settings.job_stale_grace)
    if view is None:
        abort(404)
    return render_template("radar_case.html", case=view, csrf=g.session["csrf"], model=settings.model)


def panel_context(session_id: str, narrative, present: list[str], absent: list[str]) -> dict:
    """What the chart's RaDaR panel shows: service state, the narrative, and a known case if any."""
    settings, store = _ext("settings"), _ext("store")
    state = service.status(store, settings.model)
    store.set("narrative", session_id, {"text": narrative.text, "present": present, "absent": absent},
              settings.session_ttl)
    case_id = None
    if settings.model is not None:
        cid = jobs.case_id(settings.model, narrative.text)
        found = store.get("case", cid) is not None
        # A case started by the CDS hook (its card's appContext) is shown when this launch has none.
        linked = str((g.session.get("app_context") or {}).get("case", ""))
        owner = f"{g.session['iss']}|{g.session['patient']}"
        if not found and len(linked) == 32 and (store.get("case", linked) or {}).get("owner") == owner:
            cid, found = linked, True
        if found:
            store.redis.sadd(f"radar:session-cases:{session_id}", cid)
            store.redis.expire(f"radar:session-cases:{session_id}", OWNER_TTL)
            case_id = cid
    return {"radar_state": state, "narrative": narrative, "case_id": case_id, "model": settings.model}
