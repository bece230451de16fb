"""Bulk Data export jobs, kept in memory (the sandbox is one process): the kick-off parameters
parsed and checked, the simulated work (a job is complete ``EXPORT_SECONDS`` after kick-off),
throttling (at most ``EXPORT_MAX_JOBS`` jobs in progress per client), and the NDJSON files,
written once the job is complete into a temporary directory, ``EXPORT_FILE_LINES`` lines each."""
from __future__ import annotations

import json
import math
import re
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl

from .store import now_instant, parse_instant

EXPORTABLE = ("Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport", "Binary")
DEFAULT_TYPES = ("Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport")
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
KNOWN_PARAMS = ("_outputFormat", "_type", "_since", "_typeFilter")
# Search parameters a _typeFilter may use, per type (token searches, as the FHIR API serves them).
FILTER_PARAMS = {"Observation": ("category", "code"), "Condition": ("category", "code"),
                 "DocumentReference": ("category",), "DiagnosticReport": ("category", "code")}
# A comma that starts the next query of a comma-separated _typeFilter ("…,Condition?…").
_NEXT_QUERY = re.compile(r",(?=[A-Z][A-Za-z]*\?)")


class ExportError(Exception):
    """A refused kick-off or status request: HTTP status, OperationOutcome code, text, headers."""

    def __init__(self, status: int, code: str, text: str, headers: dict | None = None):
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


@dataclass(frozen=True)
class ExportRequest:
    """What a kick-off asked for. ``types`` is None when ``_type`` was not given; ``filters``
    maps a type to alternatives (OR), each a list of (parameter, value) that must all match."""

    types: tuple[str, ...] | None
    since: datetime | None
    filters: dict[str, list[list[tuple[str, str]]]]


def parse_request(pairs: list[tuple[str, str]], lenient: bool) -> ExportRequest:
    """Check and parse the kick-off parameters; 400 for anything unsupported unless ``lenient``
    (``Prefer: handling=lenient``), which ignores unknown parameters and types instead."""
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    unknown = sorted(set(values) - set(KNOWN_PARAMS))
    if unknown and not lenient:
        raise ExportError(400, "not-supported", f"Unsupported parameter(s): {', '.join(unknown)}.")
    for fmt in values.get("_outputFormat", []):
        if fmt not in OUTPUT_FORMATS:
            raise ExportError(400, "not-supported", f"_outputFormat must be one of {', '.join(OUTPUT_FORMATS)}.")
    types = None
    if "_type" in values:
        named = [t.strip() for v in values["_type"] for t in v.split(",") if t.strip()]
        bad = [t for t in named if t not in EXPORTABLE]
        if bad and not lenient:
            raise ExportError(400, "not-supported", f"Unsupported _type: {', '.join(bad)}; "
                                                    f"exportable: {', '.join(EXPORTABLE)}.")
        types = tuple(dict.fromkeys(t for t in named if t in EXPORTABLE))
        if not types:
            raise ExportError(400, "invalid", "_type names no exportable resource type.")
    since = None
    if values.get("_since"):
        since = parse_instant(values["_since"][-1])
        if since is None:
            raise ExportError(400, "invalid", "_since must be a FHIR instant, e.g. 2024-01-01T00:00:00Z.")
    filters: dict[str, list[list[tuple[str, str]]]] = {}
    for value in values.get("_typeFilter", []):
        for query in _NEXT_QUERY.split(value):
            rtype, params = _type_filter(query)
            filters.setdefault(rtype, []).append(params)
    return ExportRequest(types, since, filters)


def _type_filter(query: str) -> tuple[str, list[tuple[str, str]]]:
    rtype, mark, search = query.partition("?")
    params = parse_qsl(search, keep_blank_values=True)
    if not mark or not params:
        raise ExportError(400, "invalid", f"_typeFilter {query!r} is not of the form Type?param=value.")
    allowed = FILTER_PARAMS.get(rtype, ())
    bad = [name for name, value in params if name not in allowed or not value]
    if bad:
        supported = "; ".join(f"{t}?{'|'.join(p)}" for t, p in FILTER_PARAMS.items())
        raise ExportError(400, "not-supported", f"_typeFilter {query!r}: unsupported search parameter "
                                                f"{', '.join(bad)} (supported: {supported}).")
    return rtype, params


@dataclass
class Job:
    """One export: who asked, for what, for which patients, and (once complete) its files."""

    id: str
    tenant: str
    client_id: str
    request_url: str
    request: ExportRequest
    types: tuple[str, ...]
    patients: list[str]
    transaction_time: str
    ready_at: float
    expires_at: float
    outputs: list[dict] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ready(self) -> bool:
        """True once the simulated work is done."""
        return time.monotonic() >= self.ready_at


class Exports:
    """The export jobs of one sandbox, their settings (changeable while running) and their files."""

    def __init__(self, settings: dict):
        self.seconds = float(settings["EXPORT_SECONDS"])
        self.file_lines = int(settings["EXPORT_FILE_LINES"])
        self.max_jobs = int(settings["EXPORT_MAX_JOBS"])
        self.lifetime = float(settings["EXPORT_LIFETIME"])
        self.root = Path(tempfile.mkdtemp(prefix="sandbox-bulk-"))
        weakref.finalize(self, shutil.rmtree, self.root, True)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def start(self, *, tenant: str, client_id: str, request_url: str, request: ExportRequest,
              types: tuple[str, ...], patients: list[str]) -> Job:
        """Register a new job; 429 ``throttled`` when the client already has ``max_jobs`` in progress."""
        now = time.monotonic()
        with self._lock:
            for job in [j for j in self._jobs.values() if j.expires_at <= now]:
                self._drop(job)
            running = [j for j in self._jobs.values()
                       if (j.tenant, j.client_id) == (tenant, client_id) and not j.ready()]
            if len(running) >= self.max_jobs:
                wait = max(1, math.ceil(min(j.ready_at for j in running) - now))
                raise ExportError(429, "throttled", f"Too many exports in progress ({len(running)}); "
                                                    "wait for one to finish.", {"Retry-After": str(wait)})
            job = Job(id=secrets.token_urlsafe(12), tenant=tenant, client_id=client_id,
                      request_url=request_url, request=request, types=types, patients=patients,
                      transaction_time=now_instant(), ready_at=now + self.seconds,
                      expires_at=now + self.lifetime)
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        """A job by id, or None (unknown, deleted or expired)."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.expires_at > time.monotonic() else None

    def delete(self, job_id: str) -> bool:
        """Forget a job and remove its files; False when there was no such job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            self._drop(job)
        return True

    def _drop(self, job: Job) -> None:
        del self._jobs[job.id]
        shutil.rmtree(self.root / job.id, ignore_errors=True)

    def jobs(self) -> list[Job]:
        """Every live job."""
        with self._lock:
            return list(self._jobs.values())

    def progress(self, job: Job) -> int:
        """How far the simulated work is, in percent (100 once complete)."""
        if job.ready():
            return 100
        left = job.ready_at - time.monotonic()
        return max(0, min(99, int(100 * (1 - left / self.seconds)))) if self.seconds > 0 else 99

    def outputs(self, job: Job, resources: Iterable[tuple[str, dict]]) -> list[dict]:
        """The job's files (``type``, ``name``, ``count``), written from ``resources`` the first
        time they are asked for; later calls return the same files."""
        with job.lock:
            if job.outputs is None:
                job.outputs = self._write(job, resources)
            return job.outputs

    def _write(self, job: Job, resources: Iterable[tuple[str, dict]]) -> list[dict]:
        folder = self.root / job.id
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, list[dict]] = {}
        handles = {}
        try:
            for rtype, resource in resources:
                current = files.setdefault(rtype, [])
                if not current or current[-1]["count"] >= self.file_lines:
                    if rtype in handles:
                        handles[rtype].close()
                    current.append({"type": rtype, "name": f"{rtype}.{len(current) + 1}", "count": 0})
                    handles[rtype] = open(folder / f"{current[-1]['name']}.ndjson", "w", encoding="utf-8")
                handles[rtype].write(json.dumps(resource, separators=(",", ":")) + "\n")
                current[-1]["count"] += 1
        finally:
            for handle in handles.values():
                handle.close()
        return [f for rtype in EXPORTABLE for f in files.get(rtype, [])]

    def file_path(self, job: Job, name: str) -> Path | None:
        """The path of one of a complete job's files, or None."""
        if job.outputs is None or name not in {f["name"] for f in job.outputs}:
            return None
        return self.root / job.id / f"{name}.ndjson"
