"""FHIR R4 fetch: an httpx client and one named fetcher per clinical question, run concurrently.

Each fetcher fails soft: a 403, a 5xx, a timeout or an unreadable answer marks its section
"not available: why" in the PatientRecord instead of raising or returning an empty list that
would look like "no data". An expired token is refreshed once; a refused refresh means relaunch.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from ..record import PatientRecord
from . import notes as notes_mod
from .build import LeftOut, add_left_out, build_record, bundle_resources, valid_resources

PAGE_SIZE = 100
MAX_PAGES = 50
CONDITION_CATEGORIES = ("problem-list-item", "encounter-diagnosis", "health-concern")
# The categories the chart's searches ask for, per type: what a record is made of. Population
# screening applies the same selection to a Bulk export, which returns every category.
SEARCH_CATEGORIES = {"Condition": CONDITION_CATEGORIES, "Observation": ("laboratory",),
                     "DocumentReference": ("clinical-note",)}
CATEGORY_LABELS = {"problem-list-item": "problem-list items", "encounter-diagnosis": "encounter diagnoses",
                   "health-concern": "health concerns"}
FHIR_JSON = "application/fhir+json"


FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 id
# FHIR R4 instant, as the specification writes its regex ([0-9], not \d: no other scripts' digits).
FHIR_INSTANT = re.compile(r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
                          r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
                          r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))")
MAX_INSTANT = 64  # characters: nanoseconds and an offset fit in 35; a longer "instant" is no server's clock


def valid_id(value: object) -> bool:
    """True for a FHIR id (``[A-Za-z0-9-.]{1,64}``): safe to put in a URL path."""
    return isinstance(value, str) and bool(FHIR_ID.fullmatch(value)) and value not in (".", "..")


def valid_instant(value: object) -> bool:
    """True for a FHIR R4 ``instant`` (``2026-11-30T00:00:00Z``, seconds required, a zone required), at
    most ``MAX_INSTANT`` characters: a server's time that is safe to keep and to send back as ``_since``."""
    return isinstance(value, str) and len(value) <= MAX_INSTANT and bool(FHIR_INSTANT.fullmatch(value))


class RelaunchRequired(Exception):
    """The EHR session is over (token rejected and refresh impossible): relaunch from the EHR."""


class FhirError(Exception):
    """A FHIR request failed; the message says why in words a clinician can read (no PHI)."""


class TokenSource(Protocol):
    """Gives a valid access token; ``rejected`` is one the server just refused (forces a refresh)."""

    def get(self, rejected: str | None = None) -> str: ...


@dataclass
class SearchResult:
    """Resources of the expected type from all pages, plus warnings the server put in the Bundle."""

    resources: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # parts of the answer that could not be had, and why
    left_out: LeftOut = field(default_factory=dict)  # Bundle entries holding no FHIR resource


class FhirClient:
    """Reads one EHR's FHIR API with a bearer token; refreshes once on 401."""

    def __init__(self, http: httpx.Client, base: str, tokens: TokenSource, timeout: float = 20.0):
        self.http = http
        self.base = base.rstrip("/") + "/"
        self.tokens = tokens
        self.timeout = httpx.Timeout(timeout, connect=5.0)
        self._origin = urlsplit(self.base)[:2]
        self._base_path = urlsplit(self.base).path

    def request(self, url: str, params: dict | None = None, accept: str = FHIR_JSON) -> httpx.Response:
        """GET ``url`` (relative to the FHIR base) with the bearer token; errors become FhirError.

        Only URLs under the FHIR base are read: the token never goes to another host, and a
        reference like ``../../admin`` cannot climb out of the base on the same host.
        """
        url = urljoin(self.base, url)
        parts = urlsplit(url)
        if parts[:2] != self._origin:
            raise FhirError("the EHR pointed to another server; not followed")
        if not parts.path.startswith(self._base_path) or "/../" in parts.path + "/":
            raise FhirError("the EHR pointed outside its FHIR API; not followed")
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
        except (ValueError, RecursionError):  # JSON nested past Python's parser is unreadable too
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
            result.resources.extend(bundle_resources(bundle, result.warnings, [resource_type], result.left_out))
            next_url = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
            if not next_url:
                return result
            bundle = self.read_json(next_url)
        result.warnings.append(f"{resource_type}: more than {MAX_PAGES * PAGE_SIZE} results; the rest were not read")
        return result

    def read_binary(self, url: str) -> bytes:
        """The bytes of an attachment URL: a Binary read (content negotiated); failures are Unreadable."""
        try:
            return self._binary(url)
        except FhirError as exc:
            raise notes_mod.Unreadable(str(exc)) from None

    def _binary(self, url: str) -> bytes:
        resp = self.request(url, accept=FHIR_JSON)
        if notes_mod.base_type(resp.headers.get("content-type")) in (FHIR_JSON, "application/json"):
            try:
                binary = resp.json()
            except (ValueError, RecursionError):
                raise FhirError("the EHR sent an unreadable answer") from None
            if not isinstance(binary, dict) or binary.get("resourceType") != "Binary":
                raise FhirError("the EHR sent an unreadable answer")
            return notes_mod.decode_base64(binary.get("data") or "")
        return resp.content


# --- named fetchers: one clinical question each -------------------------------------------------
# Each returns the resources it found and its warnings; the record builder does the rest.

def fetch_patient(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> SearchResult:
    """The Patient resource."""
    res = client.read_json(f"Patient/{patient_id}")
    if res.get("resourceType") != "Patient":
        raise FhirError("the EHR sent an unreadable answer")
    if not valid_resources([res], []):
        raise FhirError("the patient resource could not be read")
    return SearchResult([res])


def fetch_conditions(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> SearchResult:
    """Problem-list items, encounter diagnoses and health concerns (one search per category)."""
    results = list(pool.map(lambda cat: _try(client.search, "Condition", {"patient": patient_id, "category": cat}),
                            CONDITION_CATEGORIES))
    errors = [r for r in results if isinstance(r, FhirError)]
    if len(errors) == len(results):
        raise errors[0]
    found = SearchResult()
    for cat, r in zip(CONDITION_CATEGORIES, results, strict=False):
        if isinstance(r, FhirError):
            found.warnings.append(f"{CATEGORY_LABELS[cat]} not available: {r}")
            found.failed.append(f"{CATEGORY_LABELS[cat]}: {r}")
            continue
        found.warnings.extend(r.warnings)
        found.resources.extend(r.resources)
        add_left_out(found.left_out, r.left_out)
    return found


def fetch_labs(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> SearchResult:
    """Laboratory Observations (Epic requires the category)."""
    return client.search("Observation", {"patient": patient_id, "category": SEARCH_CATEGORIES["Observation"][0]})


def fetch_documents(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> SearchResult:
    """Clinical notes (DocumentReference); their text is read by the record builder."""
    return client.search("DocumentReference", {"patient": patient_id,
                                                "category": SEARCH_CATEGORIES["DocumentReference"][0]})


def fetch_reports(client: FhirClient, patient_id: str, pool: ThreadPoolExecutor) -> SearchResult:
    """Reports (DiagnosticReport), whose ``presentedForm`` narratives count as notes."""
    return client.search("DiagnosticReport", {"patient": patient_id})


def _try(fn: Callable, *args):
    try:
        return fn(*args)
    except FhirError as exc:
        return exc


# query name → (fetcher, the record section it fills, what a failure is called in a warning).
# The query names are also the CDS Hooks prefetch keys, so prefetch and fetch fill the same parts.
QUERIES: dict[str, tuple[Callable, str, str]] = {
    "patient": (fetch_patient, "patient", "patient"),
    "conditions": (fetch_conditions, "conditions", "problems"),
    "labs": (fetch_labs, "labs", "laboratory results"),
    "notes": (fetch_documents, "notes", "clinical notes"),
    "reports": (fetch_reports, "notes", "reports"),
}
SECTION_RESOURCES = {"patient": ["Patient"], "conditions": ["Condition"], "labs": ["Observation"],
                     "notes": ["DocumentReference", "DiagnosticReport", "Binary"]}


@dataclass
class Fetched:
    """What the queries returned: resources, and per section what could not be had and why."""

    resources: list[dict] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    partial: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    left_out: LeftOut = field(default_factory=dict)  # what the answers held that is no FHIR resource


def fetch_resources(client: FhirClient, patient_id: str, queries: list[str], pool: ThreadPoolExecutor,
                    concurrent: bool = True) -> Fetched:
    """Run the named queries; a section all of whose queries failed is unavailable, a partial failure a warning.

    Raises RelaunchRequired when the EHR session is over.
    """
    if not valid_id(patient_id):
        raise ValueError("not a FHIR patient id")
    fetched = Fetched()
    with ThreadPoolExecutor(max_workers=max(1, len(queries)) if concurrent else 1) as outer:
        futures = {name: outer.submit(_try, QUERIES[name][0], client, patient_id, pool) for name in queries}
        results = {name: future.result() for name, future in futures.items()}
    for section in dict.fromkeys(QUERIES[name][1] for name in queries):
        names = [n for n in queries if QUERIES[n][1] == section]
        failed = [n for n in names if isinstance(results[n], FhirError)]
        if failed and len(failed) == len(names):
            fetched.unavailable[section] = str(results[failed[0]])
            continue
        for name in names:
            result = results[name]
            if isinstance(result, FhirError):
                fetched.warnings.append(f"{QUERIES[name][2]} not available: {result}")
                fetched.partial.setdefault(section, []).append(f"{QUERIES[name][2]}: {result}")
            else:
                fetched.resources.extend(result.resources)
                fetched.warnings.extend(result.warnings)
                add_left_out(fetched.left_out, result.left_out)
                if result.failed:
                    fetched.partial.setdefault(section, []).extend(result.failed)
    return fetched


def fetch_record(client: FhirClient, patient_id: str, *, concurrent: bool = True) -> PatientRecord:
    """Fetch everything the record needs (concurrently by default) and build the PatientRecord.

    Raises RelaunchRequired when the EHR session is over; every other failure is recorded per section.
    """
    with ThreadPoolExecutor(max_workers=8 if concurrent else 1) as pool:
        fetched = fetch_resources(client, patient_id, list(QUERIES), pool, concurrent)
        return build_record(patient_id, fetched.resources, read_url=client.read_binary,
                            unavailable=fetched.unavailable, partial=fetched.partial, warnings=fetched.warnings,
                            left_out=fetched.left_out, map_notes=pool.map)
