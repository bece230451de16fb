"""Bulk Data Access 2.0 export of each tenant, for SMART Backend Services tokens:
kick-off (``Group/<id>/$export``, ``Patient/$export``; GET or POST), status polling (202 with
``X-Progress`` and ``Retry-After`` while working, then the manifest), the NDJSON files (bearer
token required) and DELETE; plus the test controls under ``/_sandbox/``.

Scopes: the token needs ``system/`` scopes. With ``_type`` every named type must be granted
(read and search; read for Binary), else 403; without ``_type`` the export holds the default
types (Patient, Condition, Observation, DocumentReference, DiagnosticReport) the token is granted,
i.e. it is filtered to what the token may read, and 403 when that is none of them. Binary is
exported only when ``_type`` names it: the Binaries that the exported patients' DocumentReference
and DiagnosticReport attachments point at (``Binary/<id>``), as this tenant serves the notes.

Which resources: those of the group's patients (every patient for ``Patient/$export``) chosen by
``_since`` and ``_typeFilter`` when the files are written, on the first poll after the simulated
work is done (so a change made while a job runs may show in it)."""
from __future__ import annotations

import time
from email.utils import formatdate

from flask import Blueprint, Response, jsonify, request

from .discovery import fhir_json
from .exports import DEFAULT_TYPES, ExportError, Job, parse_request
from .fhir import FhirError, Malformed, bearer, counted, fhir_error_response, malformed_response, matches, shape
from .flavours import Tenant
from .runtime import current
from .scopes import system_allows
from .session import Grant
from .store import last_updated

bp = Blueprint("sandbox_bulk", __name__)
bp.register_error_handler(FhirError, fhir_error_response)
bp.register_error_handler(Malformed, malformed_response)

NDJSON = "application/fhir+ndjson"
STATUS, FILE, KICK_OFF = "bulk-status", "bulk-file", "$export"


@bp.errorhandler(ExportError)
def _export_error(error: ExportError):
    return fhir_error_response(FhirError(error.status, error.code, error.text, error.headers))


@bp.route("/<tenant>/fhir/Group/<group_id>/$export", methods=["GET", "POST"])
def group_export(tenant, group_id):
    """Kick off an export of one Group's patients."""
    return kick_off(tenant, group_id)


@bp.route("/<tenant>/fhir/Patient/$export", methods=["GET", "POST"])
def patient_export(tenant):
    """Kick off an export of every patient of the tenant."""
    return kick_off(tenant, None)


def kick_off(tenant_name: str, group_id: str | None):
    """Check the request and the token, then register the job: 202 with ``Content-Location``."""
    tenant = counted(tenant_name, KICK_OFF)
    grant = bearer(tenant)
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise ExportError(400, "invalid", "A Bulk Data kick-off needs the header 'Prefer: respond-async'.")
    if request.headers.get("Accept") and request.accept_mimetypes["application/fhir+json"] <= 0:
        raise ExportError(400, "not-supported", "Accept must be application/fhir+json.")
    lenient = "handling=lenient" in request.headers.get("Prefer", "")
    export = parse_request(_parameters(), lenient)
    types = _granted_types(grant, export.types)
    data = current().data
    patients = [p["id"] for p in data.patients] if group_id is None else data.members(group_id)
    if patients is None:
        raise ExportError(404, "not-found", f"Group/{group_id} does not exist.")
    job = current().exports.start(tenant=tenant.name, client_id=grant.client_id, request_url=request.url,
                                  request=export, types=types, patients=patients)
    response = fhir_json({"resourceType": "OperationOutcome", "issue": [{
        "severity": "information", "code": "informational", "diagnostics": "Export accepted."}]}, 202)
    response.headers["Content-Location"] = _status_url(tenant, job)
    return response


def _parameters() -> list[tuple[str, str]]:
    """Kick-off parameters from the query string and, for POST, a FHIR ``Parameters`` body."""
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        body = request.get_json(silent=True, force=True)
        if body is not None and (not isinstance(body, dict) or body.get("resourceType") != "Parameters"):
            raise ExportError(400, "invalid", "A POST kick-off carries a FHIR Parameters resource.")
        for parameter in (body or {}).get("parameter", []):
            value = next((v for k, v in parameter.items() if k.startswith("value")), None)
            if isinstance(value, str):
                pairs.append((parameter.get("name", ""), value))
    return pairs


def _perms(rtype: str) -> str:
    return "r" if rtype == "Binary" else "rs"


def _granted_types(grant: Grant, named: tuple[str, ...] | None) -> tuple[str, ...]:
    """The types to export: the named ones (each must be granted) or the granted default types."""
    if not any(s.startswith("system/") for s in grant.scope.split()):
        _forbid("Bulk export needs a SMART Backend Services token (system/ scopes).")
    if named is not None:
        missing = [t for t in named if not system_allows(grant.scope, t, _perms(t))]
        if missing:
            _forbid(f"insufficient_scope: the token has no system scope to export {', '.join(missing)}.")
        return named
    types = tuple(t for t in DEFAULT_TYPES if system_allows(grant.scope, t, _perms(t)))
    if not types:
        _forbid("insufficient_scope: the token may export none of the resource types.")
    return types


def _forbid(text: str):
    raise FhirError(403, "forbidden", text, {"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


def _status_url(tenant: Tenant, job: Job) -> str:
    return f"{tenant.root}/bulk/status/{job.id}"


def _job(tenant_name: str, job_id: str, endpoint: str) -> tuple[Tenant, Job]:
    """Faults, the bearer token, then the job: only its own client's token may see it (404 else)."""
    tenant = counted(tenant_name, endpoint)
    grant = bearer(tenant)
    job = current().exports.get(job_id)
    if job is None or job.tenant != tenant.name or job.client_id != grant.client_id:
        raise ExportError(404, "not-found", "Unknown, deleted or expired export job.")
    missing = [t for t in job.types if not system_allows(grant.scope, t, _perms(t))]
    if missing:
        _forbid(f"insufficient_scope: the token does not cover the exported {', '.join(missing)}.")
    return tenant, job


@bp.route("/<tenant>/bulk/status/<job_id>", methods=["GET"])
def status(tenant, job_id):
    """202 with ``X-Progress`` while working; then 200 and the manifest."""
    tenant, job = _job(tenant, job_id, STATUS)
    exports = current().exports
    if not job.ready():
        return Response(status=202, headers={"X-Progress": f"{exports.progress(job)}% complete",
                                             "Retry-After": "1"})
    outputs = exports.outputs(job, _resources(tenant, job))
    base = f"{tenant.root}/bulk/files/{job.id}"
    manifest = {"transactionTime": job.transaction_time, "request": job.request_url,
                "requiresAccessToken": True,
                "output": [{"type": f["type"], "url": f"{base}/{f['name']}.ndjson", "count": f["count"]}
                           for f in outputs],
                "error": []}
    response = jsonify(manifest)
    response.headers["Expires"] = _http_date(job.expires_at)
    return response


@bp.route("/<tenant>/bulk/status/<job_id>", methods=["DELETE"])
def delete(tenant, job_id):
    """Cancel or clean up a job: 202, and the job and its files are gone."""
    _tenant, job = _job(tenant, job_id, STATUS)
    current().exports.delete(job.id)
    return Response(status=202)


@bp.route("/<tenant>/bulk/files/<job_id>/<name>.ndjson")
def output_file(tenant, job_id, name):
    """One NDJSON file of a complete job, streamed from disk."""
    _tenant, job = _job(tenant, job_id, FILE)
    path = current().exports.file_path(job, name)
    if path is None or not path.exists():
        raise ExportError(404, "not-found", "No such file in this export.")
    return Response(_stream(path), 200, mimetype=NDJSON)


def _stream(path):
    with open(path, "rb") as handle:
        while chunk := handle.read(64 * 1024):
            yield chunk


def _resources(tenant: Tenant, job: Job):
    """``(type, resource)`` for every resource the job exports, shaped as this tenant serves them."""
    data, export = current().data, job.request
    members = set(job.patients)
    for rtype, resource in data.owned(set(job.types) - {"Binary"}, members):
        if _picked(rtype, resource, export):
            yield rtype, shape(tenant, resource)
    if "Binary" in job.types:
        for binary in _binaries(tenant, members):
            if _picked("Binary", binary, export):
                yield "Binary", binary


def _picked(rtype: str, resource: dict, export) -> bool:
    if export.since is not None:
        updated = last_updated(resource)
        if updated is None or updated <= export.since:
            return False
    alternatives = export.filters.get(rtype)
    return not alternatives or any(all(matches(resource, name, value) for name, value in params)
                                   for params in alternatives)


def _binaries(tenant: Tenant, members: set[str]):
    """The Binaries the members' notes and reports point at, each once."""
    data, seen = current().data, set()
    for _rtype, resource in data.owned({"DocumentReference", "DiagnosticReport"}, members):
        served = shape(tenant, resource)
        attachments = [c.get("attachment", {}) for c in served.get("content", [])] + served.get("presentedForm", [])
        for attachment in attachments:
            url = attachment.get("url") or ""
            rid = url.rsplit("Binary/", 1)[1] if url.startswith(("Binary/", f"{tenant.fhir_base}/Binary/")) else None
            binary = data.get("Binary", rid) if rid else None
            if binary is not None and rid not in seen:
                seen.add(rid)
                yield binary


def _http_date(expires_at: float) -> str:
    return formatdate(time.time() + (expires_at - time.monotonic()), usegmt=True)


@bp.route("/_sandbox/bulk", methods=["POST"])
def control_bulk():
    """Change the export settings at run time: ``{"export_seconds", "file_lines", "max_jobs"}``
    (each optional); answers the current values."""
    exports, body = current().exports, request.get_json(silent=True) or {}
    try:
        if "export_seconds" in body:
            exports.seconds = max(0.0, float(body["export_seconds"]))
        if "file_lines" in body:
            exports.file_lines = max(1, int(body["file_lines"]))
        if "max_jobs" in body:
            exports.max_jobs = max(1, int(body["max_jobs"]))
    except (TypeError, ValueError):
        return jsonify(error="export_seconds, file_lines and max_jobs are numbers"), 400
    return jsonify(export_seconds=exports.seconds, file_lines=exports.file_lines, max_jobs=exports.max_jobs)


@bp.route("/_sandbox/exports", methods=["GET"])
def control_exports():
    """Every live export job: id, tenant, client, whether complete, its patient count."""
    return jsonify([{"id": j.id, "tenant": j.tenant, "client_id": j.client_id, "complete": j.ready(),
                     "patients": len(j.patients), "types": list(j.types)} for j in current().exports.jobs()])
