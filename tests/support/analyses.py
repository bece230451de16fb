"""Analyses as plain data, for the pure tests of the card and the chart's panel (no EHR, no knowledge base)."""
from __future__ import annotations

from app.config.cds import CdsThresholds
from app.knowledge.diseases import orpha_url
from app.phenotype import PRESENT, Phenotype, Profile
from app.pipeline import Analysis
from app.rank.ranker import Suggestion

BASE = "https://radar.hospital.example"
THRESHOLDS = CdsThresholds()  # flag at 0.5, warning at 0.9


def analysis(n_present: int, matching: list[int], rare: float | None = 0.62,
             probabilities: list[float] | None = None) -> Analysis:
    """A plain-data analysis: ``n_present`` findings, one suggestion per ``matching`` count, P(rare) ``rare``."""
    present = [Phenotype(hpo=f"HP:{i:07d}", label=f"finding {i}", status=PRESENT, source=f"Condition/{i}",
                         origin="condition") for i in range(n_present)]
    probabilities = probabilities or [(rare or 0.0) / 2 ** r for r in range(1, len(matching) + 1)]
    suggestions = [Suggestion(rank=r, name=f"Disease [{r}]", orpha=f"ORPHA:{r}", omim=[], score=1.0 / r,
                              url=f"https://www.orpha.net/en/disease/detail/{r}", probability=p,
                              matching=[{"hpo": ph.hpo, "label": ph.label} for ph in present[:m]])
                   for r, (m, p) in enumerate(zip(matching, probabilities, strict=False), 1)]
    return Analysis(profile=Profile(present=present), suggestions=suggestions, rare_probability=rare,
                    findings=n_present)


# -- the chart's panel -------------------------------------------------------------------------

def finding(hpo, label, source):
    """A present finding from a note."""
    return Phenotype(hpo=hpo, label=label, status="present", source=source, origin="note", evidence=label)


FINDINGS = [finding("HP:0001083", "Ectopia lentis", "DocumentReference/4"),
           finding("HP:0001166", "Arachnodactyly", "Condition/123"),
           finding("HP:0002616", "<script>alert(1)</script> root dilatation", "Observation/9")]
EVIDENCE = [{"hpo": "HP:0001083", "label": "Ectopia lentis", "log10_lr": 0.11},
            {"hpo": "HP:0001166", "label": "Arachnodactyly", "log10_lr": 1.4},
            {"hpo": "HP:0002616", "label": "<script>alert(1)</script> root dilatation", "log10_lr": -0.3}]


def suggestion(rank, name, probability, score, evidence=()):
    """A ranked suggestion with its evidence (log10 likelihood ratios)."""
    return Suggestion(rank=rank, name=name, orpha=f"ORPHA:{558 + rank}", omim=[], url=orpha_url(558 + rank),
                      score=score, probability=probability, evidence=list(evidence),
                      matching=[{"hpo": "HP:0001166", "label": "Arachnodactyly"}])


def analysis_of(rare, suggestions, **extra):
    """An analysis of the three FINDINGS (14 counted), with P(rare) ``rare``."""
    return Analysis(profile=Profile(present=list(FINDINGS)), suggestions=suggestions, rare_probability=rare,
                    findings=14, **extra)


def flagged():
    """A flagged Marfan-like analysis with four suggestions."""
    return analysis_of(0.62, [suggestion(1, "Marfan syndrome", 0.123, 1.0, EVIDENCE),
                              suggestion(2, "Loeys-Dietz syndrome", 0.0004, 0.8137, EVIDENCE[:2]),
                              suggestion(3, "Homocystinuria", 0.05, 0.7, EVIDENCE[1:]),
                              suggestion(4, "Weill-Marchesani syndrome", 0.02, 0.6)])
