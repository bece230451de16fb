"""Bulk Data Access 2.0 client: a Group (or all-patients) ``$export`` into a directory of NDJSON files.

Kick-off with ``Prefer: respond-async``, poll the status URL as the EHR's ``Retry-After`` says
(else every ``poll_seconds``: Epic and Oracle Health advise 10–30 minutes), download each output
file streamed to disk, read the notes' Binary attachments, then DELETE the job. What is done is
kept in ``out_dir/export-state.json`` (never a token), so calling ``export`` again with the same
directory goes on where an interrupted run stopped: no second kick-off while a job is pending,
no finished file downloaded twice. An ``out_dir`` holds one export.

Whatever the EHR sends is bounded by ``BulkLimits`` (bytes, lines, time, waits), and the token
goes to the FHIR server's own origin only (``bulk_http``); a limit hit ends the run with a
BulkError naming it, the finished files kept for the next run.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx

from ..config.bulk import BulkLimits
from .bulk_binary import attachment_ids, complete
from .bulk_http import Budget, BulkError, LimitHit, Transfer, host_of, limit_text, origin, refused, retry_after
from .fhir import valid_id

__all__ = ["export", "Export", "BulkError", "BulkLimits", "DEFAULT_TYPES", "DEFAULT_TYPE_FILTER", "poll_delay"]

DEFAULT_TYPES = ("Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport")
DEFAULT_TYPE_FILTER = ("Observation?category=laboratory",)
GROUP_ADVICE = 1000  # Epic and Oracle Health: export groups of about 1,000 patients or fewer
MAX_WAIT_SECONDS = 6 * 3600
MIN_POLL = 1.0
DOWNLOADS = 3
MAX_ERRORS = 200
MAX_FILES = 10_000  # entries of one manifest: far above what a Group of ~1,000 patients yields
RESUME = "run again with the same output directory to resume"
STATE = "export-state.json"
NOTE_TYPES = ("DocumentReference", "DiagnosticReport")
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")


@dataclass
class Export:
    """A finished export: where its files are, by resource type, and what went wrong along the way."""

    out_dir: Path
    transaction_time: str | None
    files: dict[str, list[Path]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # the EHR's OperationOutcome messages (manifest ``error``)
    binary_errors: list[str] = field(default_factory=list)  # attachments not read, and why


def poll_delay(headers, poll_seconds: float, shortest: float = MIN_POLL, longest: float | None = None) -> float:
    """Seconds until the next status request: ``Retry-After`` when the EHR sends one, else ``poll_seconds``,
    at least ``shortest`` and at most ``longest``."""
    wait = retry_after(headers.get("Retry-After"))
    delay = max(shortest, poll_seconds if wait is None else wait)
    return delay if longest is None else min(delay, longest)


def export(http: httpx.Client, auth, base: str, out_dir: str | Path, *, group: str | None = None,
           since: str | None = None, types: Iterable[str] = DEFAULT_TYPES,
           type_filter: Iterable[str] = DEFAULT_TYPE_FILTER, poll_seconds: float = 600,
           max_wait_seconds: float = MAX_WAIT_SECONDS, progress: Callable[[str], None] | None = None,
           binaries: bool = True, sleep: Callable[[float], None] = time.sleep, limits: BulkLimits | None = None,
           file_hosts: Iterable[str] = (), clock: Callable[[], float] = time.monotonic) -> Export:
    """Export ``Group/<group>`` (or every patient, ``Patient/$export``) of the FHIR server ``base`` into ``out_dir``.

    ``auth`` is a ``BackendAuth`` (``headers()``, ``renew()``); ``since`` is passed through as ``_since``;
    ``progress`` receives short lines for the operator. ``limits`` bound what the EHR may send and how
    long this run may take (``BulkLimits()`` when None); ``file_hosts`` are the origins besides the FHIR
    server's own that files without ``requiresAccessToken`` may come from (the EHR's storage);
    ``sleep`` and ``clock`` are the waits and the time, injectable. Raises BulkError when the export
    cannot finish; calling again with the same ``out_dir`` resumes it.
    """
    base = base.rstrip("/")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = _teller(progress)
    types = [types] if isinstance(types, str) else list(types)
    type_filter = [type_filter] if isinstance(type_filter, str) else list(type_filter)
    if group is not None and not valid_id(group):
        raise BulkError(f"{group!r} is not a FHIR Group id")
    limits = limits or BulkLimits()
    state = _State.load(out, {"base": base, "group": group, "since": since, "types": types,
                              "type_filter": type_filter})
    if state.doc["complete"]:
        say("this directory holds the finished export already")
        return state.result()
    kept = sum((out / f["name"]).stat().st_size for f in state.doc["files"] if f["done"] and (out / f["name"]).exists())
    transfer = Transfer(http, auth, base, sleep=sleep, limits=limits, file_hosts=file_hosts, clock=clock,
                        budget=Budget(limits, kept))
    try:
        if state.doc["manifest"] is None:
            waited = clock() + max_wait_seconds
            allowed = limit_text(limits, "deadline") if transfer.deadline <= waited else f"{max_wait_seconds:g} s"
            state.take_manifest(_manifest(transfer, state, say, poll_seconds, min(transfer.deadline, waited), allowed),
                                base)
        _download(transfer, state, say)
        if not state.doc["deleted"]:
            _delete(transfer, state.doc["status_url"], say)
            state.update(deleted=True)
        if binaries and state.doc["binaries"] is None:
            state.update(binaries=_binaries(transfer, state, base, say))
    except LimitHit as exc:
        if RESUME in exc.message:
            raise
        raise LimitHit(f"{exc.message}; what is complete is kept: {RESUME}") from None
    state.update(errors=_error_messages(state))
    result = state.result()
    _write_manifest(state)
    state.update(complete=True)
    say(f"export complete: {sum(len(v) for v in result.files.values())} file(s) in {out}")
    return result


def _teller(progress: Callable[[str], None] | None) -> Callable[[str], None]:
    lock = threading.Lock()

    def say(text: str) -> None:
        if progress is not None:
            with lock:
                progress("".join(c for c in text if c.isprintable()))
    return say


def _manifest(transfer: Transfer, state: _State, say, poll_seconds: float, deadline: float, allowed: str) -> dict:
    """Kick off (unless a job is pending) and poll until the EHR hands over the manifest."""
    resumed = state.doc["status_url"] is not None
    if resumed:
        say("resuming: asking the EHR about the export it is preparing")
    while True:
        if state.doc["status_url"] is None:
            state.update(status_url=_kick_off(transfer, state.doc["request"], say))
        try:
            return _poll(transfer, state.doc["status_url"], say, poll_seconds, deadline, allowed)
        except _Gone:
            if not resumed:
                raise BulkError("export status: the EHR no longer knows the export it started (HTTP 404)") from None
            say("the EHR no longer knows the pending export; starting a new one")
            resumed = False
            state.update(status_url=None)


class _Gone(Exception):
    """The status URL answers 404: the job expired or was deleted."""


def _kick_off(transfer: Transfer, request: dict, say) -> str:
    base, group = request["base"], request["group"]
    if group is not None:
        _check_group(transfer, base, group, say)
    url = f"{base}/Group/{group}/$export" if group is not None else f"{base}/Patient/$export"
    params = {"_outputFormat": "application/fhir+ndjson"}
    if request["types"]:
        params["_type"] = ",".join(request["types"])
    if request["type_filter"]:
        params["_typeFilter"] = ",".join(request["type_filter"])
    if request["since"]:
        params["_since"] = request["since"]
    resp = transfer.request("export kick-off", "GET", url, params=params,
                            headers={"Accept": "application/fhir+json", "Prefer": "respond-async"})
    if resp.status_code != 202:
        raise refused("export kick-off", resp)
    location = resp.headers.get("Content-Location")
    if not location:
        raise BulkError("export kick-off: the EHR accepted the export but gave no status URL (Content-Location)")
    status_url = urljoin(url, location)
    if origin(status_url) != transfer.origin:
        # Polling and deleting the job need the token, which goes to the FHIR server's own origin only.
        raise BulkError(f"export kick-off: the EHR's status URL (Content-Location) is on another server "
                        f"({host_of(status_url)}) than the FHIR API; the token is not sent there, so the export stops")
    say(f"export started ({'Group/' + group if group else 'all patients'})")
    return status_url


def _check_group(transfer: Transfer, base: str, group: str, say) -> None:
    resp = transfer.request("Group", "GET", f"{base}/Group/{group}", headers={"Accept": "application/fhir+json"})
    if resp.status_code == 404:
        raise BulkError(f"Group {group!r} was not found in the EHR")
    try:
        doc = resp.json() if resp.status_code == 200 else None
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        say(f"warning: Group/{group} could not be read (HTTP {resp.status_code}); its size is unknown")
        return
    quantity = doc.get("quantity") if isinstance(doc.get("quantity"), int) else 0
    size = max(quantity, len(doc["member"]) if isinstance(doc.get("member"), list) else 0)
    if size > GROUP_ADVICE:
        say(f"warning: Group/{group} has {size:,} members; Epic and Oracle Health advise exporting groups of "
            f"about {GROUP_ADVICE:,} patients or fewer")
    else:
        say(f"Group/{group}: {size:,} patient(s)")


def _poll(transfer: Transfer, status_url: str, say, poll_seconds: float, deadline: float, allowed: str) -> dict:
    limits, throttled = transfer.limits, 0
    while True:
        resp = transfer.request("export status", "GET", status_url, headers={"Accept": "application/json"},
                                throttle_retries=False)
        if resp.status_code == 200:
            try:
                manifest = resp.json()
            except (ValueError, RecursionError):
                manifest = None
            if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
                raise BulkError("export status: the EHR's manifest is not a Bulk Data manifest")
            return manifest
        if resp.status_code in (404, 410):
            raise _Gone()
        if resp.status_code not in (202, 429):
            raise refused("export status", resp)
        if resp.status_code == 202 and resp.headers.get("X-Progress"):
            say(f"EHR: {resp.headers['X-Progress'][:100]}")
        # Polled too often (429): back off exponentially whatever Retry-After says (Bulk Data advises it).
        throttled = throttled + 1 if resp.status_code == 429 else 0
        delay = poll_delay(resp.headers, poll_seconds, limits.min_backoff, limits.max_backoff)
        if throttled:
            delay = min(limits.max_backoff, max(delay, limits.min_backoff * 2 ** throttled))
        if transfer.clock() + delay > deadline:
            raise BulkError(f"the EHR has not finished the export in the time allowed ({allowed}); run again "
                            "with the same output directory to go on waiting")
        transfer.sleep(delay)


def _download(transfer: Transfer, state: _State, say) -> None:
    """Download every file not yet complete, a few at a time; the state records each one as it lands."""
    pending = [f for f in state.doc["files"] if not f["done"]]
    # Any value but false keeps the token required: the safe reading of an odd manifest.
    total, bearer = len(state.doc["files"]), state.doc["manifest"].get("requiresAccessToken", True) is not False
    failures: list[BulkError] = []

    def one(item: dict) -> None:
        name = item["name"]
        path = state.out / name
        path.parent.mkdir(exist_ok=True)
        what = f"file {name}"
        try:
            resp = transfer.request(what, "GET", item["url"], bearer=bearer,
                                    headers={"Accept": "application/fhir+ndjson"}, sink=transfer.to_file(what, path))
        except OSError as exc:
            raise BulkError(f"file {name}: could not be written ({exc.strerror})") from None
        if resp.status_code != 200:
            raise refused(f"file {name}", resp)
        done = state.mark_done(item)
        say(f"downloaded {name} ({done}/{total})")

    def guarded(item: dict) -> None:
        try:
            one(item)
        except BulkError as exc:
            failures.append(exc)

    with ThreadPoolExecutor(DOWNLOADS) as pool:
        list(pool.map(guarded, pending))
    if failures:
        left = sum(1 for f in state.doc["files"] if not f["done"])
        first = next((f for f in failures if isinstance(f, LimitHit)), failures[0])  # the run's limit says most
        raise type(first)(f"{first.message}; {total - left} file(s) downloaded and kept, {left} still to download: "
                          f"{RESUME}")


def _delete(transfer: Transfer, status_url: str, say) -> None:
    """Tell the EHR the files are fetched (Bulk Data: DELETE the status URL); a refusal is only a warning."""
    try:
        resp = transfer.request("export cleanup", "DELETE", status_url)
    except BulkError as exc:
        say(f"warning: {exc.message}; the EHR will expire the export's files on its own")
        return
    if resp.status_code not in (200, 202, 204, 404):
        say(f"warning: the EHR did not delete the finished export (HTTP {resp.status_code}); "
            "it will expire its files on its own")


def _binaries(transfer: Transfer, state: _State, base: str, say) -> dict:
    exported = {f["type"] for f in state.doc["files"] if f["kind"] == "output"}
    if "Binary" in exported:
        return {"files": [], "errors": []}  # the export carried the Binaries itself
    notes = [state.out / f["name"] for f in state.doc["files"] if f["type"] in NOTE_TYPES and f["kind"] == "output"]
    not_followed: list[str] = []
    ids = attachment_ids(notes, base, not_followed)
    say(f"attachments: {len(ids)} Binary resource(s) to read")
    paths, failures = complete(transfer, base, state.out, ids, say)
    return {"files": [p.name for p in paths], "errors": not_followed + failures}


def _error_messages(state: _State) -> list[str]:
    """The messages in the manifest's ``error`` files (OperationOutcome NDJSON), capped."""
    messages: list[str] = []
    extra = 0
    for item in (f for f in state.doc["files"] if f["kind"] == "error"):
        with open(state.out / item["name"], encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    outcome = json.loads(line)
                except (ValueError, RecursionError):  # a line nested past Python's limit is not JSON we read
                    continue
                issues = outcome.get("issue") if isinstance(outcome, dict) else None
                for issue in issues if isinstance(issues, list) else []:
                    if not isinstance(issue, dict):
                        continue
                    details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
                    text = details.get("text") or issue.get("diagnostics") or issue.get("code")
                    if not isinstance(text, str):
                        continue
                    severity = issue.get("severity") if isinstance(issue.get("severity"), str) else "error"
                    if len(messages) < MAX_ERRORS:
                        messages.append(_printable(f"{severity[:20]}: {text[:300]}"))
                    else:
                        extra += 1
    return messages + ([f"… and {extra} more"] if extra else [])


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable())


def _write_manifest(state: _State) -> None:
    manifest = dict(state.doc["manifest"])
    files = {(f["kind"], f["index"]): f["name"] for f in state.doc["files"]}
    for kind, key in (("output", "output"), ("error", "error")):
        manifest[key] = [{**item, "file": files[(kind, i)]} if (kind, i) in files else item
                         for i, item in enumerate(manifest.get(key) or [])]
    binaries = state.doc["binaries"] or {"files": [], "errors": []}
    manifest.update(binary_files=binaries["files"], binary_errors=binaries["errors"], errors=state.doc["errors"])
    _write_json(state.out / "manifest.json", manifest)


def _write_json(path: Path, doc: dict) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(doc, indent=1))
    os.replace(part, path)


class _State:
    """``export-state.json``: the request, the status URL, the manifest, which files are complete."""

    def __init__(self, out: Path, doc: dict):
        self.out, self.doc = out, doc
        self._lock = threading.Lock()

    @classmethod
    def load(cls, out: Path, request: dict) -> _State:
        path = out / STATE
        if not path.exists():
            return cls(out, {"version": 1, "request": request, "status_url": None, "manifest": None, "files": [],
                             "deleted": False, "binaries": None, "errors": [], "complete": False})
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            raise BulkError(f"{path} is damaged; remove the directory's contents to start over") from None
        if doc.get("request") != request:
            raise BulkError(f"{out} holds another export (its own group, since or types); use a new directory")
        return cls(out, doc)

    def update(self, **values) -> None:
        with self._lock:
            self.doc.update(values)
            _write_json(self.out / STATE, self.doc)

    def take_manifest(self, manifest: dict, base: str) -> None:
        """Name a local file for every output and error file of the manifest."""
        files, counts = [], {}
        listed = sum(len(manifest.get(k)) for k in ("output", "error") if isinstance(manifest.get(k), list))
        if listed > MAX_FILES:
            raise BulkError(f"export status: the manifest lists {listed:,} files, more than the {MAX_FILES:,} "
                            "the client takes from one export")
        for kind in ("output", "error"):
            entries = manifest.get(kind)
            if entries is not None and not isinstance(entries, list):
                raise BulkError(f"export status: the manifest's {kind} is not a list")
            for index, item in enumerate(entries or []):
                rtype = item.get("type") if isinstance(item, dict) else None
                url = item.get("url") if isinstance(item, dict) else None
                if not isinstance(rtype, str) or not _RESOURCE_TYPE.fullmatch(rtype) or not isinstance(url, str):
                    raise BulkError(f"export status: the manifest's {kind}[{index}] has no usable type and url")
                counts[(kind, rtype)] = n = counts.get((kind, rtype), 0) + 1
                name = f"{rtype}.{n}.ndjson" if kind == "output" else f"errors/{rtype}.{n}.ndjson"
                files.append({"kind": kind, "index": index, "type": rtype, "url": urljoin(base + "/", url),
                              "name": name, "done": False})
        self.update(manifest=manifest, files=files)

    def mark_done(self, item: dict) -> int:
        with self._lock:
            item["done"] = True
            _write_json(self.out / STATE, self.doc)
            return sum(1 for f in self.doc["files"] if f["done"])

    def result(self) -> Export:
        files: dict[str, list[Path]] = {}
        for f in self.doc["files"]:
            if f["kind"] == "output":
                files.setdefault(f["type"], []).append(self.out / f["name"])
        binaries = self.doc["binaries"] or {"files": [], "errors": []}
        if binaries["files"]:
            files["Binary"] = [self.out / name for name in binaries["files"]]
        manifest = self.doc["manifest"] or {}
        return Export(out_dir=self.out, transaction_time=manifest.get("transactionTime"), files=files,
                      errors=list(self.doc["errors"]), binary_errors=list(binaries["errors"]))
