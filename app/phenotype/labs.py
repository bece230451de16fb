"""Laboratory results → HPO through loinc2hpo; only abnormal results count, units never guessed."""
from __future__ import annotations

from ..fetch.record import interpretation, lab_value, reference_range, text_of
from .model import PRESENT, Phenotype

LOINC = "http://loinc.org"
# Interpretation flags → the loinc2hpo outcome they stand for. "A"/"AA" say abnormal without a
# direction, which a quantitative test cannot map to high or low, so only ordinal tests use them.
OUTCOME = {"H": "H", "HH": "H", "HU": "H", ">": "H", "L": "L", "LL": "L", "LU": "L", "<": "L",
           "POS": "POS", "DET": "POS"}
DIRECTIONLESS = {"A", "AA"}


def from_labs(observations: list[dict], kb) -> list[Phenotype]:
    """Present phenotypes for abnormal lab results whose LOINC code and outcome loinc2hpo knows."""
    found = []
    for o in observations:
        flag = interpretation(o)
        if flag is None:
            continue
        codes = [c.get("code") for c in (o.get("code") or {}).get("coding", []) if c.get("system") == LOINC]
        for code in codes:
            outcomes = kb.loinc.get(code)
            if not outcomes:
                continue
            outcome = OUTCOME.get(flag) or ("POS" if flag in DIRECTIONLESS and "POS" in outcomes else None)
            hpo = outcomes.get(outcome) if outcome else None
            if hpo:
                found.append(Phenotype(hpo=hpo, label=kb.lexicon.name(hpo) or hpo, status=PRESENT,
                                       source=f"Observation/{o.get('id')}", origin="lab", evidence=_evidence(o, flag)))
                break
    return found


def _evidence(o: dict, flag: str) -> str:
    parts = [text_of(o.get("code")) or "lab", lab_value(o) or "no value", f"({flag})"]
    rng = reference_range(o)
    if rng:
        parts.append(f"ref {rng}")
    date = o.get("effectiveDateTime") or o.get("issued")
    if date:
        parts.append(date[:10])
    return " ".join(parts)
