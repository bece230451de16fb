"""Screening input: NDJSON lines → items keyed for grouping by patient. Pure; Spark maps over it.

Three shapes of input are read line by line and may be mixed: a Bulk Data export (one resource
per line, one or more files per type), any NDJSON of resources, and NDJSON of Bundles (one
patient per Bundle, as ``radar rank`` reads). Every line becomes items:

- ``("res", patient id, (order, type, json))`` — a resource of that patient (its Patient too);
- ``("bin", binary id, json)`` and ``("ref", binary id, patient id)`` — a Binary, and which
  patient's note points at it (a Bulk export's Binaries name no patient; the join finds it);
- ``("bad", kind, example)`` — input that cannot be used, counted and reported, never fatal;
- ``("skip", what, "")`` — a resource type the record does not use (Group, Encounter …), or a
  resource outside the categories the chart searches for (``fetch.fhir.SEARCH_CATEGORIES``: a Bulk
  export returns every category, the chart asks for problems, labs and clinical notes), so the
  screen decides on the record the chart and the CDS card see. A Bundle is taken as it is, as
  ``radar rank`` takes it: it already is one patient's record.

``order`` sorts a patient's resources newest ``meta.lastUpdated`` first, so that when a base
export and incremental ones are screened together the builder's de-duplication keeps the newest
version of each resource.
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from ..fetch import lines
from ..fetch.build import NOT_A_RESOURCE, RECORD_TYPES, entries, entry_problem
from ..fetch.fhir import SEARCH_CATEGORIES

PATIENT_TYPES = frozenset(RECORD_TYPES) - {"Patient", "Binary"}
NOTE_TYPES = ("DocumentReference", "DiagnosticReport")
SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_BINARY = re.compile(r"(?:^|/)Binary/([A-Za-z0-9\-.]{1,64})$")
EXAMPLE_CHARS = 160

# The kinds of bad input, as the summary and the report name them.
MALFORMED = "malformed line"
NO_PATIENT = "resource without a patient"
NO_PATIENT_RESOURCE = "resources of a patient the input has no Patient resource for"
BAD_BUNDLE = "Bundle without exactly one Patient"
UNREADABLE_ATTACHMENT = "unreadable attachment"
UNBOUND_BINARY = "Binary no note of the input points at"
UNREADABLE_FILE = "unreadable input file"
# Also bad input: fetch.build's NOT_A_RESOURCE (a Bundle entry holding no resource, found here) and
# INVALID (a resource that fails FHIR validation, counted per patient by the builder).


class InputError(ValueError):
    """An input path that names nothing readable (the message says which)."""


def expand(paths: list[str]) -> list[str]:
    """The NDJSON files named by ``paths``: files as given, directories searched recursively for
    ``*.ndjson``/``*.jsonl`` (optionally gzipped), in path order. Paths with a URL scheme
    (``s3a://``, ``hdfs://``, ``gs://``) are passed to Spark as they are."""
    files: list[str] = []
    for raw in paths:
        if "://" in raw and not raw.startswith("file://"):
            files.append(raw)
            continue
        path = Path(raw.removeprefix("file://"))
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
            if not found:
                raise InputError(f"{raw}: no .ndjson or .jsonl files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(str(path))
        else:
            raise InputError(f"{raw}: no such file or directory")
    return files


def readable(files: list[str]) -> tuple[list[str], list[str]]:
    """(files that open, ``"name: why"`` for local files that do not): a file that cannot be read,
    or a gzip file that is not one, is bad input for the summary, not the end of the screen."""
    ok, bad = [], []
    for name in files:
        if "://" in name and not name.startswith("file://"):
            ok.append(name)  # object storage: Spark reads it
            continue
        path = Path(name.removeprefix("file://"))
        try:
            with (gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")) as fh:
                fh.read(1)
        except (OSError, EOFError) as exc:
            bad.append(f"{path.name}: {type(exc).__name__}")
            continue
        ok.append(name)
    return ok, bad


def patient_of(resource: dict) -> str | None:
    """The id of the patient a resource belongs to (``subject`` or ``patient`` reference), or None."""
    for name in ("subject", "patient"):
        ref = resource.get(name)
        ref = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(ref, str):
            m = _REFERENCE.search(ref)
            if m:
                return m.group(1)
    return None


def binary_refs(resource: dict) -> list[str]:
    """Ids of the Binaries a note's attachments point at (``Binary/<id>``, relative or absolute)."""
    attachments = [c.get("attachment") for c in resource.get("content") or [] if isinstance(c, dict)]
    attachments += resource.get("presentedForm") or []
    out = []
    for att in attachments:
        url = att.get("url") if isinstance(att, dict) else None
        m = _BINARY.search(url) if isinstance(url, str) else None
        if m:
            out.append(m.group(1))
    return out


def order(resource: dict, position: str = "") -> str:
    """A sort key putting newer versions first (the inverted ``meta.lastUpdated``; undated last), then
    the input position. Instants compare as text, as exports write them (UTC, ``Z``)."""
    updated = str((resource.get("meta") or {}).get("lastUpdated") or "")
    if not updated:
        return "\U0010FFFF\x00" + position
    # Inverting each character sorts newest first in ascending order.
    return "".join(chr(0x10FFFE - ord(c)) for c in updated) + "\x00" + position


def keyed(line: str, origin: str = "") -> list[tuple]:
    """The items of one input line (see the module docstring); ``origin`` names it in examples."""
    text = line.strip()
    if not text:
        return []
    try:
        resource = lines.parse(text)
    except lines.BadLine as exc:  # invalid, too long or nested too deeply: never the end of the screen
        return [("bad", MALFORMED, _example(origin, str(exc)))]
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return [("bad", MALFORMED, _example(origin, "not a FHIR resource"))]
    if resource["resourceType"] == "Bundle":
        return _bundle(resource, origin)
    return _resource(resource, origin, text=text)


def _resource(resource: dict, origin: str, patient: str | None = None, text: str | None = None) -> list[tuple]:
    kind = resource["resourceType"]
    if text is None:  # a Bundle's entry: its own JSON; a line is passed on as it came
        text = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
    if kind == "Patient":
        pid = resource.get("id") if isinstance(resource.get("id"), str) and resource.get("id") else patient
        if not pid:
            return [("bad", NO_PATIENT, _example(origin, "a Patient without an id"))]
        return [("res", pid, (order(resource, origin), kind, text))]
    if kind == "Binary":
        if patient:  # inside a Bundle the Binary belongs to the Bundle's patient
            return [("res", patient, (order(resource, origin), kind, text))]
        bid = resource.get("id")
        return [("bin", bid, text)] if isinstance(bid, str) and bid else \
            [("bad", MALFORMED, _example(origin, "a Binary without an id"))]
    if kind not in PATIENT_TYPES:
        return [("skip", kind, "")]
    owner = patient_of(resource)
    if patient is not None and owner not in (None, patient):
        return [("bad", NO_PATIENT, _example(origin, f"a {kind} of another patient inside a Bundle"))]
    owner = owner or patient
    if owner is None:
        return [("bad", NO_PATIENT, _example(origin, f"a {kind} with no subject Patient reference"))]
    if patient is None and not _searched(resource, kind):
        return [("skip", f"{kind} outside the chart's categories", "")]
    items: list[tuple] = [("res", owner, (order(resource, origin), kind, text))]
    if kind in NOTE_TYPES and patient is None:
        items += [("ref", bid, owner) for bid in binary_refs(resource)]
    return items


def _searched(resource: dict, kind: str) -> bool:
    wanted = SEARCH_CATEGORIES.get(kind)
    if wanted is None:
        return True
    codes = {c.get("code") for cat in resource.get("category") or [] if isinstance(cat, dict)
             for c in cat.get("coding") or [] if isinstance(c, dict)}
    return bool(codes & set(wanted))


def _bundle(bundle: dict, origin: str) -> list[tuple]:
    found = entries(bundle)
    problems = [entry_problem(e) for e in found]
    resources = [e["resource"] for e, why in zip(found, problems, strict=False) if why is None]
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1 or not isinstance(patients[0].get("id"), str) or not patients[0]["id"]:
        return [("bad", BAD_BUNDLE, _example(origin, f"{len(patients)} Patient resources"))]
    pid = patients[0]["id"]
    items: list[tuple] = [("bad", NOT_A_RESOURCE, _example(origin, why)) for why in problems if why]
    for res in resources:  # the server's messages (OperationOutcome) are not the patient's data
        items += [("skip", "OperationOutcome", "")] if res["resourceType"] == "OperationOutcome" \
            else _resource(res, origin, patient=pid)
    return items


def _example(origin: str, why: str) -> str:
    return f"{origin}: {why}"[:EXAMPLE_CHARS] if origin else why[:EXAMPLE_CHARS]
