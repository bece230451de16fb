"""Laboratory results → HPO through loinc2hpo; only abnormal results count, units never guessed.

Abnormal results are common in real records, above all during an admission, when the same tests
are drawn every day and a sick person's electrolytes, gases, clotting times and kidney values swing
out of range and back. Such an acute derangement says what happened during the admission, not what
the person has: it is kept in the profile (the clinician sees it, marked ``acute``) but not weighed
as evidence of a rare disease. A finding is *acute* when its abnormal results all fall within one
monitored episode: the analyte was measured on several days within ``EPISODE_DAYS`` of each other
(daily monitoring, which only acute care does), and its abnormal results do not span
``PERSISTENT_DAYS`` or more (repeatedly abnormal over months is what a chronic condition shows).
A result drawn on its own, outside such monitoring, keeps its weight: one value says nothing about
how long it lasted.

How telling a lasting abnormal result is depends on how often the test was done: a reference
interval holds the central 95 % of healthy people (CLSI EP28-A3c), so each result of an ordinary
person falls above it (or below) with probability ``OUTSIDE_ONE_SIDE`` = 2.5 %, and a record with
``k`` results of the analyte shows at least one such value with probability ``1 - 0.975 ** k``
(``chance``). The ranker takes that as the finding's frequency in ordinary records when it is
higher than the background's, so a high potassium among 40 results weighs little and one among
one weighs as a rare result should. Results are treated as independent, which overstates the
chance for serial results of one person: the safe side for a screen.
"""
from __future__ import annotations

from datetime import date

from ..knowledge.loinc import OUTSIDE_ONE_SIDE
from ..record import interpretation, lab_value, reference_range, text_of
from .model import PRESENT, Phenotype

LOINC = "http://loinc.org"
# Interpretation flags → the loinc2hpo outcome they stand for. "A"/"AA" say abnormal without a
# direction: ``interpretation`` has already taken the direction from the reference range where it
# could, so what is left here is an ordinal test (positive) or a result with no direction at all.
OUTCOME = {"H": "H", "HH": "H", "HU": "H", ">": "H", "L": "L", "LL": "L", "LU": "L", "<": "L",
           "POS": "POS", "DET": "POS"}
DIRECTIONLESS = {"A", "AA"}
# Daily monitoring: the same analyte measured on two days at most this far apart is an episode of
# acute care (outpatient tests are repeated after weeks or months, not days).
EPISODE_DAYS = 3
# Abnormal on dates at least this far apart: a lasting abnormality (the usual definition of a
# chronic laboratory finding, e.g. KDIGO's 3 months for chronic kidney disease).
PERSISTENT_DAYS = 90


def from_labs(observations: list[dict], kb) -> list[Phenotype]:
    """Present phenotypes for abnormal lab results whose LOINC code and outcome loinc2hpo knows;
    one per abnormal result (the profile merges them), each marked ``acute`` as the module says."""
    found: list[tuple[Phenotype, str, str, date | None]] = []
    measured: dict[str, set[date]] = {}
    results: dict[str, int] = {}
    for o in observations:
        codes = [c.get("code") for c in (o.get("code") or {}).get("coding", []) if c.get("system") == LOINC]
        day = _day(o)
        for code in codes:
            results[code] = results.get(code, 0) + 1
            if day is not None:
                measured.setdefault(code, set()).add(day)
        flag = interpretation(o)
        if flag is None:
            continue
        for code in codes:
            outcomes = kb.loinc.get(code)
            if not outcomes:
                continue
            outcome = OUTCOME.get(flag) or ("POS" if flag in DIRECTIONLESS and "POS" in outcomes else None)
            hpo = outcomes.get(outcome) if outcome else None
            if hpo:
                p = Phenotype(hpo=hpo, label=kb.lexicon.name(hpo) or hpo, status=PRESENT,
                              source=f"Observation/{o.get('id')}", origin="lab", evidence=_evidence(o, flag))
                found.append((p, code, outcome, day))
                break
    abnormal: dict[tuple[str, str], list[date]] = {}
    for _, code, outcome, day in found:
        if day is not None:
            abnormal.setdefault((code, outcome), []).append(day)
    analytes: dict[str, set[str]] = {}
    for p, code, _, _ in found:
        analytes.setdefault(p.hpo, set()).add(code)
    for p, code, outcome, day in found:
        p.acute = day is not None and acute(abnormal[(code, outcome)], measured.get(code, set()))
        p.chance = chance(sum(results[c] for c in analytes[p.hpo]))
    return [p for p, *_ in found]


def chance(results: int) -> float:
    """How often an ordinary record with this many results of the analyte shows at least one beyond
    one side of the reference interval (module docstring)."""
    return 1.0 - (1.0 - OUTSIDE_ONE_SIDE) ** max(results, 1)


def acute(abnormal_days: list[date], measured_days: set[date]) -> bool:
    """Whether abnormal results on ``abnormal_days`` are one acute episode's (module docstring), given
    every day the analyte was measured."""
    if (max(abnormal_days) - min(abnormal_days)).days >= PERSISTENT_DAYS:
        return False
    days = sorted(measured_days)
    monitored = {d for a, b in zip(days, days[1:], strict=False) if (b - a).days <= EPISODE_DAYS for d in (a, b)}
    return all(d in monitored for d in abnormal_days)


def _day(o: dict) -> date | None:
    when = o.get("effectiveDateTime") or (o.get("effectivePeriod") or {}).get("start") or o.get("issued")
    try:
        return date.fromisoformat(str(when)[:10])
    except (TypeError, ValueError):
        return None


def _evidence(o: dict, flag: str) -> str:
    parts = [text_of(o.get("code")) or "lab", lab_value(o) or "no value", f"({flag})"]
    rng = reference_range(o)
    if rng:
        parts.append(f"ref {rng}")
    when = o.get("effectiveDateTime") or o.get("issued")
    if when:
        parts.append(when[:10])
    return " ".join(parts)
