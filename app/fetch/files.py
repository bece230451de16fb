"""The file door: a FHIR Bundle holding one patient's resources → PatientRecord (``radar rank``).

A file is one Bundle (JSON) or NDJSON with one Bundle per line. Attachments are read from inline
``data`` or from a Binary in the same Bundle; nothing is fetched from anywhere else.
"""
from __future__ import annotations

import json
from typing import IO, Iterator

from .build import build_record, bundle_resources
from .record import PatientRecord


class BadBundle(ValueError):
    """The input is not a Bundle with exactly one Patient; the message says which."""


def record_from_bundle(bundle: object) -> PatientRecord:
    """Read Patient, Condition, Observation, DocumentReference, DiagnosticReport and Binary from ``bundle``.

    A note whose content is missing or unreadable keeps its place with ``error`` set.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadBundle("not a FHIR Bundle")
    warnings: list[str] = []
    resources = bundle_resources(bundle, warnings)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        raise BadBundle("the Bundle has no Patient" if not patients else "the Bundle holds more than one Patient")
    return build_record(str(patients[0].get("id") or ""), resources, warnings=warnings,
                        missing_content="the note's content is not in the Bundle")


def read_inputs(source: IO[str]) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON or the JSONDecodeError) for a Bundle file or NDJSON of Bundles."""
    text = source.read()
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict):
            yield 1, whole
            return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, exc
