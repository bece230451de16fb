"""FHIR R4 fetch: an httpx client and one named fetcher per clinical question, run concurrently.

Each fetcher fails soft: a 403, a 5xx, a timeout or an unreadable answer marks its section
"not available: why" in the PatientRecord instead of raising or returning an empty list that
would look like "no data". An expired token is refreshed once; a refused refresh means relaunch.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
from fhirclient.models import (condition, diagnosticreport, documentreference, fhirabstractbase, observation,
                               patient)

from . import notes as notes_mod
from .record import EXCLUDED_STATUSES, Note, PatientRecord, text_of

PAGE_SIZE = 100
MAX_PAGES = 50
CONDITION_CATEGORIES = ("problem-list-item", "encounter-diagnosis", "health-concern")
FHIR_JSON = "application/fhir+json"
MODELS = {"Patient": patient.Patient, "Condition": condition.Condition, "Observation": observation.Observation,
          "DocumentReference": documentreference.DocumentReference,
          "DiagnosticReport": diagnosticreport.DiagnosticReport}


class RelaunchRequired(Exception):
    """The EHR session is over (token rejected and refresh impossible): relaunch from the EHR."""


class FhirError(notes_mod.Unreadable):
    """A FHIR request failed; the message says why in words a clinician can read (no PHI)."""


class TokenSource(Protocol):
    """Gives a valid access token; ``rejected`` is one the server just refused (forces a refresh)."""

    def get(self, rejected: str | None = None) -> str: ...


@dataclass
class SearchResult:
    """Resources of the expected type from all pages, plus warnings the server put in the Bundle."""

    resources: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class FhirClient:
    """Reads one EHR's FHIR API with a bearer token; refreshes once on 401."""

    def __init__(self, http: httpx.Client, base: str, tokens: TokenSource, timeout: float = 20.0):
        self.http = http
        self.base = base.rstrip("/") + "/"
        self.tokens = tokens
        self.timeout = httpx.Timeout(timeout, connect=5.0)
        self._origin = urlsplit(self.base)[:2]

    def request(self, url: str, params: dict | None = None, accept: str = FHIR_JSON) -> httpx.Response:
        """GET ``url`` (relative to the FHIR base) with the bearer token; errors become FhirError."""
        url = urljoin(self.base, url)
        if urlsplit(url)[:2] != self._origin:
            # Never send the patient's token to a host other than the FHIR server.
            raise FhirError("the EHR pointed to another server; not followed")
        token = self.tokens.get()
        resp = self._get(url, params, accept, token)
        if resp.status_code == 401:
            resp = self._get(url, params, accept, self.tokens.get(rejected=token))
            if resp.status_code == 401:
                raise RelaunchRequired()
        if resp.status_code == 403:
            raise FhirError("access not granted by the EHR (403)")
        if resp.status_code == 404:
            raise FhirError("not found in the EHR (404)")
        if resp.status_code == 406:
            raise FhirError("the EHR cannot send this format (406)")
        if resp.status_code == 429:
            raise FhirError("the EHR is limiting requests (429); try again shortly")
        if resp.status_code >= 500:
            raise FhirError(f"the EHR had an error ({resp.status_code})")
        if resp.status_code != 200:
            raise FhirError(f"the EHR refused the request ({resp.status_code})")
        return resp

    def _get(self, url: str, params: dict | None, accept: str, token: str) -> httpx.Response:
        try:
            return self.http.get(url, params=params, timeout=self.timeout,
                                 headers={"Authorization": f"Bearer {token}", "Accept": accept})
        except httpx.TimeoutException:
            raise FhirError("the EHR did not answer in time") from None
        except httpx.HTTPError:
            raise FhirError("the EHR could not be reached") from None

    def read_json(self, url: str, params: dict | None = None) -> dict:
        """GET a FHIR JSON resource or Bundle."""
        resp = self.request(url, params)
        try:
            doc = resp.json()
        except ValueError:
            raise FhirError("the EHR sent an unreadable answer") from None
        if not isinstance(doc, dict) or "resourceType" not in doc:
            raise FhirError("the EHR sent an unreadable answer")
        return doc

    def search(self, resource_type: str, params: dict) -> SearchResult:
        """Search and follow ``next`` links; OperationOutcome entries become warnings, not data."""
        result = SearchResult()
        bundle = self.read_json(resource_type, {**params, "_count": PAGE_SIZE})
        for _ in range(MAX_PAGES):
            if bundle.get("resourceType") != "Bundle":
                raise FhirError("the EHR sent an unreadable answer")
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") or {}
                if (entry.get("search") or {}).get("mode") == "outcome" or resource.get("resourceType") == "OperationOutcome":
                    result.warnings.extend(_outcome_messages(resource))
                elif resource.get("resourceType") == resource_type:
                    result.resources.append(resource)
            next_url = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
            if not next_url:
                return result
            bundle = self.read_json(next_url)
        result.warnings.append(f"{resource_type}: more than {MAX_PAGES * PAGE_SIZE} results; the rest were not read")
        return result

    def attachment(self, attachment: dict) -> bytes:
        """The bytes of an attachment: inline base64 ``data`` or a Binary read (content negotiated)."""
        if attachment.get("data") is not None:
            return notes_mod.decode_base64(attachment["data"])
        url = attachment.get("url")
        if not url:
            raise FhirError("the note has no content")
        resp = self.request(url, accept=FHIR_JSON)
        if notes_mod.base_type(resp.headers.get("content-type")) in (FHIR_JSON, "application/json"):
            try:
                binary = resp.json()
            except ValueError:
                raise FhirError("the EHR sent an unreadable answer") from None
            if not isinstance(binary, dict) or binary.get("resourceType") != "Binary":
                raise FhirError("the EHR sent an unreadable answer")
            return notes_mod.decode_base64(binary.get("data") or "")
        return resp.content


def _outcome_messages(outcome: dict) -> list[str]:
    messages = []
    for issue in outcome.get("issue") or []:
        text = text_of(issue.get("details")) or issue.get("diagnostics") or issue.get("code") or "issue"
        messages.append(f"{issue.get('severity', 'information')}: {text}")
    return messages


def valid_resources(resources: list[dict], warnings: list[str]) -> list[dict]:
    """Keep the resources that parse as FHIR R4 (fhirclient models); count the rest as warnings."""
    kept, bad = [], 0
    for res in resources:
        if _parses(res):
            kept.append(res)
        else:
            bad += 1
    if bad:
        warnings.append(f"{bad} {resources[0].get('resourceType', 'resource')} entries could not be read and were left out")
    return kept


_VALIDATED: dict[bytes, bool] = {}
_VALIDATED_MAX = 100_000


def _parses(res: dict) -> bool:
    # The same resources arrive again on every chart open and CDS call; hashing the JSON costs
    # a fraction of a full model parse, so remember the verdict per exact content.
    try:
        key = hashlib.blake2b(json.dumps(res, sort_keys=True, separators=(",", ":")).encode(), digest_size=16).digest()
    except (TypeError, ValueError):
        return False
    verdict = _VALIDATED.get(key)
    if verdict is None:
        model = MODELS.get(res.get("resourceType"))
        try:
            if model:
                model(res, strict=True)
            verdict = True
        except (fhirabstractbase.FHIRValidationError, TypeError, ValueError, AttributeError):
            verdict = False
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.clear()
        _VALIDATED[key] = verdict
    return verdict


# --- named fetchers: one clinical question each -------------------------------------------------

def fetch_patient(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> dict:
    """The Patient resource."""
    res = client.read_json(f"Patient/{patient_id}")
    if res.get("resourceType") != "Patient":
        raise FhirError("the EHR sent an unreadable answer")
    warnings: list[str] = []
    if not valid_resources([res], warnings):
        raise FhirError("the patient resource could not be read")
    return {"patient": res}


def fetch_conditions(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> dict:
    """Problem-list items, encounter diagnoses and health concerns (one search per category)."""
    results = list(pool.map(lambda cat: _try(client.search, "Condition", {"patient": patient_id, "category": cat}),
                            CONDITION_CATEGORIES))
    errors = [r for r in results if isinstance(r, FhirError)]
    if len(errors) == len(results):
        raise errors[0]
    conditions, warnings, seen = [], [], set()
    for cat, r in zip(CONDITION_CATEGORIES, results):
        if isinstance(r, FhirError):
            warnings.append(f"{cat.replace('-', ' ')}s not available: {r}")
            continue
        warnings.extend(r.warnings)
        for c in valid_resources(r.resources, warnings):
            if c.get("id") not in seen:
                seen.add(c.get("id"))
                conditions.append(c)
    return {"conditions": conditions, "warnings": warnings}


def fetch_labs(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> dict:
    """Laboratory Observations (Epic requires the category)."""
    r = client.search("Observation", {"patient": patient_id, "category": "laboratory"})
    warnings = list(r.warnings)
    labs = [o for o in valid_resources(r.resources, warnings) if o.get("status") not in EXCLUDED_STATUSES]
    return {"observations": labs, "warnings": warnings}


def fetch_notes(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> dict:
    """Clinical notes (DocumentReference) and report narratives (DiagnosticReport.presentedForm) as text."""
    docs = _try(client.search, "DocumentReference", {"patient": patient_id, "category": "clinical-note"})
    reports = _try(client.search, "DiagnosticReport", {"patient": patient_id})
    if isinstance(docs, FhirError) and isinstance(reports, FhirError):
        raise docs
    warnings: list[str] = []
    pending: list[tuple[Note, dict | None]] = []
    for name, result in (("clinical notes", docs), ("reports", reports)):
        if isinstance(result, FhirError):
            warnings.append(f"{name} not available: {result}")
            continue
        warnings.extend(result.warnings)
        pending.extend(stub for stub in map(notes_mod.note_stub, valid_resources(result.resources, warnings)) if stub)
    notes = list(pool.map(lambda item: notes_mod.read_note(*item, client.attachment), pending))
    notes.sort(key=lambda n: n.date or "", reverse=True)
    return {"notes": notes, "warnings": warnings}


def _try(fn: Callable, *args):
    try:
        return fn(*args)
    except FhirError as exc:
        return exc


FETCHERS: dict[str, Callable] = {"patient": fetch_patient, "conditions": fetch_conditions, "labs": fetch_labs,
                                 "notes": fetch_notes}
SECTION_RESOURCES = {"patient": ["Patient"], "conditions": ["Condition"], "labs": ["Observation"],
                     "notes": ["DocumentReference", "DiagnosticReport", "Binary"]}


def fetch_record(client: FhirClient, patient_id: str, *, concurrent: bool = True, sections: list[str] | None = None,
                 record: PatientRecord | None = None) -> PatientRecord:
    """Run the fetchers (all, or ``sections``; concurrently by default) into a PatientRecord.

    Raises RelaunchRequired when the EHR session is over; every other failure is recorded per section.
    ``record`` lets a caller complete a record it already holds (CDS Hooks prefetch).
    """
    record = record or PatientRecord(patient_id=patient_id)
    chosen = {name: FETCHERS[name] for name in (sections or FETCHERS)}
    with ThreadPoolExecutor(max_workers=8 if concurrent else 1) as inner, \
            ThreadPoolExecutor(max_workers=len(chosen) if concurrent else 1) as outer:
        futures = {name: outer.submit(fn, client, patient_id, inner) for name, fn in chosen.items()}
        for name, future in futures.items():
            try:
                part = future.result()
            except FhirError as exc:
                record.unavailable[name] = str(exc)
                continue
            record.warnings.extend(part.pop("warnings", []))
            for key, value in part.items():
                setattr(record, key, value)
    return record
