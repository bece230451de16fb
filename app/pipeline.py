"""The one middle of the pipeline: a PatientRecord (and the clinician's edits) → the analysis.

Every door — the chart, CDS Hooks, ``radar rank`` over files, the worker and population
screening — calls :func:`analyse` (or :func:`reanalyse` for a profile already extracted), so
extraction, edits, ranking and the case narrative are done one way only.

It also composes the knowledge the middle reads (the knowledge layer never imports its users):
:func:`load_knowledge` adds the embedded ranker to the compiled knowledge, and :func:`warm_up`
builds the lazily made indexes before gunicorn forks.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from .case.narrative import Narrative, build_narrative
from .knowledge import Knowledge, icd, load_compiled
from .knowledge.names import name_index, omim_names, orpha_names
from .phenotype import Phenotype, Profile, extract
from .phenotype import edits as edits_mod
from .phenotype.text import get_matcher
from .rank.documented import Documented, explained_terms
from .rank.documented import explain as explain_documented
from .rank.ranker import Ranker
from .rank.steps import Step, lab_testable, next_steps, specialty_index
from .record import PatientRecord

ENGINE = "phenotype"
ENGINE_LABEL = "Phenotype match (HPO/Orphanet)"
# Fewer present phenotypes than this: say so instead of ranking. One is enough: the 408 dev cases
# whose EHR-shaped record gives a single finding still rank the diagnosis top-10 in 50 % (top-1 23 %),
# and the probabilities say how little one finding proves.
MIN_PRESENT = 1
# The one safety rule on the number of findings: no flag (CDS card, `radar rank`'s `flagged`, the
# screen's worklist) on fewer than this many weighed findings, whatever P(rare) says. One finding,
# however unusual, is a question for the clinician who recorded it, not a rare-disease pattern.
MIN_FLAG_FINDINGS = 2
# A rare diagnosis already on the problem list that explains at least this share of the weighed
# findings (app.rank.documented) leaves no flag for another rare disease, whatever the rest say: three
# in four. Below it, P(rare) of another rare disease is judged on the unexplained findings alone.
MOSTLY_EXPLAINED = 0.75


# A batch process (`radar rank`, a Spark worker) makes a million objects per Bundle and frees them by
# reference counting; at the collector's default first threshold (700) the cyclic collector ran 2,200
# times over 588 records, 0.6 s of 12 (issue 23); at 20,000 it runs a handful of times. Results are the same.
BATCH_GC_THRESHOLDS = (20_000, 20, 20)


@dataclass(frozen=True)
class CaseOptions:
    """How the case narrative is written: its token budget and whether it is de-identified."""

    budget_tokens: int = 6000
    deidentify: bool = True


@dataclass
class Analysis:
    """What the middle made of a record: the profile (after edits), suggestions, and the narrative if asked."""

    profile: Profile
    suggestions: list = field(default_factory=list)
    too_few: bool = False
    extracted: Profile | None = None  # before the clinician's edits
    removed: list[Phenotype] = field(default_factory=list)  # extracted terms the clinician removed
    narrative: Narrative | None = None
    rare_probability: float | None = None  # P(a rare disease not on the problem list | findings); None: not assessed
    known_probability: float = 0.0  # P(a rare disease already on the problem list | findings)
    findings: int = 0  # present findings the model used (those no documented diagnosis explains)
    documented: list[Documented] = field(default_factory=list)  # rare diagnoses on the problem list, what each explains
    steps: list[Step] = field(default_factory=list)  # what the suggestions give to do (app.rank.steps), strongest first

    @property
    def explained_share(self) -> float:
        """Share of the weighed findings a documented diagnosis explains (0.0 without one)."""
        weighed = {p.hpo for p in self.profile.weighed}
        return len(explained_terms(self.documented) & weighed) / len(weighed) if weighed else 0.0


def signal(analysis: Analysis, thresholds) -> str | None:
    """The screening decision every door shares (CDS card, ``radar rank`` ``flagged``, population screen):
    ``"warning"``, ``"info"`` or None, from the thresholds (``CdsThresholds``).

    Fewer than ``MIN_FLAG_FINDINGS`` weighed findings never flag. A flag from ``min_probability`` on is
    ``info``; it is a ``warning`` (an interruption) only from ``warning_probability`` on and when
    :func:`actionable`. A record whose documented rare diagnoses explain ``MOSTLY_EXPLAINED`` of its
    weighed findings or more never flags: its P(rare) is another rare disease's, judged on the findings
    they leave unexplained, and it flags only when those call for it.
    """
    p = analysis.rare_probability
    if p is None or analysis.too_few or analysis.findings < MIN_FLAG_FINDINGS or not analysis.suggestions \
            or p < thresholds.min_probability:
        return None
    if analysis.documented and analysis.explained_share >= MOSTLY_EXPLAINED:
        return None
    return "warning" if p >= thresholds.warning_probability and actionable(analysis, thresholds) else "info"


def actionable(analysis: Analysis, thresholds) -> bool:
    """Whether a flag names something to do (``analysis.steps``): its top candidate reaches
    ``thresholds.warning_candidate``, or a concrete next step (a laboratory test, a referral, RaDaR's
    agreeing answer) addresses candidates holding ``thresholds.warning_step`` together. A high P(rare)
    spread thin over many candidates is worth knowing (``info``), not worth interrupting for."""
    top = analysis.suggestions[0].probability if analysis.suggestions else 0.0
    return top >= thresholds.warning_candidate or any(
        step.probability >= thresholds.warning_step for step in analysis.steps if step.kind != "candidate")


def signal_detail(analysis: Analysis) -> dict:
    """What the flag rests on, as the machine-readable doors (``radar rank``, the screen's worklist) print
    it: ``next_steps`` (``app.rank.steps``, strongest first) and, only when the problem list names a
    rare diagnosis, ``documented`` (which findings each explains)."""
    out: dict = {"next_steps": [step.to_json() for step in analysis.steps]}
    if analysis.documented:
        out["documented"] = [d.to_dict() for d in analysis.documented]
    return out


def analyse(record: PatientRecord, kb: Knowledge, *, edits: dict | None = None, top: int = 10,
            case: CaseOptions | None = None, today: date | None = None) -> Analysis:
    """Extract the profile of ``record``, apply ``edits``, rank, and write the narrative when ``case`` is given."""
    analysis = reanalyse(extract(record, kb, today), kb, edits=edits, top=top)
    if case is not None:
        narrate(record, analysis, case, today)
    return analysis


def narrate(record: PatientRecord, analysis: Analysis, case: CaseOptions, today: date | None = None) -> Narrative:
    """Write the case narrative of an analysis (its profile after edits) and keep it on the analysis.

    Separate from ``analyse`` for doors that need the narrative only sometimes (CDS: when a card fires).
    """
    analysis.narrative = build_narrative(record, analysis.profile, budget_tokens=case.budget_tokens,
                                         deidentify=case.deidentify, today=today)
    return analysis.narrative


def reanalyse(profile: Profile, kb: Knowledge, *, edits: dict | None = None, top: int = 10) -> Analysis:
    """Apply the clinician's ``edits`` to an extracted profile and rank it; too few phenotypes → no list.

    With rare diagnoses on the problem list, says first which findings each explains; P(rare) and the
    suggestions are then another rare disease's, on the findings none of them explains.
    """
    changes = edits or edits_mod.empty()
    edited = edits_mod.apply(profile, changes, kb.lexicon)
    removed = [p for p in profile.all if p.hpo in set(changes["removed"])]
    analysis = Analysis(profile=edited, extracted=profile, removed=removed)
    analysis.documented = explain_documented(edited.known_diseases, edited.weighed, kb.orphanet)
    explained = explained_terms(analysis.documented)
    present = [p.hpo for p in edited.weighed]
    unexplained = [h for h in present if h not in explained]
    # Findings from the problem list are documented conditions: what they explain weighs less.
    assessment = kb.ranker.assess(unexplained, [p.hpo for p in edited.absent], top=top,
                                  sex=edited.sex, age_years=edited.age_years,
                                  documented=[p.hpo for p in edited.weighed if p.origin == "condition"],
                                  chance={p.hpo: p.chance for p in edited.weighed if p.chance},
                                  exclude_orpha={d["orpha"] for d in edited.known_diseases if d.get("orpha")},
                                  exclude_omim={d["omim"] for d in edited.known_diseases if d.get("omim")})
    analysis.rare_probability = assessment.rare_probability
    analysis.known_probability = assessment.known_probability
    analysis.findings = assessment.findings
    if len(present) < MIN_PRESENT:
        analysis.too_few = True
        return analysis
    analysis.suggestions = assessment.suggestions
    analysis.steps = next_steps(assessment.suggestions, *step_knowledge(kb))
    return analysis


_STEP_KNOWLEDGE: list = []  # [(orphanet, loinc, (testable, specialties, names))]: one per knowledge in use


def step_knowledge(kb: Knowledge) -> tuple:
    """(lab-testable HPO terms, ORPHAcode → specialties, specialty names) of ``kb``, made once per knowledge."""
    for orpha, loinc, made in _STEP_KNOWLEDGE:
        if orpha is kb.orphanet and loinc is kb.loinc:
            return made
    made = (lab_testable(kb.loinc), *specialty_index(kb.orphanet))
    _STEP_KNOWLEDGE[:] = [*_STEP_KNOWLEDGE[-3:], (kb.orphanet, kb.loinc, made)]
    return made


@lru_cache(maxsize=1)
def load_knowledge() -> Knowledge:
    """The compiled knowledge plus the embedded ranker, once per process (before gunicorn forks).

    The ranker judges records against the site's own background when ``RADAR_BACKGROUND`` names
    one (``radar learn-background``), else against the shipped one.
    """
    from .config import background_setting
    from .knowledge import orphanet
    from .knowledge.ontology import ontology
    from .rank import background

    compiled = load_compiled()
    site = background_setting()
    ranker = Ranker.load() if site is None else Ranker(ontology(), orphanet.load(), background=background.load(site.path))
    return Knowledge(lexicon=compiled.lexicon, orphanet=compiled.orphanet, loinc=compiled.loinc, ranker=ranker)


def warm_up(kb: Knowledge) -> None:
    """Build the lazily made indexes (text matcher, disease-name indexes, next-step knowledge) now, so that under
    gunicorn they are made once in the master and shared by the forked workers, and no
    clinician or CDS call pays for them; then leave what is loaded out of garbage collection (``gc.freeze``)."""
    get_matcher(kb.lexicon)
    orpha_names(kb.orphanet)
    icd.orpha_words(kb.orphanet)
    omim_names()
    name_index(kb.orphanet)
    step_knowledge(kb)
    # What is loaded now lives as long as the process: the cyclic collector need not walk it again on
    # every full collection (a patient's Bundle makes a million objects; issue 23: 0.4 s in 588 records),
    # and forked workers do not touch its pages.
    gc.freeze()


def warm_up_for_batch(kb: Knowledge) -> None:
    """``warm_up``, then the collector set for a batch process (``radar rank``, a Spark worker):
    ``BATCH_GC_THRESHOLDS``."""
    warm_up(kb)
    gc.set_threshold(*BATCH_GC_THRESHOLDS)
