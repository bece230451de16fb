"""The CDS Hooks door: prefetch first, then the FHIR server with ``fhirAuthorization``, else 412.

Prefetch keys are the names of the FHIR queries (``app.fetch.fhir.QUERIES``), so a key the EHR
did not prefetch is fetched by exactly the query the chart runs, and the resources of both go
through the same record builder.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from .build import build_record, bundle_resources
from .fhir import FhirClient, RelaunchRequired, fetch_resources
from .record import PatientRecord

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


def prefetched(prefetch: dict, patient_id: str) -> tuple[list[dict], list[str]]:
    """(resources, warnings) from the prefetch keys present; a malformed key is BadRequest (pure)."""
    resources: list[dict] = []
    warnings: list[str] = []
    patient = prefetch.get("patient")
    if patient is not None:
        if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
            raise BadRequest("prefetch.patient must be a Patient")
        if patient.get("id") not in (None, patient_id):
            raise BadRequest("prefetch.patient does not match context.patientId")
        resources.append(patient)
    for key, resource_type in RESOURCE_TYPES.items():
        value = prefetch.get(key)
        if value is None:  # not prefetched, or "no data" (a key whose query found nothing may be null)
            continue
        if not isinstance(value, dict) or value.get("resourceType") not in ("Bundle", "OperationOutcome"):
            raise BadRequest(f"prefetch.{key} must be a Bundle")
        if value["resourceType"] == "Bundle":
            resources.extend(bundle_resources(value, warnings, [resource_type]))
    return resources, warnings


def record_from_hook(hook: dict, http: httpx.Client) -> PatientRecord:
    """The PatientRecord of a validated patient-view request: prefetch, completed from ``fhirServer``."""
    patient_id = hook["context"]["patientId"]
    prefetch = hook.get("prefetch") or {}
    resources, warnings = prefetched(prefetch, patient_id)
    missing = [k for k in PREFETCH if k not in prefetch]
    client = _client(hook, http)
    if client is None:
        required = [k for k in missing if k not in OPTIONAL]
        if required:
            raise Unobtainable(f"prefetch lacks {', '.join(required)} and no fhirAuthorization was given")
        warnings += [f"{k} not available: not prefetched, and no fhirAuthorization to fetch them" for k in missing]
        return build_record(patient_id, resources, warnings=warnings,
                            missing_content="note content not prefetched")
    with ThreadPoolExecutor(max_workers=8) as pool:
        try:
            fetched = fetch_resources(client, patient_id, missing, pool)
            return build_record(patient_id, resources + fetched.resources, read_url=client.read_binary,
                                unavailable=fetched.unavailable, warnings=warnings + fetched.warnings,
                                map_notes=pool.map)
        except RelaunchRequired:
            raise Unobtainable("the FHIR server refused the fhirAuthorization token") from None


def _client(hook: dict, http: httpx.Client) -> FhirClient | None:
    auth = hook.get("fhirAuthorization")
    if not auth:
        return None
    return FhirClient(http, hook["fhirServer"], StaticToken(auth["access_token"]), timeout=FHIR_TIMEOUT)
