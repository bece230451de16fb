"""The FHIR R4 API of each tenant: bearer token and scope checks, patient compartment, reads,
searches with paging, Binary content negotiation, flavour quirks and injected faults. A backend
services token (``system/`` scopes) reads and searches any patient's data and the Groups."""
from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from .discovery import SEARCHABLE, fhir_json
from .flavours import EPIC_OUTCOME_SYSTEM, Tenant
from .runtime import current
from .scopes import access
from .session import Grant

bp = Blueprint("sandbox_fhir", __name__)

READABLE = {"Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport",
            "Binary", "Encounter", "Practitioner", "Group"}
# Group is outside every patient compartment too, but a patient token must not list the population.
NOT_IN_COMPARTMENT = {"Practitioner"}
CONTROL_PARAMS = {"patient", "subject", "category", "code", "_count"}
FHIR_JSON_TYPES = {"application/fhir+json", "application/json+fhir"}


class FhirError(Exception):
    """An error answered with an OperationOutcome."""

    def __init__(self, status: int, code: str, text: str, headers: dict | None = None,
                 severity: str = "error", details: dict | None = None):
        super().__init__(text)
        self.status, self.code, self.text = status, code, text
        self.headers, self.severity, self.details = headers or {}, severity, details


def operation_outcome(severity: str, code: str, text: str, details: dict | None = None) -> dict:
    """An OperationOutcome with one issue."""
    issue = {"severity": severity, "code": code, "diagnostics": text}
    issue["details"] = details or {"text": text}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def epic_outcome(code: str, text: str) -> dict:
    """An Epic-style warning OperationOutcome (Epic's code system, e.g. 4119, 4101, 4122)."""
    details = {"coding": [{"system": EPIC_OUTCOME_SYSTEM, "code": code, "display": text}], "text": text}
    return operation_outcome("warning", "informational" if code != "4122" else "not-supported",
                             text, details)


@bp.errorhandler(FhirError)
def fhir_error_response(error: FhirError):
    """An OperationOutcome response for a ``FhirError``."""
    body = operation_outcome(error.severity, error.code, error.text, error.details)
    response = fhir_json(body, error.status)
    response.headers.update(error.headers)
    return response


def _tenant(name: str) -> Tenant:
    tenant = current().tenants.get(name)
    if tenant is None:
        raise FhirError(404, "not-found", f"Unknown tenant {name}.")
    return tenant


def bearer(tenant: Tenant) -> Grant:
    """The live grant behind the request's bearer token for this tenant; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    grant = current().state.access_grant(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None or grant.tenant != tenant.name:
        raise FhirError(401, "login", "Missing, invalid or expired access token.",
                        {"WWW-Authenticate": 'Bearer error="invalid_token", '
                                             'error_description="missing, invalid or expired token"'})
    return grant


def _forbid(text: str):
    raise FhirError(403, "forbidden", text,
                    {"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
                    details={"coding": [{"system": "urn:ietf:rfc:6750", "code": "insufficient_scope"}],
                             "text": text})


def _authorize(grant: Grant, rtype: str, perm: str) -> str:
    mode = access(grant.scope, rtype, perm)
    if mode is None:
        _forbid(f"insufficient_scope: the token has no scope to {'read' if perm == 'r' else 'search'} {rtype}.")
    return mode


def counted(tenant_name: str, resource: str) -> Tenant:
    """The tenant (404 when unknown), after counting the request and applying any injected fault
    for ``resource`` (a resource type, or a Bulk endpoint name)."""
    sandbox = current()
    tenant = _tenant(tenant_name)
    sandbox.state.count_request(tenant.name, resource)
    fault = sandbox.state.take_fault(tenant.name, resource)
    if fault is not None:
        if fault.mode == "timeout":
            time.sleep(fault.seconds)
        elif fault.mode == "malformed":
            raise Malformed()
        else:
            status = int(fault.mode)
            code = {429: "throttled", 503: "transient"}.get(status, "exception")
            headers = {"Retry-After": str(fault.retry_after)} if status in (429, 503) else {}
            raise FhirError(status, code, f"Injected fault {status}.", headers)
    return tenant


def _guard(tenant_name: str, rtype: str) -> tuple[Tenant, Grant]:
    """What every resource request goes through: tenant, counters, faults, token, known type."""
    tenant = counted(tenant_name, rtype)
    grant = bearer(tenant)
    if rtype not in READABLE:
        raise FhirError(404, "not-supported", f"Unknown resource type {rtype}.")
    return tenant, grant


class Malformed(Exception):
    """Answer 200 with a body that is not valid JSON."""


@bp.errorhandler(Malformed)
def malformed_response(_error):
    """The answer of an injected ``malformed`` fault: 200 with truncated JSON."""
    return Response('{"resourceType": "Bundle", "entry": [', 200, mimetype="application/fhir+json")


def shape(tenant: Tenant, resource: dict) -> dict:
    """A resource as this tenant serves it (notes inline or pointing to ``Binary/``)."""
    if resource["resourceType"] == "DocumentReference":
        return current().data.note_for_flavour(resource, tenant.flavour.inline_note_data)
    return resource


@bp.route("/<tenant>/fhir/<rtype>/<rid>")
def read(tenant, rtype, rid):
    """Read one resource; Binary honours the Accept header."""
    tenant, grant = _guard(tenant, rtype)
    mode = _authorize(grant, rtype, "r")
    data = current().data
    resource = data.get(rtype, rid)
    if resource is None:
        raise FhirError(404, "not-found", f"{rtype}/{rid} does not exist.")
    owner = rid if rtype == "Patient" else data.patient_of.get((rtype, rid))
    if mode == "patient" and rtype not in NOT_IN_COMPARTMENT and owner != grant.context.patient:
        _forbid(f"{rtype}/{rid} belongs to another patient than the token's.")
    if rtype == "Binary":
        return _binary(tenant, resource)
    return fhir_json(shape(tenant, resource))


def _binary(tenant: Tenant, binary: dict):
    content_type = binary.get("contentType", "application/octet-stream")
    offered = [value.lower() for value, quality in request.accept_mimetypes if quality > 0] or ["*/*"]
    for value in offered:
        if value in FHIR_JSON_TYPES or (value == "application/json" and tenant.flavour.binary_wildcard_is_raw
                                        and content_type != "application/json"):
            return fhir_json(binary)
        if value == content_type.lower() or (value == "*/*" and tenant.flavour.binary_wildcard_is_raw):
            try:
                content = base64.b64decode(binary.get("data", ""))
            except binascii.Error as error:
                raise FhirError(500, "exception", "The stored content of this Binary is corrupt.") from error
            return Response(content, 200, content_type=content_type)
    raise FhirError(406, "not-supported",
                    f"Accept must be application/fhir+json or {content_type} for this Binary.")


@bp.route("/<tenant>/fhir/<rtype>", methods=["GET"])
@bp.route("/<tenant>/fhir/<rtype>/_search", methods=["POST"])
def search(tenant, rtype):
    """Search by patient (and category/code), paged with opaque ``next`` links."""
    tenant, grant = _guard(tenant, rtype)
    if rtype not in SEARCHABLE:
        raise FhirError(400, "not-supported", f"Search is not supported on {rtype}.")
    mode = _authorize(grant, rtype, "s")
    params = request.values
    if "_page" in params:
        return _next_page(tenant, grant, mode, rtype, params["_page"])
    patient = _patient_param(params)
    if mode == "patient" and patient != grant.context.patient:
        _forbid("The token may only search its own patient's data.")
    if tenant.flavour.observation_needs_category and rtype == "Observation" and not (
            params.get("category") or params.get("code")):
        raise FhirError(400, "required", "Either the category or code parameter must be specified.",
                        severity="fatal")
    results = current().data.of_patient(rtype, patient)
    for name in ("category", "code"):
        if params.get(name):
            results = [r for r in results if matches(r, name, params[name])]
    ignored = sorted(set(params) - CONTROL_PARAMS)
    count = tenant.flavour.page_size(rtype, params.get("_count"))
    self_url = f"{tenant.fhir_base}/{rtype}?{urlencode(list(params.items(multi=True)))}"
    page = {"tenant": tenant.name, "type": rtype, "patient": patient, "count": count,
            "ids": [r["id"] for r in results], "ignored": ignored}
    return fhir_json(_bundle(tenant, page, 0, self_url))


def _next_page(tenant: Tenant, grant: Grant, mode: str, rtype: str, token: str):
    state = current().state
    page = state.page(token)
    if page is None or page["tenant"] != tenant.name or page["type"] != rtype:
        raise FhirError(404, "not-found", "Unknown or expired paging session.")
    if mode == "patient" and page["patient"] != grant.context.patient:
        _forbid("The token may only search its own patient's data.")
    return fhir_json(_bundle(tenant, page, page["offset"], f"{tenant.fhir_base}/{rtype}?_page={token}"))


def _bundle(tenant: Tenant, page: dict, offset: int, self_url: str) -> dict:
    data = current().data
    rtype, ids, count = page["type"], page["ids"], page["count"]
    entries = [{"fullUrl": f"{tenant.fhir_base}/{rtype}/{rid}",
                "resource": shape(tenant, data.get(rtype, rid)),
                "search": {"mode": "match"}} for rid in ids[offset:offset + count]]
    links = [{"relation": "self", "url": self_url}]
    if offset + count < len(ids):
        token = current().state.save_page({**page, "offset": offset + count})
        links.append({"relation": "next", "url": f"{tenant.fhir_base}/{rtype}?_page={token}"})
    if tenant.flavour.search_outcomes:
        outcomes = [epic_outcome("4119", "This response may not contain the entire record.")]
        if not ids:
            outcomes.append(epic_outcome("4101", "Resource request returns no results."))
        outcomes += [epic_outcome("4122", f"The {name} parameter was ignored.") for name in page["ignored"]]
        entries += [{"fullUrl": f"urn:uuid:outcome-{n}", "resource": o, "search": {"mode": "outcome"}}
                    for n, o in enumerate(outcomes)]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(ids), "link": links,
            "entry": entries}


def _patient_param(params) -> str:
    value = params.get("patient") or params.get("subject")
    if not value:
        raise FhirError(400, "required", "A patient (or subject) parameter is required.")
    # Accept "123", "Patient/123" and absolute "https://…/Patient/123".
    if "Patient/" in value:
        value = value.rsplit("Patient/", 1)[1]
    return value


def _codings(resource: dict, name: str) -> list[dict]:
    concepts = resource.get(name) or []
    if isinstance(concepts, dict):
        concepts = [concepts]
    return [c for concept in concepts for c in concept.get("coding", [])]


def matches(resource: dict, name: str, value: str) -> bool:
    """Token search: comma = OR; ``system|code``, ``|code`` or plain ``code``."""
    codings = _codings(resource, name)
    for token in value.split(","):
        system, bar, code = token.rpartition("|")
        for coding in codings:
            if coding.get("code") == code and (not bar or coding.get("system", "") == system):
                return True
    return False
