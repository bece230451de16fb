"""The PatientRecord and pure helpers that read it (FHIR resources stay plain dicts).

Nothing here invents a clinical value: a lab without a flag or a reference range is not called
abnormal, a missing date stays missing, and a section that could not be fetched says why.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# H/L and their critical forms, plus "abnormal" and the coded-result outcomes.
ABNORMAL_FLAGS = {"H": "high", "HH": "critically high", "HU": "very high", "L": "low", "LL": "critically low",
                  "LU": "very low", "A": "abnormal", "AA": "critically abnormal", "POS": "positive",
                  "DET": "detected", ">": "above range", "<": "below range"}
NORMAL_FLAGS = {"N", "NEG", "ND"}
EXCLUDED_STATUSES = {"entered-in-error", "cancelled"}
SECTION_LABELS = {"patient": "demographics", "conditions": "problem list", "labs": "laboratory results",
                  "notes": "clinical notes and reports"}


@dataclass
class Note:
    """A clinical note or report as text, or why its text is missing."""

    ref: str
    kind: str  # "note" (DocumentReference) or "report" (DiagnosticReport)
    title: str
    date: str | None
    content_type: str | None
    text: str = ""
    error: str | None = None
    shortened: bool = False  # only the first part was converted (very large HTML/RTF); the page says so
    authors: list[str] = field(default_factory=list)  # who wrote it (displays): de-identification removes them


@dataclass
class PatientRecord:
    """What the EHR returned for one patient, plus what it could not return and why."""

    patient_id: str
    patient: dict | None = None
    conditions: list[dict] = field(default_factory=list)
    observations: list[dict] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # section → why none of it could be had
    partial: dict[str, list[str]] = field(default_factory=dict)  # section → the parts that failed, and why
    warnings: list[str] = field(default_factory=list)
    left_out: dict[str, dict[str, int]] = field(default_factory=dict)  # what could not be used: kind → {why → how many}

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)

    def gaps(self) -> list[str]:
        """Everything that could not be read, in words: whole sections, parts of them, unreadable notes,
        resources left out as unusable (the kind, how many and why; never a value from the data).

        A failed fetch must never read as "no data": every door shows these lines.
        """
        lines = [f"{SECTION_LABELS.get(s, s)}: not available ({why})" for s, why in self.unavailable.items()]
        lines += [f"{SECTION_LABELS.get(s, s)}: partly not available ({'; '.join(parts)})"
                  for s, parts in self.partial.items() if parts and s not in self.unavailable]
        errors: dict[str, int] = {}
        for note in self.notes:
            if note.error:
                errors[note.error] = errors.get(note.error, 0) + 1
        lines += [f"{n} {'note' if n == 1 else 'notes'} could not be read ({why})" for why, n in errors.items()]
        lines += [f"{kind}: {n} left out ({why})" for kind, whys in self.left_out.items() for why, n in whys.items()]
        return lines

    @classmethod
    def from_dict(cls, data: dict) -> PatientRecord:
        """Rebuild a record saved with ``to_dict``."""
        data = dict(data)
        data["notes"] = [Note(**n) for n in data.get("notes", [])]
        return cls(**data)


def text_of(concept: dict | None) -> str:
    """The human text of a CodeableConcept: its text, else the first coding's display, else its code."""
    if not concept:
        return ""
    if concept.get("text"):
        return concept["text"]
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return coding["display"]
    for coding in concept.get("coding", []):
        if coding.get("code"):
            return coding["code"]
    return ""


def patient_name(patient: dict | None) -> str | None:
    """Display name of a Patient (official name first), or None when the record has none."""
    if not patient:
        return None
    names = patient.get("name") or []
    names = sorted(names, key=lambda n: 0 if n.get("use") == "official" else 1)
    for name in names:
        if name.get("text"):
            return name["text"]
        parts = [*name.get("given", []), name.get("family", "")]
        joined = " ".join(p for p in parts if p)
        if joined:
            return joined
    return None


def age_years(birth_date: str | None, today: date) -> int | None:
    """Age in whole years from a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD); None when unknown."""
    if not birth_date:
        return None
    try:
        parts = [int(p) for p in birth_date[:10].split("-")]
    except ValueError:
        return None
    year, month, day = (parts + [1, 1])[:3]
    years = today.year - year - ((today.month, today.day) < (month, day))
    return years if years >= 0 else None


def banner(patient: dict | None, today: date) -> dict:
    """Fields of the patient banner; missing values are None, never guessed."""
    patient = patient or {}
    mrn = None
    for ident in patient.get("identifier", []):
        codes = {c.get("code") for c in (ident.get("type") or {}).get("coding", [])}
        if "MR" in codes or (ident.get("type") or {}).get("text", "").upper() in ("MRN", "EPI"):
            mrn = ident.get("value")
            break
    return {"name": patient_name(patient), "gender": patient.get("gender"),
            "birth_date": patient.get("birthDate"), "age": age_years(patient.get("birthDate"), today), "mrn": mrn}


def condition_category(condition: dict) -> str:
    """The first known category code of a Condition (problem-list-item, encounter-diagnosis, health-concern)."""
    for concept in condition.get("category", []):
        for coding in concept.get("coding", []):
            if coding.get("code"):
                return coding["code"]
    return ""


def problems(conditions: list[dict]) -> list[dict]:
    """Problem rows for display: text, coding, category, clinical status, onset."""
    rows = []
    for c in conditions:
        if _verification(c) == "entered-in-error":
            continue
        coding = next((cd for cd in (c.get("code") or {}).get("coding", []) if cd.get("code")), None)
        rows.append({
            "ref": f"Condition/{c.get('id')}",
            "text": text_of(c.get("code")) or "(no description)",
            "code": f"{_system_name(coding.get('system'))} {coding['code']}" if coding else None,
            "category": condition_category(c).replace("-", " "),
            "status": text_of(c.get("clinicalStatus")) or None,
            "onset": onset(c),
        })
    return rows


def onset(condition: dict) -> str | None:
    """When a Condition began: its onset (date or period start), else when it was recorded; None if neither."""
    return (condition.get("onsetDateTime") or (condition.get("onsetPeriod") or {}).get("start")
            or condition.get("recordedDate"))


def effective(observation: dict) -> str | None:
    """When an Observation was made: its effective date (or period start), else when it was issued."""
    return (observation.get("effectiveDateTime") or (observation.get("effectivePeriod") or {}).get("start")
            or observation.get("issued"))


def _verification(condition: dict) -> str:
    return text_of(condition.get("verificationStatus")).lower()


def _system_name(system: str | None) -> str:
    return {"http://snomed.info/sct": "SNOMED", "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
            "http://loinc.org": "LOINC"}.get(system or "", "code")


# Interpretation words some exports write instead of (or beside) HL7 codes.
_WORDS = {"high": "H", "above high normal": "H", "critical high": "HH", "low": "L", "below low normal": "L",
          "critical low": "LL", "abnormal": "A", "critical": "AA", "critically abnormal": "AA", "normal": "N",
          "positive": "POS", "detected": "POS", "negative": "NEG", "not detected": "ND"}
_DIRECTIONLESS = {"A", "AA"}


def interpretation(observation: dict) -> str | None:
    """The result flag: the coded (or written) interpretation; where it says "abnormal" without a
    direction (HL7 ``A``/``AA``, "abnormal"), the direction the value takes against the reference
    range; with no interpretation, the flag the value and reference range give; else None.
    Nothing is made up: without a value and a range, "abnormal" stays ``A``."""
    flags = []
    for concept in observation.get("interpretation") or []:
        if not isinstance(concept, dict):
            continue
        flags += [(c.get("code") or "").strip().upper() for c in concept.get("coding") or [] if isinstance(c, dict)]
        flags.append(_WORDS.get(str(concept.get("text") or "").strip().lower(), ""))
    flags = [f for f in flags if f]
    coded = next((f for f in flags if f not in _DIRECTIONLESS), None) or (flags[0] if flags else None)
    if coded is not None and coded not in _DIRECTIONLESS:
        return coded
    ranged = _against_range(observation)
    if coded in _DIRECTIONLESS:
        return ranged if ranged in ("H", "L") else coded
    return ranged


def _against_range(observation: dict) -> str | None:
    """H, L or N from the value and the first reference range; None where either is missing."""
    value = (observation.get("valueQuantity") or {}).get("value")
    ranges = observation.get("referenceRange") or []
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not ranges or not isinstance(ranges[0], dict):
        return None
    low = (ranges[0].get("low") or {}).get("value")
    high = (ranges[0].get("high") or {}).get("value")
    if isinstance(high, (int, float)) and value > high:
        return "H"
    if isinstance(low, (int, float)) and value < low:
        return "L"
    if isinstance(low, (int, float)) or isinstance(high, (int, float)):
        return "N"
    return None


def lab_value(observation: dict) -> str | None:
    """The result as written: quantity with unit, coded answer or string; None when there is none."""
    q = observation.get("valueQuantity")
    if q and q.get("value") is not None:
        unit = q.get("unit") or q.get("code") or ""
        return f"{q.get('comparator', '')}{q['value']:g} {unit}".strip() if isinstance(q["value"], (int, float)) \
            else f"{q['value']} {unit}".strip()
    if observation.get("valueCodeableConcept"):
        return text_of(observation["valueCodeableConcept"]) or None
    for key in ("valueString", "valueInteger", "valueBoolean"):
        if key in observation:
            return str(observation[key])
    return None


def reference_range(observation: dict) -> str | None:
    """The first reference range as text (``low–high unit``), or None."""
    ranges = observation.get("referenceRange") or []
    if not ranges:
        return None
    r = ranges[0]
    if r.get("text"):
        return r["text"]
    low, high = r.get("low") or {}, r.get("high") or {}
    unit = high.get("unit") or low.get("unit") or ""
    if "value" in low and "value" in high:
        return f"{low['value']:g}–{high['value']:g} {unit}".strip()
    if "value" in high:
        return f"≤ {high['value']:g} {unit}".strip()
    if "value" in low:
        return f"≥ {low['value']:g} {unit}".strip()
    return None


def abnormal_labs(observations: list[dict]) -> list[dict]:
    """Abnormal laboratory results, newest first, with value, unit, flag, range and date."""
    rows = []
    for o in observations:
        if o.get("status") in EXCLUDED_STATUSES:
            continue
        flag = interpretation(o)
        if flag is None or flag in NORMAL_FLAGS or flag not in ABNORMAL_FLAGS:
            continue
        rows.append({
            "ref": f"Observation/{o.get('id')}",
            "name": text_of(o.get("code")) or "(unnamed test)",
            "value": lab_value(o),
            "flag": flag,
            "flag_text": ABNORMAL_FLAGS[flag],
            "range": reference_range(o),
            "date": effective(o),
            "flag_computed": not o.get("interpretation"),
        })
    rows.sort(key=lambda r: r["date"] or "", reverse=True)
    return rows
