"""A FHIR Bundle holding one patient's resources → PatientRecord (the input of ``radar rank``)."""
from __future__ import annotations

from . import notes as notes_mod
from .record import EXCLUDED_STATUSES, PatientRecord


class BadBundle(ValueError):
    """The input is not a Bundle with exactly one Patient; the message says which."""


def record_from_bundle(bundle: object) -> PatientRecord:
    """Read Patient, Condition, Observation, DocumentReference, DiagnosticReport and Binary from ``bundle``.

    Attachments are read from inline ``data`` or from a Binary in the same Bundle; a note whose
    content is missing or unreadable keeps its place with ``error`` set.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadBundle("not a FHIR Bundle")
    resources = [e.get("resource") for e in bundle.get("entry") or [] if isinstance(e, dict)]
    resources = [r for r in resources if isinstance(r, dict) and r.get("resourceType")]
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        raise BadBundle("the Bundle has no Patient" if not patients else "the Bundle holds more than one Patient")
    patient = patients[0]
    by_type: dict[str, list[dict]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    binaries = {b.get("id"): b for b in by_type.get("Binary", [])}

    def fetch(attachment: dict) -> bytes:
        if attachment.get("data") is not None:
            return notes_mod.decode_base64(attachment["data"])
        ref = (attachment.get("url") or "").rsplit("Binary/", 1)
        binary = binaries.get(ref[1]) if len(ref) == 2 else None
        if binary is None:
            raise notes_mod.Unreadable("the note's content is not in the Bundle")
        return notes_mod.decode_base64(binary.get("data") or "")

    stubs = [notes_mod.note_stub(r) for r in by_type.get("DocumentReference", []) + by_type.get("DiagnosticReport", [])]
    notes = [notes_mod.read_note(note, attachment, fetch) for note, attachment in filter(None, stubs)]
    notes.sort(key=lambda n: n.date or "", reverse=True)
    return PatientRecord(
        patient_id=str(patient.get("id") or ""),
        patient=patient,
        conditions=by_type.get("Condition", []),
        observations=[o for o in by_type.get("Observation", []) if _is_lab(o) and o.get("status") not in EXCLUDED_STATUSES],
        notes=notes,
    )


def _is_lab(observation: dict) -> bool:
    codes = {c.get("code") for cat in observation.get("category") or [] for c in cat.get("coding") or []}
    return not codes or "laboratory" in codes
