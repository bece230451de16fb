"""CDS Hooks 2.0 service: ``patient-view`` screens the record on chart open and, when it carries a
rare-disease signal, returns one card that opens RaDaR, while RaDaR starts reasoning in the
background. A JSON API, kept apart from the clinician UI.

Data comes from prefetch first; what is missing is read from ``fhirServer`` with
``fhirAuthorization``; neither → 412. Every call must carry a client JWT (``app.cds_auth``);
any failure there is a bare 401.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request

from .. import audit
from ..inference import jobs
from .auth import CdsAuthError, verify
from ..fetch.fhir import FhirClient, RelaunchRequired, fetch_record, valid_resources
from ..fetch.notes import Unreadable, decode_base64, note_stub, read_note
from ..pipeline import ENGINE_LABEL, analyse
from ..fetch.record import EXCLUDED_STATUSES, PatientRecord

bp = Blueprint("cds", __name__, url_prefix="/cds-services")
log = logging.getLogger("radar.cds")

SERVICE_ID = "radar-patient-view"
MAX_BODY = 20 * 1024 * 1024
CARD_CANDIDATES = 3  # diseases listed on the card; the app shows the full ranking
FEEDBACK = "radar:cds-feedback"
PREFETCH = {  # keys are also the names of app.fhir's fetchers
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}&category=problem-list-item,encounter-diagnosis,health-concern",
    "labs": "Observation?patient={{context.patientId}}&category=laboratory&_count=200",
    "notes": "DocumentReference?patient={{context.patientId}}&category=clinical-note&_count=50",
}
SERVICE = {
    "hook": "patient-view",
    "id": SERVICE_ID,
    "title": "RaDaR rare-disease screen",
    "description": "Screens the open patient's problems, laboratory results and notes against Orphanet "
                   "rare diseases (HPO phenotype match) and, when there is a signal, offers RaDaR's "
                   "reasoning in the chart.",
    "prefetch": PREFETCH,
    "usageRequirements": "Grant read access to Patient, Condition, Observation (laboratory), "
                         "DocumentReference and Binary; register the RaDaR SMART launch URL.",
}


class BadRequest(ValueError):
    """The hook request is malformed; the message is a short reason safe to return."""


class Unobtainable(Exception):
    """Needed data is neither prefetched nor fetchable: HTTP 412."""


def _ext(name: str):
    return current_app.extensions[f"radar.{name}"]


@bp.before_request
def allow_large_prefetch():
    """Prefetch can be large (labs, notes); other endpoints keep the app's 1 MB limit."""
    request.max_content_length = MAX_BODY


@bp.get("")
def discovery():
    """The services this CDS service offers (no PHI, no token needed)."""
    return jsonify({"services": [SERVICE]})


@bp.post("/<service_id>")
def call(service_id: str):
    """Run the patient-view screen."""
    if service_id != SERVICE_ID:
        return jsonify({"error": "unknown service"}), 404
    claims = _authenticate(service_id)
    if claims is None:
        return "", 401
    try:
        hook = parse_request(request.get_json(silent=True))
        record = load_record(hook)
    except BadRequest as exc:
        return jsonify({"error": str(exc)}), 400
    except Unobtainable as exc:
        return jsonify({"error": str(exc)}), 412
    kb, settings = _ext("knowledge"), _ext("settings")
    analysis = analyse(record, kb, top=CARD_CANDIDATES)
    audit.record_read(_ext("store"), user=hook["context"].get("userId"), iss=hook.get("fhirServer") or claims["iss"],
                      patient=hook["context"]["patientId"], resource_types=["Patient", "Condition", "Observation",
                                                                            "DocumentReference"],
                      outcome="cds", detail={"hook": "patient-view", "client": claims["iss"]})
    thresholds = settings.cds_thresholds
    card = decide(analysis, thresholds)
    if card is None:
        return jsonify({"cards": []})
    case = _start_radar(record, analysis, hook)
    return jsonify({"cards": [render_card(card, analysis, case)]})


@bp.post("/<service_id>/feedback")
def feedback(service_id: str):
    """Store accepted / overridden outcomes (``radar feedback export`` writes them out)."""
    if service_id != SERVICE_ID:
        return jsonify({"error": "unknown service"}), 404
    claims = _authenticate(f"{service_id}/feedback")
    if claims is None:
        return "", 401
    try:
        entries = parse_feedback(request.get_json(silent=True))
    except BadRequest as exc:
        return jsonify({"error": str(exc)}), 400
    store = _ext("store")
    received = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for entry in entries:
        store.redis.rpush(FEEDBACK, json.dumps({**entry, "service": service_id, "client": claims["iss"],
                                                "received": received}, sort_keys=True))
    return jsonify({})


def _authenticate(path: str) -> dict | None:
    settings = _ext("settings")
    base = settings.public_url or request.host_url.rstrip("/")
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    try:
        return verify(token, audience=f"{base}/cds-services/{path}", clients=settings.cds_clients,
                      store=_ext("store"), http=_ext("http"))
    except CdsAuthError as exc:
        log.warning("CDS call refused: %s", exc)
        return None


# --- request parsing (pure) -----------------------------------------------------------------

def parse_request(body: object) -> dict:
    """Validate a patient-view request; returns it."""
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


def _resources(value: object, key: str, resource_type: str, warnings: list[str]) -> list[dict]:
    if value is None:  # "no data" (CDS Hooks: a key whose query found nothing may be null)
        return []
    if not isinstance(value, dict) or value.get("resourceType") not in ("Bundle", "OperationOutcome"):
        raise BadRequest(f"prefetch.{key} must be a Bundle")
    if value["resourceType"] == "OperationOutcome":
        return []
    out = []
    for entry in value.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
            out.append(resource)
    return valid_resources(out, warnings)


def load_record(hook: dict) -> PatientRecord:
    """The PatientRecord from prefetch, completed from the FHIR server where prefetch lacks a key."""
    patient_id = hook["context"]["patientId"]
    prefetch = hook.get("prefetch") or {}
    record = PatientRecord(patient_id=patient_id)
    missing = [k for k in PREFETCH if k not in prefetch]
    client = _client(hook) if missing or _needs_binary(prefetch.get("notes")) else None
    if missing and client is None:
        raise Unobtainable(f"prefetch lacks {', '.join(missing)} and no fhirAuthorization was given")
    if "patient" in prefetch:
        patient = prefetch["patient"]
        if patient is not None and (not isinstance(patient, dict) or patient.get("resourceType") != "Patient"):
            raise BadRequest("prefetch.patient must be a Patient")
        if patient is not None and patient.get("id") not in (None, patient_id):
            raise BadRequest("prefetch.patient does not match context.patientId")
        record.patient = patient
    if "conditions" in prefetch:
        record.conditions = _resources(prefetch["conditions"], "conditions", "Condition", record.warnings)
    if "labs" in prefetch:
        record.observations = [o for o in _resources(prefetch["labs"], "labs", "Observation", record.warnings)
                               if o.get("status") not in EXCLUDED_STATUSES]
    if "notes" in prefetch:
        docs = _resources(prefetch["notes"], "notes", "DocumentReference", record.warnings)
        record.notes = [read_note(note, att, _attachment_reader(client)) for note, att in filter(None, map(note_stub, docs))]
    if missing:
        _fetch_missing(client, patient_id, missing, record)
    return record


def _needs_binary(notes: object) -> bool:
    if not isinstance(notes, dict):
        return False
    return any(not (c.get("attachment") or {}).get("data") for e in notes.get("entry") or [] if isinstance(e, dict)
               for c in (e.get("resource") or {}).get("content") or [] if isinstance(c, dict))


class _StaticToken:
    def __init__(self, token: str):
        self.token = token

    def get(self, rejected: str | None = None) -> str:
        if rejected is not None:
            raise RelaunchRequired()
        return self.token


def _client(hook: dict) -> FhirClient | None:
    auth = hook.get("fhirAuthorization")
    if not auth:
        return None
    return FhirClient(_ext("http"), hook["fhirServer"], _StaticToken(auth["access_token"]), timeout=5.0)


def _attachment_reader(client: FhirClient | None):
    def read(attachment: dict) -> bytes:
        if client is not None:
            return client.attachment(attachment)  # inline data or a Binary read
        if attachment.get("data") is not None:
            return decode_base64(attachment["data"])
        raise Unreadable("note content not prefetched")
    return read


def _fetch_missing(client: FhirClient, patient_id: str, missing: list[str], record: PatientRecord) -> None:
    try:
        fetch_record(client, patient_id, sections=missing, record=record)
    except RelaunchRequired:
        raise Unobtainable("the FHIR server refused the fhirAuthorization token") from None


# --- decision and card (pure) -----------------------------------------------------------------

def decide(analysis, thresholds: dict) -> dict | None:
    """Whether the record carries a rare-disease signal, and how strong: ``{"indicator"}`` or None."""
    if analysis.too_few or not analysis.suggestions:
        return None
    best = len(analysis.suggestions[0].matching)
    if len(analysis.profile.present) < thresholds["min_phenotypes"] or best < thresholds["min_matching"]:
        return None
    return {"indicator": "warning" if best >= thresholds["warning_matching"] else "info"}


def render_card(decision: dict, analysis, case_id: str | None) -> dict:
    """One card: summary, detail with Orphanet links, source, and a SMART link that opens RaDaR."""
    top = analysis.suggestions
    n = len(analysis.profile.present)
    summary = f"Possible rare disease: {top[0].name}"
    tail = f" (+{len(top) - 1} more) — {n} findings match" if len(top) > 1 else f" — {n} findings match"
    summary = (summary + tail) if len(summary + tail) <= 140 else summary[:139] + "…"
    lines = [f"{ENGINE_LABEL}, from {n} findings in the record (problems, labs, notes):", ""]
    for s in top:
        matches = ", ".join(_md(m["label"]) for m in s.matching[:5]) or "—"
        lines.append(f"{s.rank}. [{_md(s.name)}]({s.url}) — matches: {matches}")
    lines += ["", "Open RaDaR to review the findings and its reasoning. Decision support only."]
    base = _ext("settings").public_url or request.host_url.rstrip("/")
    link = {"label": "Open RaDaR", "url": f"{base}/launch", "type": "smart"}
    if case_id:
        link["appContext"] = json.dumps({"case": case_id})
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": decision["indicator"],
        "detail": "\n".join(lines),
        "source": {"label": "RaDaR rare-disease navigator", "url": f"{base}/",
                   "topic": {"system": "https://radar.example/cds-topic", "code": "radar-rare-disease-screen",
                             "display": "Rare-disease screen"}},
        "links": [link],
        "overrideReasons": [
            {"system": "https://radar.example/cds-override", "code": "already-considered",
             "display": "Already considered"},
            {"system": "https://radar.example/cds-override", "code": "not-relevant", "display": "Not relevant"},
        ],
    }


def _md(text: str) -> str:
    return "".join("\\" + ch if ch in "[]()*_`<>#|" else ch for ch in text)


def _start_radar(record: PatientRecord, analysis, hook: dict) -> str | None:
    """Queue RaDaR for this case now, so a launch within minutes finds it running or done."""
    settings = _ext("settings")
    if settings.model is None:
        return None
    from ..case.narrative import build_narrative

    narrative = build_narrative(record, analysis.profile, budget_tokens=settings.narrative_tokens,
                                deidentify=settings.deidentify)
    owner = f"{(hook.get('fhirServer') or '').rstrip('/')}|{hook['context']['patientId']}"
    return jobs.submit(_ext("store"), _ext("rq"), settings.model, narrative.text, owner=owner,
                       present=[p.hpo for p in analysis.profile.present], absent=[p.hpo for p in analysis.profile.absent],
                       grace=settings.job_stale_grace)


def parse_feedback(body: object) -> list[dict]:
    """Validate a feedback body; returns its entries (Epic's ``overrideReasons`` accepted too)."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise BadRequest("feedback must be a non-empty list")
    out = []
    for i, item in enumerate(body["feedback"][:100]):
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


def export_feedback(store) -> list[dict]:
    """All stored feedback, oldest first."""
    return [json.loads(x) for x in store.redis.lrange(FEEDBACK, 0, -1)]

