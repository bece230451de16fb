"""Adult reference ranges restored on Synthea's lab results, for the real-population benchmark (not a test module).

Synthea's records (``../shared/data/synthea-dev.ndjson.gz``) carry lab values without ``referenceRange``
or ``interpretation``, so none of their results ever reads as abnormal, while a real general
population has plenty of ordinary abnormal labs (a high cholesterol, a low eGFR, a chloride just
above range). :func:`restore` adds a ``referenceRange`` and an HL7 v3 interpretation (H/L/N) computed
from the value; it never changes a value.

The ranges are typical adult reference intervals of US laboratories, in the units Synthea writes.
Sources, per line: [MP] MedlinePlus lab test pages (U.S. National Library of Medicine: "Basic
metabolic panel", "Comprehensive metabolic panel", "CBC", "Lipid panel"…), [ATP] NCEP ATP III lipid
cut-offs (desirable / borderline-high), [ADA] American Diabetes Association Standards of Care
(fasting glucose < 100 mg/dL, HbA1c < 5.7 %), [KDIGO] KDIGO 2012 CKD guideline (eGFR < 60, ACR ≥ 30 mg/g),
[CBC] common automated-CBC adult intervals (e.g. Sysmex/ARUP adult ranges), [PSA] the conventional
4 ng/mL PSA cut-off, [NPPB] the ESC 2021 heart-failure rule-out for NT-proBNP (< 125 pg/mL).

Left out on purpose, because Synthea's unit and value disagree (a range would be wrong either way):
total protein 2885-2 (values 60–80 labelled g/dL: g/L), globulin 10834-0 (2–3.5 labelled g/L: g/dL),
platelet distribution width 32207-3 (values 150–520 fL). Allergen IgE and urinalysis results are rare
there and left as they are. Results of people under 18 at the time are left without a range (adult ranges).
"""
from __future__ import annotations

import copy
from datetime import date

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LOINC = "http://loinc.org"
DISPLAY = {"H": "High", "L": "Low", "N": "Normal"}

# LOINC → (low, high, unit, female (low, high) or None, source); None = no bound on that side.
RANGES: dict[str, tuple[float | None, float | None, str, tuple | None, str]] = {
    "2339-0": (70, 99, "mg/dL", None, "ADA fasting glucose"),
    "6299-2": (6, 20, "mg/dL", None, "MP BUN"),
    "38483-4": (0.7, 1.3, "mg/dL", (0.6, 1.1), "MP creatinine"),
    "49765-1": (8.5, 10.2, "mg/dL", None, "MP calcium"),
    "2947-0": (135, 145, "mmol/L", None, "MP sodium"),
    "6298-4": (3.7, 5.2, "mmol/L", None, "MP potassium"),
    "2069-3": (96, 106, "mmol/L", None, "MP chloride"),
    "20565-8": (23, 29, "mmol/L", None, "MP CO2 (bicarbonate)"),
    "33914-3": (60, None, "mL/min/{1.73_m2}", None, "KDIGO eGFR"),
    "2093-3": (None, 199, "mg/dL", None, "ATP total cholesterol desirable < 200"),
    "2571-8": (None, 149, "mg/dL", None, "ATP triglycerides normal < 150"),
    "18262-6": (None, 129, "mg/dL", None, "ATP LDL below borderline-high 130"),
    "2085-9": (40, None, "mg/dL", None, "ATP HDL low < 40"),
    "4548-4": (4.0, 5.6, "%", None, "ADA HbA1c < 5.7"),
    "718-7": (13.5, 17.5, "g/dL", (12.0, 15.5), "MP/CBC haemoglobin"),
    "4544-3": (41, 50, "%", (36, 44), "MP/CBC haematocrit"),
    "20570-8": (41, 50, "%", (36, 44), "MP/CBC haematocrit"),
    "6690-2": (4.5, 11.0, "10*3/uL", None, "MP/CBC leukocytes"),
    "789-8": (4.7, 6.1, "10*6/uL", (4.2, 5.4), "MP/CBC erythrocytes"),
    "787-2": (80, 100, "fL", None, "MP/CBC MCV"),
    "785-6": (27, 33, "pg", None, "MP/CBC MCH"),
    "786-4": (32, 36, "g/dL", None, "MP/CBC MCHC"),
    "21000-5": (39, 46, "fL", None, "CBC RDW-SD"),
    "777-3": (150, 400, "10*3/uL", None, "MP/CBC platelets"),
    "32623-1": (7.5, 11.5, "fL", None, "CBC mean platelet volume"),
    "1751-7": (3.4, 5.4, "g/dL", None, "MP albumin"),
    "1975-2": (0.1, 1.2, "mg/dL", None, "MP total bilirubin"),
    "6768-6": (44, 147, "U/L", None, "MP alkaline phosphatase"),
    "1742-6": (7, 56, "U/L", None, "MP ALT"),
    "1920-8": (8, 33, "U/L", None, "MP AST"),
    "14959-1": (None, 29, "mg/g", None, "KDIGO albumin/creatinine ratio < 30"),
    "2857-1": (None, 4.0, "ng/mL", None, "PSA 4 ng/mL"),
    "33762-6": (None, 124, "pg/mL", None, "NPPB NT-proBNP < 125"),
}


def _age_at(birth: str | None, when: str | None) -> float | None:
    try:
        b, w = date.fromisoformat(birth[:10]), date.fromisoformat(when[:10])
    except (TypeError, ValueError):
        return None
    return (w - b).days / 365.25


def restore(bundle: dict, stats: dict | None = None) -> dict:
    """A copy of ``bundle`` with adult reference ranges and H/L/N interpretations on the labs :data:`RANGES`
    knows (adults only). ``stats`` (if given) counts ``restored``, ``abnormal``, ``H``, ``L``, ``child`` and,
    per LOINC, ``by_code[code] = [restored, abnormal]``."""
    out = copy.deepcopy(bundle)
    patient = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "Patient")
    female = patient.get("gender") == "female"
    stats = stats if stats is not None else {}
    for entry in out["entry"]:
        o = entry["resource"]
        if o["resourceType"] != "Observation" or o.get("referenceRange") or o.get("interpretation"):
            continue
        code = next((c.get("code") for c in (o.get("code") or {}).get("coding", []) if c.get("system") == LOINC), None)
        q = o.get("valueQuantity") or {}
        if code not in RANGES or not isinstance(q.get("value"), (int, float)):
            continue
        age = _age_at(patient.get("birthDate"), o.get("effectiveDateTime") or o.get("issued"))
        if age is None or age < 18:
            stats["child"] = stats.get("child", 0) + 1
            continue
        low, high, unit, female_range, _ = RANGES[code]
        if female and female_range:
            low, high = female_range
        rng = {}
        if low is not None:
            rng["low"] = {"value": low, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
        if high is not None:
            rng["high"] = {"value": high, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
        value = q["value"]
        flag = "H" if high is not None and value > high else "L" if low is not None and value < low else "N"
        o["referenceRange"] = [rng]
        o["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": flag, "display": DISPLAY[flag]}],
                                "text": DISPLAY[flag]}]
        stats["restored"] = stats.get("restored", 0) + 1
        by_code = stats.setdefault("by_code", {}).setdefault(code, [0, 0])
        by_code[0] += 1
        if flag != "N":
            stats["abnormal"] = stats.get("abnormal", 0) + 1
            stats[flag] = stats.get(flag, 0) + 1
            by_code[1] += 1
    return out
