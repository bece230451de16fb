"""One patient's resources → one worklist line, through the one builder and the one middle.

``screen`` is what every Spark task calls per patient: ``app.fetch.build.build_record`` (the same
builder as the chart, CDS Hooks and ``radar rank``), ``app.pipeline.analyse`` and
``app.pipeline.signal`` (the CDS card's decision), so a patient flagged here is a patient whose
chart would show the card. The line format is the README's worklist contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import CdsThresholds
from ..fetch import lines
from ..fetch.build import build_record
from ..knowledge import Knowledge
from ..pipeline import Analysis, analyse, signal, signal_detail
from ..present import probability_value
from ..record import PatientRecord

TOP = 5  # candidates per worklist line
EVIDENCE = 8  # findings listed as evidence per line
NO_BINARY = "the note's content is not in the export"


@dataclass
class Screened:
    """A worklist line and what the record could not read or use (for the bad-input summary)."""

    line: dict
    unreadable_notes: list[str]
    left_out: dict[str, dict[str, int]] = field(default_factory=dict)  # PatientRecord.left_out


def record_of(patient_id: str, resources: list[tuple[str, str, str]]) -> PatientRecord:
    """The PatientRecord of ``patient_id`` from its ``(order, type, json)`` resource items, newest first."""
    # Each text parsed as a line of the input already (sources.keyed): valid JSON within the limits.
    parsed = [lines.loads(text) for _, _, text in sorted(resources)]
    return build_record(patient_id, parsed, missing_content=NO_BINARY)


def screen(patient_id: str, resources: list[tuple[str, str, str]], kb: Knowledge, thresholds: CdsThresholds,
           *, top: int = 10) -> Screened:
    """Build, analyse and decide one patient; the worklist line plus the notes that could not be read."""
    record = record_of(patient_id, resources)
    # The line shows the first TOP candidates; further ones would be ranked and explained for nothing
    # (the first ones, the steps and the signal are the same whatever comes after them).
    analysis = analyse(record, kb, top=min(top, TOP))
    unreadable = [f"{n.ref}: {n.error}" for n in record.notes if n.error]
    out = line(patient_id, analysis, thresholds, record.gaps())
    out["background"] = kb.ranker.background_name  # what P(rare) was judged against, as in `radar rank`
    return Screened(line=out, unreadable_notes=unreadable, left_out=record.left_out)


def line(patient_id: str, analysis: Analysis, thresholds: CdsThresholds, gaps: list[str] = ()) -> dict:
    """The worklist line of one analysed patient (README: "Population screening"), with what its
    flag rests on (``next_steps``, and ``documented`` beside a rare diagnosis on the problem list)."""
    level = signal(analysis, thresholds)
    out = {
        "patient": patient_id,
        "rare_disease_probability": probability_value(analysis.rare_probability),
        "flagged": level is not None,
        "signal": level,
        "findings": len(analysis.profile.present),
        "suggestions": [{"rank": s.rank, "name": s.name, "orpha": s.orpha, "omim": list(s.omim),
                         "probability": probability_value(s.probability), "url": s.url}
                        for s in analysis.suggestions[:TOP]],
        "evidence": evidence(analysis),
    } | signal_detail(analysis)
    if gaps:
        out["gaps"] = list(gaps)
    return out


def evidence(analysis: Analysis) -> list[dict]:
    """The findings that drive the signal: those raising the top candidate, strongest first; without
    a candidate, the record's present findings. Each with the FHIR resource it came from."""
    by_hpo = {p.hpo: p for p in analysis.profile.present}
    top = analysis.suggestions[0] if analysis.suggestions else None
    wanted = [b["hpo"] for b in sorted(top.evidence, key=lambda b: -b["log10_lr"]) if b["log10_lr"] > 0] \
        if top is not None and top.evidence else []
    wanted = [h for h in wanted if h in by_hpo] or list(by_hpo)
    return [{"hpo": h, "label": by_hpo[h].label, "source": by_hpo[h].source} for h in wanted[:EVIDENCE]]


def sort_key(item: dict) -> tuple:
    """Worklist order: most probable first, then by patient id (stable across runs)."""
    return (-item["rare_disease_probability"], item["patient"])
