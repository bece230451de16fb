"""CDS Hooks 2.0 as data: the service's discovery entry, and validation of what a client sends (pure)."""
from __future__ import annotations

import re
from collections.abc import Collection

from ..config import Settings
from ..config.cds import CdsClient
from ..fetch.prefetch import PREFETCH, BadRequest

SERVICE_ID = "radar-patient-view"
SERVICE = {
    "hook": "patient-view",
    "id": SERVICE_ID,
    "title": "RaDaR rare-disease screen",
    "description": "Screens the open patient's problems, laboratory results and notes against Orphanet "
                   "rare diseases (HPO phenotype match) and, when the probability of a rare disease not "
                   "yet on the problem list passes the configured threshold, offers RaDaR's reasoning "
                   "in the chart.",
    "prefetch": PREFETCH,
    "usageRequirements": "Grant read access to Patient, Condition, Observation (laboratory), "
                         "DocumentReference, DiagnosticReport and Binary; register the RaDaR SMART launch URL.",
}
MAX_FEEDBACK = 100
# Prefetch nests a dozen levels (prefetch → Bundle → entry → resource → coding → extension); far
# deeper JSON is an attack on the parsers and the recursive FHIR models behind them.
MAX_DEPTH = 64
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

__all__ = ["BadRequest", "SERVICE", "SERVICE_ID", "parse_request", "parse_feedback", "allowed_servers",
           "fhir_server_for"]


def parse_request(body: object) -> dict:
    """Validate a patient-view request; returns it. Anything malformed is BadRequest (HTTP 400)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if too_deep(body, MAX_DEPTH):
        raise BadRequest(f"the body is nested too deeply (more than {MAX_DEPTH} levels)")
    if body.get("hook") != "patient-view":
        raise BadRequest("hook must be patient-view")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise BadRequest("hookInstance is required")
    context = body.get("context")
    if not isinstance(context, dict) or context.get("patientId") in (None, ""):
        raise BadRequest("context.patientId is required")
    # The id goes into FHIR URLs (Patient/{id}, ?patient={id}): nothing but an id may get there.
    if not isinstance(context["patientId"], str) or not FHIR_ID.fullmatch(context["patientId"]):
        raise BadRequest("context.patientId must be a FHIR id ([A-Za-z0-9-.], at most 64)")
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


def too_deep(value: object, limit: int) -> bool:
    """True when JSON ``value`` nests lists and objects more than ``limit`` levels (checked without recursion)."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            return True
        below = []
        for item in level:
            for child in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()):
                if isinstance(child, (dict, list)):
                    below.append(child)
        level, depth = below, depth + 1
    return False


def allowed_servers(client: CdsClient, settings: Settings) -> tuple[str, ...]:
    """The FHIR bases ``client`` may name as ``fhirServer`` (normalised, no trailing slash).

    Its ``fhir_servers`` when configured; otherwise its own ``iss`` when that is also a registered
    EHR's FHIR base (Epic signs CDS calls with the organisation's FHIR base as ``iss``); else none.
    """
    if client.fhir_servers is not None:
        return client.fhir_servers
    return (client.iss,) if settings.ehr_for(client.iss) is not None else ()


def fhir_server_for(hook: dict, allowed: Collection[str]) -> str | None:
    """The hook's ``fhirServer`` (normalised) when it is one of ``allowed``; else None: never contact it."""
    server = hook.get("fhirServer")
    if not isinstance(server, str):
        return None
    server = server.rstrip("/")
    return server if server in allowed else None


def parse_feedback(body: object) -> list[dict]:
    """Validate a feedback body; returns its entries (Epic's ``overrideReasons`` accepted too)."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise BadRequest("feedback must be a non-empty list")
    if too_deep(body, MAX_DEPTH):
        raise BadRequest(f"the body is nested too deeply (more than {MAX_DEPTH} levels)")
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
