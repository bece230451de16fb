"""What a flag gives the clinician to do: the next steps a ranked differential names (pure).

An interruptive CDS card (``warning``) needs something to act on (issue 22). A high P(rare) spread
thinly over many candidates names nothing; these do, each with the share of the probability it
addresses:

- ``candidate``: the top disease itself (its probability): refer for it or test for it.
- ``test``: a finding in the candidates' "look for" lists that a laboratory test can check (an HPO
  term loinc2hpo reaches from a result), expected at least ``frequent`` (Orphanet, ≥ 30 %) by the
  candidates that list it; its share is their summed probability. One order answers for all of them.
- ``referral``: an Orphanet specialty classification (the root of the disease's classification
  tree: "Rare hematologic disease", "Rare renal disease"…) that the candidates share; its share is
  their summed probability. Classifications most diseases belong to ("Rare genetic disease", 74 % of
  Orphanet's disorders) name no specialty and are skipped (``BROAD_SPECIALTY``), and so is the one
  classification that gathers disorders by a treatment, not a specialty (``NOT_SPECIALTIES``).
- ``radar``: RaDaR (the reasoning model) has already answered this case and names one of the
  candidates: two independent engines agree (added by the CDS door, :func:`radar_step`).

The thresholds that make a step strong enough live with the other card thresholds
(``app.config.cds.CdsThresholds``, Helm ``cds.*``); this module only finds the steps.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from functools import cache

from ..knowledge import orphanet as orphanet_mod

FREQUENT = ("obligate", "very frequent", "frequent")  # Orphanet frequency words, ≥ 30 %
# A classification covering more than this share of Orphanet's disorders is no specialty to refer to.
BROAD_SPECIALTY = 0.5
# Orphanet 565779 "Rare disorder potentially indicated for transplant or complication after
# transplantation": disorders grouped by a possible treatment; there is no such clinic to refer to.
NOT_SPECIALTIES = frozenset({"565779"})
CLINICAL_TYPES = {"Disease", "Malformation syndrome", "Clinical subtype", "Etiological subtype", "Morphological anomaly",
                  "Clinical syndrome", "Biological anomaly", "Histopathological subtype"}
NAMES_SHOWN = 3
# Steps are found among the first candidates only, the ones a CDS card lists, so that every door (chart,
# card, `radar rank`, the screen) makes the same decision whatever length of list it ranks.
STEP_CANDIDATES = 3


@dataclass(frozen=True)
class Step:
    """One thing to do, what it is about, and the share of the probability (of the candidates) it addresses."""

    kind: str  # "candidate" | "test" | "referral" | "radar"
    text: str  # what to do, in words (plain text: callers escape it for their medium)
    probability: float  # summed probability of the candidates it addresses
    diseases: tuple[str, ...] = ()  # the candidates' names

    def to_json(self) -> dict:
        """The step as ``radar rank`` and the screen print it."""
        return {"kind": self.kind, "text": self.text, "probability": round(self.probability, 4),
                "diseases": list(self.diseases)}


def next_steps(suggestions: Sequence, testable: Set[str] = frozenset(), specialties: Mapping[str, frozenset] | None = None,
               names: Mapping[str, str] | None = None) -> list[Step]:
    """The steps ``suggestions`` (ranked, with ``probability`` and ``look_for``) name, strongest first.

    ``testable``: HPO terms a laboratory result can show (:func:`lab_testable`). ``specialties``:
    ORPHAcode (bare) → its specialty classifications, ``names`` their names (:func:`specialty_index`).
    At most one step of each kind: the strongest. Only the first ``STEP_CANDIDATES`` are looked at.
    """
    suggestions = list(suggestions[:STEP_CANDIDATES])
    if not suggestions:
        return []
    top = suggestions[0]
    steps = [Step("candidate", f"Consider {top.name}", top.probability, (top.name,))]
    steps += _best(_test_steps(suggestions, testable))
    steps += _best(_referral_steps(suggestions, specialties or {}, names or {}))
    return strongest_first(steps)


def strongest_first(steps: Iterable[Step]) -> list[Step]:
    """``steps`` ordered as every door lists them: the largest share of the probability first."""
    return sorted(steps, key=lambda s: -s.probability)


def _test_steps(suggestions: Sequence, testable: Set[str]) -> list[Step]:
    by_term: dict[str, list] = {}
    labels: dict[str, str] = {}
    for s in suggestions:
        for finding in s.look_for:
            if finding["hpo"] in testable and finding.get("frequency") in FREQUENT:
                by_term.setdefault(finding["hpo"], []).append(s)
                labels[finding["hpo"]] = finding["label"]
    return [Step("test", f"Test for {labels[hpo].lower()} (a laboratory result shows it): expected in {_names(found)}",
                 _mass(found), tuple(s.name for s in found))
            for hpo, found in sorted(by_term.items())]


def _referral_steps(suggestions: Sequence, specialties: Mapping[str, frozenset], names: Mapping[str, str]) -> list[Step]:
    by_root: dict[str, list] = {}
    for s in suggestions:
        for root in specialties.get(orphanet_mod.bare_orpha(s.orpha), ()) if s.orpha else ():
            by_root.setdefault(root, []).append(s)
    # Specialties that share exactly the same candidates are one step: "… in A or B".
    by_candidates: dict[tuple, tuple[list, list[str]]] = {}
    for root, found in by_root.items():
        by_candidates.setdefault(tuple(s.rank for s in found), (found, []))[1].append(names.get(root, root).lower())
    return [Step("referral", f"Refer to a specialist in {' or '.join(sorted(specialty_names))}: {_names(found)}",
                 _mass(found), tuple(s.name for s in found))
            for _, (found, specialty_names) in sorted(by_candidates.items())]


def radar_step(diagnoses: Iterable[Mapping], suggestions: Sequence) -> Step | None:
    """RaDaR's grounded ``diagnoses`` (a finished case's) agreeing with a ranked candidate, else None.

    The step addresses the probability of the candidates RaDaR also names, among the first
    ``STEP_CANDIDATES`` as for every other step."""
    named = {d.get("orpha") for d in diagnoses if d.get("orpha")}
    agreed = [s for s in suggestions[:STEP_CANDIDATES] if s.orpha and s.orpha in named]
    if not agreed:
        return None
    return Step("radar", f"Review RaDaR's reasoning: it also names {_names(agreed)}", _mass(agreed),
                tuple(s.name for s in agreed))


def lab_testable(loinc: Mapping[str, Mapping[str, str]]) -> frozenset[str]:
    """The HPO terms a laboratory result can show: every outcome of the loinc2hpo table."""
    return frozenset(hpo for outcomes in loinc.values() for hpo in outcomes.values())


def specialty_index(kb: orphanet_mod.OrphanetKB) -> tuple[dict[str, frozenset], dict[str, str]]:
    """(ORPHAcode → the specialty classifications it sits under, classification → name).

    A specialty is the root of an Orphanet classification tree, followed through ``parents``; roots
    covering more than ``BROAD_SPECIALTY`` of the clinical disorders, and ``NOT_SPECIALTIES``, are left out."""
    disorders = kb.disorders

    @cache
    def roots(code: str) -> frozenset:
        parents = [p for p in disorders.get(code, {}).get("parents") or () if p in disorders and p != code]
        return frozenset({code}) if not parents else frozenset().union(*(roots(p) for p in parents))

    clinical = [code for code, d in disorders.items() if d.get("type") in CLINICAL_TYPES]
    of = {code: roots(code) - {code} for code in clinical}
    counts: dict[str, int] = {}
    for found in of.values():
        for root in found:
            counts[root] = counts.get(root, 0) + 1
    kept = {root for root, n in counts.items() if n <= BROAD_SPECIALTY * len(clinical) and root not in NOT_SPECIALTIES}
    return ({code: found & kept for code, found in of.items() if found & kept},
            {root: disorders[root]["name"] for root in kept})


def _best(steps: list[Step]) -> list[Step]:
    return [max(steps, key=lambda s: (s.probability, len(s.diseases)))] if steps else []


def _mass(found: Sequence) -> float:
    return sum(s.probability for s in found)


def _names(found: Sequence) -> str:
    shown = ", ".join(s.name for s in found[:NAMES_SHOWN])
    return shown + (f" (+{len(found) - NAMES_SHOWN} more)" if len(found) > NAMES_SHOWN else "")
