"""The one record builder: FHIR resources from any door → a ``PatientRecord``.

Every source of patient data — the SMART FHIR client (chart), CDS Hooks prefetch completed with
``fhirAuthorization``, a Bundle or NDJSON file (``radar rank``) and a Bulk export — hands this
module the same thing: FHIR resources as plain dicts, and optionally a way to read an
attachment URL. So one Bundle-entry unwrapper, one attachment reader and one set of validation,
de-duplication and selection rules serve all of them, and the doors cannot drift apart.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable

from fhirclient.models import condition, diagnosticreport, documentreference, fhirabstractbase, observation, patient

from ..record import EXCLUDED_STATUSES, Note, PatientRecord, effective, onset, text_of
from . import notes as notes_mod
from .valid import valid

MODELS = {"Patient": patient.Patient, "Condition": condition.Condition, "Observation": observation.Observation,
          "DocumentReference": documentreference.DocumentReference,
          "DiagnosticReport": diagnosticreport.DiagnosticReport}
# The resources a record is made of, in the order their warnings are reported.
RECORD_TYPES = ("Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport", "Binary")
UrlReader = Callable[[str], bytes]
# What the builder leaves out, as the record's gaps and the screen's bad-input summary name it.
INVALID = "resource that failed FHIR validation"
NOT_A_RESOURCE = "Bundle entry without a FHIR resource"
LeftOut = dict[str, dict[str, int]]  # kind → {"what: why" → how many}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,40}")


def bundle_resources(bundle: object, warnings: list[str], types: Iterable[str] | None = None,
                     left_out: LeftOut | None = None) -> list[dict]:
    """The resources inside a Bundle's entries (of ``types`` when given; other types are what the
    door did not ask for, e.g. ``_include``d resources, and are passed over).

    OperationOutcome entries (``search.mode`` outcome) are the server's messages, not data:
    they become ``warnings``. Entries that are not objects with a ``resourceType`` are left out:
    counted in ``left_out`` under ``NOT_A_RESOURCE`` when given, else in a ``warnings`` line.
    """
    wanted = set(types) if types is not None else None
    out, skipped = [], 0
    for entry in entries(bundle):
        why = entry_problem(entry)
        if why:
            skipped += 1
            if left_out is not None:
                leave_out(left_out, NOT_A_RESOURCE, why)
            continue
        resource = entry["resource"]
        if (entry.get("search") or {}).get("mode") == "outcome" or resource["resourceType"] == "OperationOutcome":
            warnings.extend(outcome_messages(resource))
        elif wanted is None or resource["resourceType"] in wanted:
            out.append(resource)
    if skipped and left_out is None:
        warnings.append(f"{skipped} Bundle entries held no FHIR resource and were left out")
    return out


def entries(bundle: object) -> list:
    """A Bundle's entries; an ``entry`` that is not a list counts as one entry holding nothing."""
    value = bundle.get("entry") if isinstance(bundle, dict) else None
    return [] if value is None else value if isinstance(value, list) else [None]


def entry_problem(entry: object) -> str | None:
    """Why a Bundle entry holds no FHIR resource, in two or three words; None when it holds one."""
    if not isinstance(entry, dict):
        return "not an object"
    if entry.get("resource") is None:
        return "no resource"
    resource = entry["resource"]
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return "no resourceType"
    return None


def outcome_messages(outcome: dict) -> list[str]:
    """The issues of an OperationOutcome as ``"severity: text"`` lines."""
    messages = []
    for issue in outcome.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        text = text_of(issue.get("details")) or issue.get("diagnostics") or issue.get("code") or "issue"
        messages.append(f"{issue.get('severity', 'information')}: {text}")
    return messages


def valid_resources(resources: list[dict], warnings: list[str], left_out: LeftOut | None = None) -> list[dict]:
    """Keep the resources that parse as FHIR R4 (fhirclient models); count the rest as warnings and,
    when given, in ``left_out`` (``INVALID``, with the resource type and why)."""
    kept, bad = [], 0
    for res in resources:
        why = invalid_reason(res)
        if why is None:
            kept.append(res)
            continue
        bad += 1
        if left_out is not None:
            leave_out(left_out, INVALID, f"{res.get('resourceType', 'resource')}: {why}")
    if bad:
        warnings.append(f"{bad} {resources[0].get('resourceType', 'resource')} entries could not be read and were left out")
    return kept


_VALIDATED: dict[bytes, str | None] = {}
_VALIDATED_MAX = 100_000
_UNSEEN = object()


def invalid_reason(res: dict) -> str | None:
    """None when ``res`` parses as its FHIR R4 model, else why not in a few words (no data values).

    ``valid.valid`` vouches for a valid resource by the models' own rules without building one
    (``app.fetch.valid`` says how much faster); the model is built only for the rest, to give the
    verdict and the reason."""
    model = MODELS.get(res.get("resourceType"))
    if model is not None and valid(res, model):
        return None
    # The same resources arrive again on every chart open and CDS call; hashing the JSON costs
    # a fraction of a full model parse, so remember the verdict per exact content.
    try:
        key = hashlib.blake2b(json.dumps(res, sort_keys=True, separators=(",", ":")).encode(), digest_size=16).digest()
    except (TypeError, ValueError, RecursionError):
        return "not JSON"
    verdict = _VALIDATED.get(key, _UNSEEN)
    if verdict is _UNSEEN:
        try:
            if model:
                model(res, strict=True)
            verdict = None
        except fhirabstractbase.FHIRValidationError as exc:
            verdict = _reason(exc)
        except (TypeError, ValueError, AttributeError):
            verdict = "not valid FHIR R4"
        except RecursionError:
            verdict = "nested too deeply"
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.clear()
        _VALIDATED[key] = verdict
    return verdict


def leave_out(left_out: LeftOut, kind: str, detail: str, n: int = 1) -> None:
    """Count ``n`` more of what was left out as ``kind`` (``INVALID``, ``NOT_A_RESOURCE``) for ``detail``."""
    by_detail = left_out.setdefault(kind, {})
    by_detail[detail] = by_detail.get(detail, 0) + n


def add_left_out(into: LeftOut, more: LeftOut) -> LeftOut:
    """Add the counts of ``more`` to ``into`` (returned), e.g. a door's several answers into one record's."""
    for kind, details in more.items():
        for detail, n in details.items():
            leave_out(into, kind, detail, n)
    return into


def _reason(exc: fhirabstractbase.FHIRValidationError) -> str:
    """The deepest of a model's validation errors (in a stable order) in a few words: the element's
    path and what is wrong, never a value from the data."""
    found = sorted(_leaves(exc, ()), key=lambda leaf: (-len(leaf[0]), leaf[:3]))  # the most specific first
    if not found:
        return "not valid FHIR R4"
    path, _, message, error = found[0]
    if len(path) > 4:  # a few words, however deep the element
        path = (*path[:2], "…", path[-1])
    where = ".".join(path)
    quoted = re.search(r'"([^"]*)"', message)  # a missing element's name, from the model
    if isinstance(error, KeyError) and quoted and _NAME.fullmatch(quoted.group(1)):
        return f"required {'.'.join([*path, quoted.group(1)])} missing"
    if isinstance(error, AttributeError):
        return f"an element FHIR R4 does not define{f' in {where}' if where else ''}"
    if isinstance(error, TypeError) and where:
        return f"{where} of the wrong type"
    return f"{where} not valid" if where else "not valid FHIR R4"


def _leaves(exc: BaseException, path: tuple[str, ...]) -> list[tuple]:
    """(path, error class, message, error) of every error under ``exc``."""
    if not isinstance(exc, fhirabstractbase.FHIRValidationError):
        return [(path, type(exc).__name__, str(exc), exc)]
    here = (*path, *(p for p in str(exc.path or "").split(".") if _NAME.fullmatch(p)))
    return [leaf for err in exc.errors for leaf in _leaves(err, here)]


def attachment_reader(binaries: dict[str, dict], read_url: UrlReader | None,
                      missing: str) -> Callable[[dict], bytes]:
    """The one attachment reader: inline ``data``, a Binary among the resources, else ``read_url``.

    ``read_url`` (a door that can reach the EHR) must raise ``notes.Unreadable`` on failure;
    without one, content that is neither inline nor among the resources is Unreadable(``missing``).
    """
    def read(attachment: dict) -> bytes:
        if attachment.get("data") is not None:
            return notes_mod.decode_base64(attachment["data"])
        url = attachment.get("url")
        if not url:
            raise notes_mod.Unreadable("the note has no content")
        ref = url.rsplit("Binary/", 1)
        binary = binaries.get(ref[1]) if len(ref) == 2 else None
        if binary is not None:
            return notes_mod.decode_base64(binary.get("data") or "")
        if read_url is None:
            raise notes_mod.Unreadable(missing)
        return read_url(url)
    return read


def build_record(patient_id: str, resources: Iterable[dict], *, read_url: UrlReader | None = None,
                 missing_content: str = "the note's content could not be read", unavailable: dict | None = None,
                 partial: dict[str, list[str]] | None = None, warnings: list[str] | None = None,
                 left_out: LeftOut | None = None, map_notes: Callable = map) -> PatientRecord:
    """The PatientRecord of ``patient_id`` from its FHIR resources, whatever door they came through.

    Resources are de-duplicated (by type and id), validated as FHIR R4 (unreadable ones are left
    out with a warning), Observations kept when laboratory and not cancelled or entered in error,
    DocumentReference and DiagnosticReport narratives read to text (``map_notes`` may read them
    concurrently) and sorted newest first. ``unavailable``, ``partial`` and ``warnings`` carry what
    the door could not fetch, so a failed fetch never reads as "no data"; ``left_out`` what it
    could not use (``bundle_resources``), to which the resources failing validation are added.

    Left out on purpose, and not counted: types a record is not made of, repeated versions of a
    resource, Observations that are not laboratory or were cancelled or entered in error (not
    validated either, ``passed_over``), notes entered in error and reports without a narrative
    (``notes.note_stub``).
    """
    warnings = list(warnings or [])
    left_out = {kind: dict(details) for kind, details in (left_out or {}).items()}
    by_type: dict[str, list[dict]] = {t: [] for t in RECORD_TYPES}
    seen: set[tuple[str, str]] = set()
    for res in resources:
        kind = res.get("resourceType") if isinstance(res, dict) else None
        if kind not in by_type:
            continue
        rid = res.get("id")
        if isinstance(rid, str) and rid:
            if (kind, rid) in seen:
                continue
            seen.add((kind, rid))
        by_type[kind].append(res)
    by_type["Observation"] = [o for o in by_type["Observation"] if not passed_over(o)]
    for kind in MODELS:
        by_type[kind] = valid_resources(by_type[kind], warnings, left_out)
    binaries = {b.get("id"): b for b in by_type["Binary"] if isinstance(b.get("id"), str)}
    read = attachment_reader(binaries, read_url, missing_content)
    stubs = [s for s in map(notes_mod.note_stub, by_type["DocumentReference"] + by_type["DiagnosticReport"]) if s]
    notes: list[Note] = list(map_notes(lambda stub: notes_mod.read_note(*stub, read), stubs))
    notes.sort(key=lambda n: n.date or "", reverse=True)
    return PatientRecord(
        patient_id=patient_id,
        patient=_patient(by_type["Patient"], patient_id),
        conditions=_newest_first(by_type["Condition"], onset),
        observations=_newest_first([o for o in by_type["Observation"]
                                    if is_lab(o) and o.get("status") not in EXCLUDED_STATUSES], effective),
        notes=notes,
        unavailable=dict(unavailable or {}),
        partial={k: list(v) for k, v in (partial or {}).items() if v},
        warnings=warnings,
        left_out=left_out,
    )


def _newest_first(resources, when: Callable[[dict], str | None]) -> list[dict]:
    # Doors return the same resources in different orders (one search per category, prefetch,
    # file order): one canonical order, newest first and then by id, makes their records equal.
    by_id = sorted(resources, key=lambda r: str(r.get("id") or ""))
    return sorted(by_id, key=lambda r: str(when(r) or ""), reverse=True)


def _patient(patients: list[dict], patient_id: str) -> dict | None:
    # A Patient without an id can only be the one a door already matched to ``patient_id``.
    return next((p for p in patients if p.get("id") in (patient_id, None)), None)


def passed_over(observation: dict) -> bool:
    """Whether the record leaves ``observation`` out whatever it holds: well-formed as far as that is
    decided (``status``, ``category``) and not laboratory, or cancelled or entered in error. Nothing
    reads such an Observation, so it is not validated either (a third of a general population's);
    one whose category or status is malformed is validated, and counted when it fails."""
    status = observation.get("status")
    if status is not None and type(status) is not str:
        return False
    if status in EXCLUDED_STATUSES:
        return True
    codes = category_codes(observation)
    return bool(codes) and "laboratory" not in codes


def is_lab(observation: dict) -> bool:
    """A laboratory Observation: category laboratory, or no category at all."""
    codes = category_codes(observation)
    return not codes or "laboratory" in codes


def category_codes(observation: dict) -> set | None:
    """The codes of an Observation's categories (None for a coding without one); None when the
    category is malformed (not a list of concepts, codings or string codes): that is for validation
    to judge, so nothing is decided on it (``passed_over``)."""
    categories = observation.get("category")
    if not categories:
        return set()
    if type(categories) is not list:
        return None
    codes = set()
    for concept in categories:
        if type(concept) is not dict:
            return None
        codings = concept.get("coding")
        if codings is None:
            continue
        if type(codings) is not list:
            return None
        for coding in codings:
            if type(coding) is not dict:
                return None
            code = coding.get("code")
            if code is not None and type(code) is not str:
                return None
            codes.add(code)
    return codes
