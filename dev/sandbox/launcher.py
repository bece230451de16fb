"""The EHR's face: the launcher page (patients per tenant), the chart frame that embeds the app,
and the JSON test-control API under ``/_sandbox/``."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Blueprint, abort, jsonify, render_template, request

from .runtime import Sandbox, current, tenant_or_404
from .session import Fault
from .settings import app_base
from .store import age, display_name

bp = Blueprint("sandbox_launcher", __name__)


def app_launch_url(sandbox: Sandbox, tenant_name: str, launch: str) -> str:
    """The app's EHR launch URL with ``iss`` and ``launch``."""
    tenant = sandbox.tenants[tenant_name]
    return f"{sandbox.app_launch_url}?{urlencode({'iss': tenant.fhir_base, 'launch': launch})}"


def mint(sandbox: Sandbox, tenant_name: str, patient_id: str, encounter: str | None = None) -> str:
    """Mint a launch for a patient (with their latest encounter unless one is given)."""
    encounter = encounter or sandbox.data.latest_encounter(patient_id)
    return sandbox.state.mint_launch(tenant_name, patient_id, encounter,
                                     sandbox.data.practitioner_for(patient_id))


def _patient_row(patient: dict) -> dict:
    return {"id": patient["id"], "name": display_name(patient), "gender": patient.get("gender", ""),
            "birthDate": patient.get("birthDate"), "age": age(patient)}


@bp.route("/")
def index():
    """Every patient per tenant, each a link that launches the app in a chart frame."""
    sandbox = current()
    groups = []
    for tenant in sandbox.tenants.values():
        rows = []
        for patient in sandbox.data.patients:
            url = app_launch_url(sandbox, tenant.name, mint(sandbox, tenant.name, patient["id"]))
            rows.append({**_patient_row(patient), "launch_url": url,
                         "chart_url": f"/{tenant.name}/chart?{urlencode({'launch_url': url})}"})
        standalone = f"{app_base(sandbox.app_launch_url)}/standalone?{urlencode({'iss': tenant.fhir_base})}"
        groups.append({"tenant": tenant, "patients": rows, "standalone_url": standalone})
    return render_template("sandbox/launcher.html", groups=groups)


@bp.route("/<tenant>/chart")
def chart(tenant):
    """A fake EHR chart around an iframe that loads the app's launch URL."""
    sandbox = current()
    tenant = tenant_or_404(tenant)
    launch_url = request.args.get("launch_url", "")
    prefix = sandbox.app_launch_url
    # Only frame the app's own launch URL: no open redirect, no framing of arbitrary pages.
    if not (launch_url == prefix or launch_url.startswith(prefix + "?")):
        abort(400)
    launch = (parse_qs(urlsplit(launch_url).query).get("launch") or [""])[0]
    record = sandbox.state.peek_launch(launch, tenant.name)
    patient = sandbox.data.get("Patient", record.patient) if record else None
    return render_template("sandbox/chart.html", tenant=tenant, launch_url=launch_url,
                           patient=_patient_row(patient) if patient else None)


@bp.route("/_sandbox/launch", methods=["POST"])
def control_launch():
    """Mint a launch: ``{"tenant", "patient", "encounter"?}`` → ``{"launch", "url"}``."""
    sandbox = current()
    body = request.get_json(silent=True) or {}
    tenant, patient = body.get("tenant"), body.get("patient")
    if tenant not in sandbox.tenants:
        return jsonify(error=f"unknown tenant {tenant!r}"), 400
    if sandbox.data.get("Patient", str(patient)) is None:
        return jsonify(error=f"unknown patient {patient!r}"), 404
    launch = mint(sandbox, tenant, patient, body.get("encounter"))
    return jsonify(launch=launch, url=app_launch_url(sandbox, tenant, launch))


@bp.route("/_sandbox/faults", methods=["POST"])
def control_fault():
    """Inject a fault: ``{"tenant", "resource", "mode": status | "timeout" | "malformed",
    "seconds"?, "times"?, "retry_after"?}``; tenant and resource default to ``*``. ``resource`` is a
    FHIR type or a Bulk endpoint: ``$export`` (kick-off), ``bulk-status`` (status and DELETE),
    ``bulk-file`` (file downloads). ``times`` limits it to the next K matching requests; 429 and
    503 answers carry ``Retry-After: retry_after`` (default 1)."""
    body = request.get_json(silent=True) or {}
    mode = body.get("mode")
    if not (mode in ("timeout", "malformed") or (isinstance(mode, int) and 100 <= mode <= 599)):
        return jsonify(error="mode must be an HTTP status, 'timeout' or 'malformed'"), 400
    retry_after = body.get("retry_after", 1)
    if not isinstance(retry_after, int) or retry_after < 0:
        return jsonify(error="retry_after must be a whole number of seconds"), 400
    fault = Fault(mode=mode, seconds=float(body.get("seconds", 30)), times=body.get("times"),
                  retry_after=retry_after)
    current().state.set_fault(body.get("tenant", "*"), body.get("resource", "*"), fault)
    return jsonify(ok=True)


@bp.route("/_sandbox/faults", methods=["DELETE"])
def control_clear_faults():
    """Remove every injected fault."""
    current().state.clear_faults()
    return jsonify(ok=True)


@bp.route("/_sandbox/touch", methods=["POST"])
def control_touch():
    """Mark every resource of one patient as changed now (``meta.lastUpdated``), for incremental
    (``_since``) exports: ``{"patient"}`` → ``{"patient", "lastUpdated", "resources"}``."""
    body = request.get_json(silent=True) or {}
    patient = str(body.get("patient"))
    data = current().data
    if data.get("Patient", patient) is None:
        return jsonify(error=f"unknown patient {patient!r}"), 404
    instant, count = data.touch(patient)
    return jsonify(patient=patient, lastUpdated=instant, resources=count)


@bp.route("/_sandbox/tokens/expire", methods=["POST"])
def control_expire():
    """Expire every access token (optionally of one tenant), so the app must refresh."""
    body = request.get_json(silent=True) or {}
    return jsonify(expired=current().state.expire_access(body.get("tenant")))


@bp.route("/_sandbox/tokens/revoke", methods=["POST"])
def control_revoke():
    """Revoke every access and refresh token (optionally of one tenant)."""
    body = request.get_json(silent=True) or {}
    return jsonify(revoked=current().state.revoke_all(body.get("tenant")))


@bp.route("/_sandbox/patients")
def control_patients():
    """Every patient of every tenant."""
    sandbox = current()
    return jsonify([{**_patient_row(p), "tenant": t.name, "fhir_base": t.fhir_base}
                    for t in sandbox.tenants.values() for p in sandbox.data.patients])


@bp.route("/_sandbox/requests", methods=["GET"])
def control_requests():
    """FHIR requests served, per tenant and resource type."""
    return jsonify(current().state.request_counts())


@bp.route("/_sandbox/requests", methods=["DELETE"])
def control_reset_requests():
    """Zero the request counters."""
    current().state.reset_requests()
    return jsonify(ok=True)


@bp.route("/_sandbox/latency", methods=["POST"])
def control_latency():
    """Change the per-request FHIR latency at run time: ``{"ms": n}``."""
    body = request.get_json(silent=True) or {}
    current().state.latency_ms = float(body.get("ms", 0))
    return jsonify(ok=True, ms=current().state.latency_ms)
