"""The CDS Hooks door: prefetch first, then the FHIR server with ``fhirAuthorization``, else 412.

Prefetch keys are the names of the FHIR queries (``app.fetch.fhir.QUERIES``), so a key the EHR
did not prefetch is fetched by exactly the query the chart runs, and the resources of both go
through the same record builder. Prefetch must be the patient's own: a Patient with another id,
or a resource whose ``subject`` (or ``patient``) is not a literal reference to the hook's patient
(``Patient/<id>``, relative or on the hook's ``fhirServer``), is a bad request, never part of the
record: an identifier or a display alone could name anyone.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx

from ..record import PatientRecord
from .build import LeftOut, add_left_out, build_record, bundle_resources, valid_resources
from .fhir import FhirClient, RelaunchRequired, fetch_resources

PREFETCH = {  # keys are the names of app.fetch.fhir's queries
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}&category=problem-list-item,encounter-diagnosis,health-concern",
    "labs": "Observation?patient={{context.patientId}}&category=laboratory&_count=200",
    "notes": "DocumentReference?patient={{context.patientId}}&category=clinical-note&_count=50",
    "reports": "DiagnosticReport?patient={{context.patientId}}&_count=50",
}
RESOURCE_TYPES = {"conditions": "Condition", "labs": "Observation", "notes": "DocumentReference",
                  "reports": "DiagnosticReport"}
# Reports were added to the templates later: an EHR registered with the first four keys still gets
# a card, and the record says that reports could not be read.
OPTIONAL = {"reports"}
FHIR_TIMEOUT = 5.0
# Patient/<id>, optionally versioned; group 1 is the id. An absolute one is this after the FHIR base.
SUBJECT = re.compile(r"Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?")
PATIENT_ELEMENTS = ("subject", "patient")
# Why a missing key could not be fetched: (the 412's words, a warning's words).
NO_AUTHORIZATION = ("no fhirAuthorization was given", "no fhirAuthorization to fetch them")
SERVER_REFUSED = ("the fhirServer named is not one this CDS client may name (its fhir_servers), so it was not "
                  "contacted", "the fhirServer named is not registered for this client")


class BadRequest(ValueError):
    """The hook request is malformed; the message is a short reason safe to return."""


class Unobtainable(Exception):
    """Needed data is neither prefetched nor fetchable: HTTP 412."""


class StaticToken:
    """The ``fhirAuthorization`` access token: it cannot be refreshed."""

    def __init__(self, token: str):
        self.token = token

    def get(self, rejected: str | None = None) -> str:
        """The token; a rejected token means the data cannot be had."""
        if rejected is not None:
            raise RelaunchRequired()
        return self.token


def prefetched(prefetch: dict, patient_id: str, fhir_server: str | None = None,
               left_out: LeftOut | None = None) -> tuple[list[dict], list[str]]:
    """(resources, warnings) from the prefetch keys present; a malformed key is BadRequest (pure).

    ``fhir_server`` is the hook's FHIR base: absolute references to the patient must be on it.
    Bundle entries holding no FHIR resource are counted in ``left_out`` when given.
    """
    resources: list[dict] = []
    warnings: list[str] = []
    patient = prefetch.get("patient")
    if patient is not None:
        if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
            raise BadRequest("prefetch.patient must be a Patient")
        if patient.get("id") in (None, ""):
            raise BadRequest("prefetch.patient has no id")
        if patient["id"] != patient_id:
            raise BadRequest("prefetch.patient does not match context.patientId")
        if not valid_resources([patient], []):
            raise BadRequest("prefetch.patient is not a valid FHIR R4 Patient")
        resources.append(patient)
    for key, resource_type in RESOURCE_TYPES.items():
        value = prefetch.get(key)
        if value is None:  # not prefetched, or "no data" (a key whose query found nothing may be null)
            continue
        if not isinstance(value, dict) or value.get("resourceType") not in ("Bundle", "OperationOutcome"):
            raise BadRequest(f"prefetch.{key} must be a Bundle")
        if value["resourceType"] == "Bundle":
            found = bundle_resources(value, warnings, [resource_type], left_out)
            for problem in filter(None, (_not_of_patient(res, patient_id, fhir_server) for res in found)):
                article = "an" if resource_type[0] in "AEIOU" else "a"
                raise BadRequest(f"prefetch.{key} holds {article} {resource_type} {problem}")
            resources.extend(found)
    return resources, warnings


def _not_of_patient(resource: dict, patient_id: str, fhir_server: str | None) -> str | None:
    """Why ``resource`` is not provably Patient/``patient_id``'s, or None when every patient element
    (``subject``, ``patient``) is a literal reference to that patient."""
    named = [resource[name] for name in PATIENT_ELEMENTS if name in resource]
    references = [ref.get("reference") if isinstance(ref, dict) else None for ref in named]
    if not references or not all(isinstance(ref, str) for ref in references):
        return "without a literal reference to the patient (subject.reference)"
    if not all(_is_patient(ref, patient_id, fhir_server) for ref in references):
        return "of another patient"
    return None


def _is_patient(reference: str, patient_id: str, fhir_server: str | None) -> bool:
    base = f"{fhir_server.rstrip('/')}/" if fhir_server else None
    if base and reference.startswith(base):
        reference = reference[len(base):]
    match = SUBJECT.fullmatch(reference)
    return match is not None and match.group(1) == patient_id


def record_from_hook(hook: dict, http: httpx.Client, *, server_allowed: bool = True) -> PatientRecord:
    """The PatientRecord of a validated patient-view request: prefetch, completed from ``fhirServer``.

    ``server_allowed`` is the caller's verdict on the hook's ``fhirServer`` (``app.cds.hook``): when
    False that server is never contacted and the ``fhirAuthorization`` token never sent; the
    prefetch alone makes the record, and what it lacks is said (or, when required, a 412).
    """
    patient_id = hook["context"]["patientId"]
    prefetch = hook.get("prefetch") or {}
    server = hook.get("fhirServer")
    left_out: LeftOut = {}
    resources, warnings = prefetched(prefetch, patient_id, server if isinstance(server, str) else None, left_out)
    missing = [k for k in PREFETCH if k not in prefetch]
    client = _client(hook, http) if server_allowed else None
    if client is None:
        reason = SERVER_REFUSED if hook.get("fhirAuthorization") and not server_allowed else NO_AUTHORIZATION
        required = [k for k in missing if k not in OPTIONAL]
        if required:
            raise Unobtainable(f"prefetch lacks {', '.join(required)}, and {reason[0]}")
        why = f"not prefetched, and {reason[1]}"
        warnings += [f"{k} not available: {why}" for k in missing]
        return build_record(patient_id, resources, warnings=warnings, partial={"notes": [f"{k}: {why}" for k in missing]},
                            missing_content="note content not prefetched", left_out=left_out)
    with ThreadPoolExecutor(max_workers=8) as pool:
        try:
            fetched = fetch_resources(client, patient_id, missing, pool)
            return build_record(patient_id, resources + fetched.resources, read_url=client.read_binary,
                                unavailable=fetched.unavailable, partial=fetched.partial,
                                warnings=warnings + fetched.warnings,
                                left_out=add_left_out(left_out, fetched.left_out), map_notes=pool.map)
        except RelaunchRequired:
            raise Unobtainable("the FHIR server refused the fhirAuthorization token") from None


def _client(hook: dict, http: httpx.Client) -> FhirClient | None:
    auth = hook.get("fhirAuthorization")
    if not auth:
        return None
    return FhirClient(http, hook["fhirServer"], StaticToken(auth["access_token"]), timeout=FHIR_TIMEOUT)
