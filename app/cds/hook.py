"""CDS Hooks 2.0 as data: the service's discovery entry, and validation of what a client sends (pure)."""
from __future__ import annotations

from ..fetch.prefetch import PREFETCH, BadRequest

SERVICE_ID = "radar-patient-view"
SERVICE = {
    "hook": "patient-view",
    "id": SERVICE_ID,
    "title": "RaDaR rare-disease screen",
    "description": "Screens the open patient's problems, laboratory results and notes against Orphanet "
                   "rare diseases (HPO phenotype match) and, when there is a signal, offers RaDaR's "
                   "reasoning in the chart.",
    "prefetch": PREFETCH,
    "usageRequirements": "Grant read access to Patient, Condition, Observation (laboratory), "
                         "DocumentReference, DiagnosticReport and Binary; register the RaDaR SMART launch URL.",
}
MAX_FEEDBACK = 100

__all__ = ["BadRequest", "SERVICE", "SERVICE_ID", "parse_request", "parse_feedback"]


def parse_request(body: object) -> dict:
    """Validate a patient-view request; returns it. Anything malformed is BadRequest (HTTP 400)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if body.get("hook") != "patient-view":
        raise BadRequest("hook must be patient-view")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise BadRequest("hookInstance is required")
    context = body.get("context")
    if not isinstance(context, dict) or not isinstance(context.get("patientId"), str) or not context["patientId"]:
        raise BadRequest("context.patientId is required")
    if not isinstance(context.get("userId"), str):
        raise BadRequest("context.userId is required")
    prefetch = body.get("prefetch", {})
    if not isinstance(prefetch, dict):
        raise BadRequest("prefetch must be an object")
    auth = body.get("fhirAuthorization")
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("access_token"), str):
            raise BadRequest("fhirAuthorization.access_token is required")
        if not isinstance(body.get("fhirServer"), str) or not body["fhirServer"].startswith(("https://", "http://")):
            raise BadRequest("fhirServer is required with fhirAuthorization")
    return body


def parse_feedback(body: object) -> list[dict]:
    """Validate a feedback body; returns its entries (Epic's ``overrideReasons`` accepted too)."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise BadRequest("feedback must be a non-empty list")
    out = []
    for i, item in enumerate(body["feedback"][:MAX_FEEDBACK]):
        if not isinstance(item, dict) or not isinstance(item.get("card"), str):
            raise BadRequest(f"feedback[{i}].card is required")
        if item.get("outcome") not in ("accepted", "overridden"):
            raise BadRequest(f"feedback[{i}].outcome must be accepted or overridden")
        reason = item.get("overrideReason") or item.get("overrideReasons")
        if isinstance(reason, list):
            reason = reason[0] if reason else None
        out.append({"card": item["card"], "outcome": item["outcome"],
                    "acceptedSuggestions": item.get("acceptedSuggestions") or [],
                    "overrideReason": reason if isinstance(reason, dict) else None,
                    "outcomeTimestamp": item.get("outcomeTimestamp")})
    return out
