"""The file door: a FHIR Bundle holding one patient's resources → PatientRecord (``radar rank``).

A file is one Bundle (JSON) or NDJSON with one Bundle per line. Attachments are read from inline
``data`` or from a Binary in the same Bundle; nothing is fetched from anywhere else.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import IO

from ..record import PatientRecord
from . import lines
from .build import build_record, bundle_resources


class BadBundle(ValueError):
    """The input is not a Bundle with exactly one Patient; the message says which."""


def record_from_bundle(bundle: object) -> PatientRecord:
    """Read Patient, Condition, Observation, DocumentReference, DiagnosticReport and Binary from ``bundle``.

    A note whose content is missing or unreadable keeps its place with ``error`` set.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadBundle("not a FHIR Bundle")
    warnings: list[str] = []
    left_out: dict[str, dict[str, int]] = {}
    resources = bundle_resources(bundle, warnings, left_out=left_out)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        raise BadBundle("the Bundle has no Patient" if not patients else "the Bundle holds more than one Patient")
    return build_record(str(patients[0].get("id") or ""), resources, warnings=warnings, left_out=left_out,
                        missing_content="the note's content is not in the Bundle")


def read_inputs(source: IO[str]) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON or the ``lines.BadLine`` saying why not) for NDJSON of Bundles, read
    line by line; a Bundle written over several lines (a pretty-printed file) is read whole, as line 1.

    A first line that starts an object but does not parse is held with the lines after it, up to
    ``lines.MAX_CHARS``: if they make one object, that is the input; otherwise each is read as a line.
    """
    numbered = lines.numbered(source)
    rest: Iterator = numbered
    for number, text in numbered:
        first = _item(text)
        if first is None:
            continue
        if isinstance(first, lines.BadLine) and isinstance(text, str) and text.lstrip().startswith("{"):
            held = [(number, text)]
            whole = _whole(held, numbered)
            if whole is not None:
                yield 1, whole
                return
            rest = itertools.chain(held[1:], numbered)
        yield number, first
        break
    for number, text in rest:
        item = _item(text)
        if item is not None:
            yield number, item


def _item(text: str | lines.BadLine) -> object:
    """A line's JSON, or its BadLine; None for a blank line."""
    if isinstance(text, lines.BadLine):
        return text
    if not text.strip():
        return None
    try:
        return lines.parse(text)
    except lines.BadLine as exc:
        return exc


def _whole(held: list, numbered: Iterator) -> dict | None:
    """The one object that the held lines and the rest of the input make (None: they do not, or
    they pass ``lines.MAX_CHARS``); every line read is kept in ``held``."""
    size = len(held[0][1])
    for number, text in numbered:
        held.append((number, text))
        size += len(text) if isinstance(text, str) else lines.MAX_CHARS
        if size > lines.MAX_CHARS:
            return None
    try:
        whole = lines.parse("".join(t for _, t in held))
    except lines.BadLine:
        return None
    return whole if isinstance(whole, dict) else None
