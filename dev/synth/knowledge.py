"""What the synthetic patient generator knows: HPO terms, loinc2hpo routes and a small lab table.

The lab table holds only LOINC codes whose unit and adult reference range we are sure of; a
phenotype whose only loinc2hpo route goes through a code missing here is never made into a lab
result (it goes to a problem or a note instead), so no unit or range is ever invented.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from app.knowledge.hpo import read_obo


@dataclass(frozen=True)
class LabTest:
    """A quantitative LOINC test: display name, short name, UCUM unit, reference range, decimals."""

    display: str
    short: str
    unit: str
    low: float | None
    high: float | None
    decimals: int


# Adult reference ranges as commonly printed by US reference labs (LabCorp / Quest / Mayo).
LAB_TESTS: dict[str, LabTest] = {
    "2524-7": LabTest("Lactate [Moles/volume] in Serum or Plasma", "Lactate", "mmol/L", 0.5, 2.2, 1),
    "2458-8": LabTest("IgA [Mass/volume] in Serum or Plasma", "IgA", "mg/dL", 70, 400, 0),
    "2465-3": LabTest("IgG [Mass/volume] in Serum or Plasma", "IgG", "mg/dL", 700, 1600, 0),
    "2472-9": LabTest("IgM [Mass/volume] in Serum or Plasma", "IgM", "mg/dL", 40, 230, 0),
    "19113-0": LabTest("IgE [Units/volume] in Serum or Plasma", "IgE", "[IU]/mL", None, 100, 0),
    "2157-6": LabTest("Creatine kinase [Enzymatic activity/volume] in Serum or Plasma", "CK", "U/L", 30, 200, 0),
    "2571-8": LabTest("Triglyceride [Mass/volume] in Serum or Plasma", "Triglycerides", "mg/dL", None, 150, 0),
    "777-3": LabTest("Platelets [#/volume] in Blood by Automated count", "Platelets", "10*3/uL", 150, 400, 0),
    "4548-4": LabTest("Hemoglobin A1c/Hemoglobin.total in Blood", "Hemoglobin A1c", "%", 4.0, 5.6, 1),
    "2085-9": LabTest("Cholesterol in HDL [Mass/volume] in Serum or Plasma", "HDL cholesterol", "mg/dL", 40, None, 0),
    "3084-1": LabTest("Urate [Mass/volume] in Serum or Plasma", "Uric acid", "mg/dL", 3.5, 7.2, 1),
    "2160-0": LabTest("Creatinine [Mass/volume] in Serum or Plasma", "Creatinine", "mg/dL", 0.6, 1.3, 2),
    "1920-8": LabTest("Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "AST", "U/L", 10, 40, 0),
    "1742-6": LabTest("Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "ALT", "U/L", 7, 56, 0),
    "751-8": LabTest("Neutrophils [#/volume] in Blood by Automated count", "Neutrophils, absolute", "10*3/uL", 1.5, 8.0, 2),
    "2093-3": LabTest("Cholesterol [Mass/volume] in Serum or Plasma", "Cholesterol, total", "mg/dL", 100, 199, 0),
    "2889-4": LabTest("Protein [Mass/time] in 24 hour Urine", "Protein, 24 h urine", "mg/(24.h)", None, 150, 0),
    "16362-6": LabTest("Ammonia [Moles/volume] in Plasma", "Ammonia", "umol/L", 11, 32, 0),
    "731-0": LabTest("Lymphocytes [#/volume] in Blood by Automated count", "Lymphocytes, absolute", "10*3/uL", 1.0, 4.8, 2),
    "2842-3": LabTest("Prolactin [Mass/volume] in Serum or Plasma", "Prolactin", "ng/mL", 4.0, 23.0, 1),
    "6874-2": LabTest("Calcium [Mass/time] in 24 hour Urine", "Calcium, 24 h urine", "mg/(24.h)", 100, 300, 0),
    "2141-0": LabTest("Corticotropin [Mass/volume] in Plasma", "ACTH", "pg/mL", 7.2, 63.3, 1),
    "711-2": LabTest("Eosinophils [#/volume] in Blood by Automated count", "Eosinophils, absolute", "10*3/uL", 0.0, 0.5, 2),
    "2345-7": LabTest("Glucose [Mass/volume] in Serum or Plasma", "Glucose", "mg/dL", 70, 99, 0),
    "6690-2": LabTest("Leukocytes [#/volume] in Blood by Automated count", "WBC", "10*3/uL", 4.5, 11.0, 1),
    "2089-1": LabTest("Cholesterol in LDL [Mass/volume] in Serum or Plasma", "LDL cholesterol", "mg/dL", None, 99, 0),
    "1975-2": LabTest("Bilirubin.total [Mass/volume] in Serum or Plasma", "Bilirubin, total", "mg/dL", 0.1, 1.2, 1),
    "1968-7": LabTest("Bilirubin.direct [Mass/volume] in Serum or Plasma", "Bilirubin, direct", "mg/dL", 0.0, 0.3, 1),
    "2951-2": LabTest("Sodium [Moles/volume] in Serum or Plasma", "Sodium", "mmol/L", 135, 145, 0),
    "5902-2": LabTest("Prothrombin time (PT)", "PT", "s", 11.0, 13.5, 1),
    "6768-6": LabTest("Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "Alkaline phosphatase",
                      "U/L", 44, 147, 0),
    "2143-6": LabTest("Cortisol [Mass/volume] in Serum or Plasma", "Cortisol", "ug/dL", 6.2, 19.4, 1),
    "2324-2": LabTest("Gamma glutamyl transferase [Enzymatic activity/volume] in Serum or Plasma", "GGT", "U/L", 8, 61, 0),
    "19123-9": LabTest("Magnesium [Mass/volume] in Serum or Plasma", "Magnesium", "mg/dL", 1.7, 2.2, 1),
    "1963-8": LabTest("Bicarbonate [Moles/volume] in Serum or Plasma", "Bicarbonate", "mmol/L", 22, 29, 0),
    "787-2": LabTest("MCV [Entitic volume] by Automated count", "MCV", "fL", 80, 100, 1),
    "32623-1": LabTest("Platelet mean volume [Entitic volume] in Blood by Automated count", "MPV", "fL", 7.5, 11.5, 1),
    "2823-3": LabTest("Potassium [Moles/volume] in Serum or Plasma", "Potassium", "mmol/L", 3.5, 5.1, 1),
    "2731-8": LabTest("Parathyrin.intact [Mass/volume] in Serum or Plasma", "PTH, intact", "pg/mL", 15, 65, 0),
    "1988-5": LabTest("C reactive protein [Mass/volume] in Serum or Plasma", "CRP", "mg/L", None, 10.0, 1),
    "17861-6": LabTest("Calcium [Mass/volume] in Serum or Plasma", "Calcium", "mg/dL", 8.6, 10.3, 1),
    "4576-5": LabTest("Hemoglobin F/Hemoglobin.total in Blood", "Hemoglobin F", "%", None, 2.0, 1),
    "4679-7": LabTest("Reticulocytes/100 erythrocytes in Blood", "Reticulocytes", "%", 0.5, 2.5, 1),
    "1751-7": LabTest("Albumin [Mass/volume] in Serum or Plasma", "Albumin", "g/dL", 3.5, 5.0, 1),
    "718-7": LabTest("Hemoglobin [Mass/volume] in Blood", "Hemoglobin", "g/dL", 12.0, 17.5, 1),
    "4544-3": LabTest("Hematocrit [Volume Fraction] of Blood by Automated count", "Hematocrit", "%", 36.0, 50.0, 1),
    "789-8": LabTest("Erythrocytes [#/volume] in Blood by Automated count", "RBC", "10*6/uL", 4.2, 5.9, 2),
    "2075-0": LabTest("Chloride [Moles/volume] in Serum or Plasma", "Chloride", "mmol/L", 98, 107, 0),
    "3094-0": LabTest("Urea nitrogen [Mass/volume] in Serum or Plasma", "BUN", "mg/dL", 7, 20, 0),
    "2885-2": LabTest("Protein [Mass/volume] in Serum or Plasma", "Protein, total", "g/dL", 6.0, 8.3, 1),
    "20448-7": LabTest("Insulin [Units/volume] in Serum or Plasma", "Insulin", "u[IU]/mL", 2.6, 24.9, 1),
    "742-7": LabTest("Monocytes [#/volume] in Blood by Automated count", "Monocytes, absolute", "10*3/uL", 0.2, 0.95, 2),
    "3016-3": LabTest("Thyrotropin [Units/volume] in Serum or Plasma", "TSH", "m[IU]/L", 0.4, 4.0, 2),
    "3024-7": LabTest("Thyroxine (T4) free [Mass/volume] in Serum or Plasma", "Free T4", "ng/dL", 0.8, 1.8, 2),
    "2777-1": LabTest("Phosphate [Mass/volume] in Serum or Plasma", "Phosphorus", "mg/dL", 2.5, 4.5, 1),
    "2532-0": LabTest("Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma", "LDH", "U/L", 140, 280, 0),
    "2276-4": LabTest("Ferritin [Mass/volume] in Serum or Plasma", "Ferritin", "ng/mL", 20, 250, 0),
    "13945-1": LabTest("Erythrocytes [#/area] in Urine sediment by Microscopy high power field", "Urine RBC", "/[HPF]", 0, 2, 0),
    "2028-9": LabTest("Carbon dioxide, total [Moles/volume] in Serum or Plasma", "CO2, total", "mmol/L", 22, 29, 0),
    "2498-4": LabTest("Iron [Mass/volume] in Serum or Plasma", "Iron", "ug/dL", 60, 170, 0),
    "2132-9": LabTest("Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma", "Vitamin B12", "pg/mL", 200, 900, 0),
    "2284-8": LabTest("Folate [Mass/volume] in Serum or Plasma", "Folate", "ng/mL", 2.7, 17.0, 1),
    "30341-2": LabTest("Erythrocyte sedimentation rate", "ESR", "mm/h", 0, 20, 0),
}

# Ordinal (presence) tests: the result is Positive / Negative, never a quantity.
ORD_TESTS: dict[str, tuple[str, str]] = {
    "20454-5": ("Protein [Presence] in Urine by Test strip", "Urine protein, dipstick"),
    "5794-3": ("Hemoglobin [Presence] in Urine by Test strip", "Urine blood, dipstick"),
    "8061-4": ("Nuclear Ab [Presence] in Serum", "ANA screen"),
    "2514-8": ("Ketones [Presence] in Urine by Test strip", "Urine ketones, dipstick"),
    "5770-3": ("Bilirubin.total [Presence] in Urine by Test strip", "Urine bilirubin, dipstick"),
}

# Routine panels (CBC, BMP) used for in-range "noise" results.
ROUTINE_CODES = ("718-7", "4544-3", "6690-2", "777-3", "2951-2", "2823-3", "2075-0",
                 "1963-8", "3094-0", "2160-0", "2345-7", "17861-6")


@dataclass(frozen=True)
class Term:
    """One HPO term: label, EXACT synonyms, EXACT abbreviations, SNOMED CT xref and parents."""

    id: str
    label: str
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    snomed: str | None = None
    parents: tuple[str, ...] = ()


@dataclass
class Knowledge:
    """HPO terms by id (with alt_id redirects) and loinc2hpo routes restricted to known tests.

    ``abnormal[hpo]`` lists (loinc, outcome) pairs whose result asserts the term (H/L for
    quantitative tests in LAB_TESTS with the needed bound, POS for ORD_TESTS); ``negating[hpo]``
    lists (loinc, kind) pairs whose in-range or negative result rules the term out.
    """

    terms: dict[str, Term]
    alt_ids: dict[str, str] = field(default_factory=dict)
    abnormal: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    negating: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    code_terms: dict[str, set[str]] = field(default_factory=dict)
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def term(self, hpo_id: str) -> Term | None:
        """Return the current term for ``hpo_id`` (following alt_id), or None if unknown."""
        return self.terms.get(self.alt_ids.get(hpo_id, hpo_id))

    def ancestors(self, hpo_id: str) -> frozenset[str]:
        """Return ``hpo_id`` and all its is_a ancestors."""
        if hpo_id not in self._ancestors:
            term = self.term(hpo_id)
            found = {hpo_id}
            for parent in term.parents if term else ():
                found |= self.ancestors(parent)
            self._ancestors[hpo_id] = frozenset(found)
        return self._ancestors[hpo_id]

    def related(self, a: str, b: str) -> bool:
        """True when one term is the other or an ancestor of it."""
        return a in self.ancestors(b) or b in self.ancestors(a)


def make_knowledge(terms: list[Term], annotations: list[tuple[str, str, str, str]],
                   alt_ids: dict[str, str] | None = None) -> Knowledge:
    """Build a Knowledge from terms and loinc2hpo rows ``(loinc, scale, outcome, hpo_id)``."""
    knowledge = Knowledge(terms={t.id: t for t in terms}, alt_ids=dict(alt_ids or {}))
    for loinc, scale, outcome, hpo in annotations:
        route = _route(loinc, scale, outcome)
        if route is None:
            continue
        kind, asserts = route
        knowledge.code_terms.setdefault(loinc, set()).add(hpo)
        if asserts:
            knowledge.abnormal.setdefault(hpo, []).append((loinc, outcome))
        if (loinc, kind) not in knowledge.negating.get(hpo, []):
            knowledge.negating.setdefault(hpo, []).append((loinc, kind))
    return knowledge


def _route(loinc: str, scale: str, outcome: str) -> tuple[str, bool] | None:
    """Classify one loinc2hpo row as ('qn'|'ord', asserts-the-term) or None when unusable."""
    if scale == "Qn" and loinc in LAB_TESTS and outcome in ("H", "L"):
        test = LAB_TESTS[loinc]
        bound = test.high if outcome == "H" else test.low
        usable = bound is not None and (outcome == "H" or bound > 0)
        return ("qn", True) if usable else None
    if scale in ("Ord", "Nom") and loinc in ORD_TESTS and outcome in ("POS", "NEG"):
        return "ord", outcome == "POS"
    return None


def load_knowledge(hpo_path: Path, loinc2hpo_path: Path) -> Knowledge:
    """Read hp.obo(.gz) and the loinc2hpo annotation TSV into a Knowledge."""
    terms, alt_ids = parse_obo(hpo_path)
    with open(loinc2hpo_path, newline="", encoding="utf-8") as fh:
        rows = [(r["loincId"], r["loincScale"], r["outcome"], r["hpoTermId"])
                for r in csv.DictReader(fh, delimiter="\t")]
    return make_knowledge(terms, rows, alt_ids)


def parse_obo(path: Path) -> tuple[list[Term], dict[str, str]]:
    """The live [Term] stanzas of an OBO file (``app.knowledge.hpo.read_obo``) as Terms, plus an alt_id → id map."""
    terms, alt_ids = [], {}
    for fields in read_obo(path)[1]:
        if fields.get("is_obsolete") == ["true"]:
            continue
        term = _term(fields)
        terms.append(term)
        alt_ids.update({alt: term.id for alt in fields.get("alt_id", [])})
    return terms, alt_ids


def _term(fields: dict[str, list[str]]) -> Term:
    """One [Term] stanza (tag → values) as a Term."""
    synonyms, abbreviations = [], []
    for value in fields.get("synonym", []):
        text, _, rest = value[1:].partition('" ')
        if rest.startswith("EXACT abbreviation"):
            abbreviations.append(text)
        elif rest.startswith("EXACT"):
            synonyms.append(text)
    snomed = [x.split(":", 1)[1].split()[0] for x in fields.get("xref", []) if x.startswith("SNOMEDCT_US:")]
    return Term(
        id=fields["id"][0], label=fields["name"][0], synonyms=tuple(synonyms),
        abbreviations=tuple(abbreviations), snomed=snomed[0] if snomed else None,
        parents=tuple(p.split()[0] for p in fields.get("is_a", [])),
    )
