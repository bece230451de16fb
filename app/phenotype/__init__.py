"""Phenotype extraction: a PatientRecord → a phenotype profile (HPO terms with provenance).

A pure function over the record and the compiled knowledge. Coded problems go through HPO's
SNOMED CT cross-references (ICD-10-CM through Orphanet, to spot a rare disease that is already
diagnosed), labs through loinc2hpo, and text (notes, reports, free-text problems) through the
HPO concept recognizer, where negated mentions become *absent* phenotypes and family-history or
hypothetical mentions are not the patient's. Obsolete ids are mapped to current terms,
duplicates merged (keeping every source). Every distinct present term the record names stays in
the profile, an ancestor beside its descendant included ("seizure" in one note, "focal seizure" in
another): the clinician sees what the record says, and the ranker collapses the profile to its most
specific terms itself. Absent terms keep only the most general, and none a present term implies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..knowledge.ontology import ontology
from ..record import PatientRecord, age_years
from .coded import from_conditions
from .labs import from_labs
from .model import ABSENT, PRESENT, Phenotype
from .narrative import from_notes

__all__ = ["Profile", "Phenotype", "extract", "PRESENT", "ABSENT"]


@dataclass
class Profile:
    """The patient's phenotype profile plus what the ranker and the clinician need beside it."""

    present: list[Phenotype] = field(default_factory=list)
    absent: list[Phenotype] = field(default_factory=list)
    known_diseases: list[dict] = field(default_factory=list)  # rare diseases already on the problem list
    age_years: float | None = None
    sex: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def weighed(self) -> list[Phenotype]:
        """The present phenotypes the ranker weighs as evidence: not an acute lab derangement, not a
        rare diagnosis already on the problem list (both are shown, not weighed)."""
        return [p for p in self.present if not (p.acute or p.diagnosis)]

    @property
    def all(self) -> list[Phenotype]:
        """Present then absent phenotypes."""
        return self.present + self.absent

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return {"present": [p.to_dict() for p in self.present], "absent": [p.to_dict() for p in self.absent],
                "known_diseases": self.known_diseases, "age_years": self.age_years, "sex": self.sex,
                "warnings": self.warnings}

    @classmethod
    def from_dict(cls, d: dict) -> Profile:
        """Rebuild from ``to_dict`` output."""
        return cls(present=[Phenotype.from_dict(p) for p in d["present"]],
                   absent=[Phenotype.from_dict(p) for p in d["absent"]], known_diseases=d["known_diseases"],
                   age_years=d["age_years"], sex=d["sex"], warnings=d["warnings"])


def extract(record: PatientRecord, kb, today=None) -> Profile:
    """The phenotype profile of ``record`` using the knowledge bundle ``kb`` (see ``app.knowledge``)."""
    from datetime import date

    found, known = from_conditions(record.conditions, kb)
    found += from_labs(record.observations, kb)
    notes_found, warnings = from_notes(record.notes, kb)
    found += notes_found
    present, absent = consolidate(found, kb)
    patient = record.patient or {}
    return Profile(present=present, absent=absent, known_diseases=known,
                   age_years=age_years(patient.get("birthDate"), today or date.today()),
                   sex=patient.get("gender"), warnings=warnings)


def consolidate(found: list[Phenotype], kb) -> tuple[list[Phenotype], list[Phenotype]]:
    """Current ids, duplicates merged: every distinct present term, the most general absent ones."""
    merged: dict[tuple[str, str], Phenotype] = {}
    for p in found:
        hpo = kb.lexicon.current(p.hpo)
        if hpo is None:
            continue
        key = (hpo, p.status)
        if key in merged:
            kept = merged[key]
            if (kept.acute or kept.diagnosis) and not (p.acute or p.diagnosis):  # weighed where it has weight
                p.hpo, p.label = kept.hpo, kept.label
                p.also = [s for s in [kept.source, *kept.also] if s != p.source]
                merged[key] = p
                continue
            if p.chance is None or kept.chance is None:  # said outside the labs too: no lab chance
                kept.chance = None
            if p.source != kept.source and p.source not in kept.also:
                kept.also.append(p.source)
            continue
        p.hpo, p.label = hpo, kb.lexicon.name(hpo) or p.label
        merged[key] = p
    present = {h: p for (h, s), p in merged.items() if s == PRESENT}
    implied = set().union(*(ancestors(h) for h in present)) if present else set()
    kept_present = list(present.values())
    absent = {h: p for (h, s), p in merged.items() if s == ABSENT and h not in present and h not in implied}
    kept_absent = [p for h, p in absent.items() if not (ancestors(h) & absent.keys())]
    order = {"condition": 0, "lab": 1, "report": 2, "note": 3, "clinician": 4}
    kept_present.sort(key=lambda p: (order.get(p.origin, 9), p.label))
    kept_absent.sort(key=lambda p: p.label)
    return kept_present, kept_absent


@lru_cache(maxsize=50_000)
def ancestors(hpo: str) -> frozenset[str]:
    """All ancestors of an HPO term in hpo3's ontology (empty for unknown ids)."""
    try:
        term = ontology().get_hpo_object(hpo)
    except RuntimeError:  # not in the ontology
        return frozenset()
    return frozenset(t.id for t in term.all_parents)
