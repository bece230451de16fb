"""The ``radar rank`` door: FHIR Bundles in, one NDJSON contract line per input out.

The same builder and the same middle as the chart (``app.fetch.files`` → ``app.pipeline``); with
``--engine radar`` the same narrative → model → grounding path as the chart's RaDaR panel, run
synchronously. The line format is the contract in the README.
"""
from __future__ import annotations

import json
from typing import IO

from .config import CdsThresholds, Settings
from .fetch.files import BadBundle, read_inputs, record_from_bundle
from .fetch.lines import BadLine
from .inference.client import InferenceError, complete
from .inference.grounding import ground_answer
from .knowledge import Knowledge
from .knowledge.diseases import orpha_code
from .pipeline import ENGINE, Analysis, CaseOptions, analyse, signal, signal_detail
from .present import probability_value


def contract_line(patient_id: str, analysis: Analysis, thresholds: CdsThresholds | None = None) -> dict:
    """One output line of ``radar rank`` (the README's contract).

    ``rare_disease_probability`` is P(a rare disease not already on the problem list | findings);
    ``flagged`` is the CDS card decision (``app.pipeline.signal`` at ``thresholds``), so a batch
    screen and the chart agree; each suggestion's ``probability`` is P(that disease | findings).
    ``signal`` is that decision's level (``"warning"``, ``"info"`` or null) and ``next_steps`` what the
    suggestions give to do; ``documented`` (only when the problem list names a rare diagnosis): which
    findings each explains (``app.pipeline.signal_detail``).
    """
    level = signal(analysis, thresholds or CdsThresholds())
    line = {
        "patient": patient_id,
        "engine": ENGINE,
        "rare_disease_probability": probability_value(analysis.rare_probability),
        "flagged": level is not None,
        "signal": level,
        "phenotypes": [{"hpo": p.hpo, "label": p.label, "status": p.status, "source": p.source}
                       for p in analysis.profile.all],
        "suggestions": [{"rank": s.rank, "name": s.name, "orpha": s.orpha, "omim": s.omim,
                         "score": round(float(s.score), 4), "probability": probability_value(s.probability),
                         "url": s.url} | _explanation(s) for s in analysis.suggestions],
    }
    return line | signal_detail(analysis)


def _explanation(s) -> dict:
    """The chart's explanation of a top suggestion (``app.rank.explain``): ``evidence``, each finding's
    log10 LR for it against the general population, and ``tells_apart``, the findings that tell it
    apart from the next candidate; nothing for the others."""
    out = {}
    if s.evidence:
        out["evidence"] = s.evidence
    if s.contrast:
        out["tells_apart"] = s.contrast
    return out


def radar_line(analysis: Analysis, patient_id: str, kb: Knowledge, model, *, top: int = 10,
               thresholds: CdsThresholds | None = None) -> dict:
    """RaDaR's differential for an analysis that carries its narrative.

    RaDaR states an order, not a probability: ``score`` is 1/rank so that consumers of the
    contract can sort, no more should be read into it, and each suggestion's ``probability`` is
    null. ``rare_disease_probability`` and ``flagged`` are the phenotype analysis' (the same
    record, the same decision as the CDS card): RaDaR does not say whether the record is rare.
    """
    completion = complete(model, analysis.narrative.text)
    profile = analysis.profile
    diagnoses = ground_answer(completion.content, kb, present=[p.hpo for p in profile.present],
                              absent=[p.hpo for p in profile.absent], top=top)
    line = contract_line(patient_id, analysis, thresholds)
    line["engine"] = f"radar:{completion.model or model.model}"
    line["suggestions"] = [{"rank": d.rank, "name": d.name, "orpha": orpha_code(d.orpha), "omim": d.omim,
                            "score": round(1 / d.rank, 4), "probability": None, "url": d.url} for d in diagnoses]
    return line


def rank_stream(source: IO[str], out: IO[str], kb: Knowledge, *, top: int = 10, engine: str = ENGINE,
                settings: Settings | None = None) -> tuple[int, int]:
    """Rank every input; write one line per input, in order. Returns (ranked, failed)."""
    case = CaseOptions(settings.narrative_tokens, settings.deidentify) if engine != ENGINE else None
    thresholds = settings.cds_thresholds if settings is not None else CdsThresholds()
    ok = failed = 0
    for number, item in read_inputs(source):
        record = None
        try:
            if isinstance(item, BadLine):
                raise BadBundle(str(item))
            record = record_from_bundle(item)
            analysis = analyse(record, kb, top=top, case=case)
            if case is None:
                line = contract_line(record.patient_id, analysis, thresholds)
            else:
                line = radar_line(analysis, record.patient_id, kb, settings.model, top=top, thresholds=thresholds)
            line["background"] = kb.ranker.background_name  # what P(rare) was judged against
            gaps = record.gaps()
            if gaps:  # what could not be read is said, never left to look like "no data"
                line["gaps"] = gaps
            ok += 1
        except BadBundle as exc:
            line = {"line": number, "patient": None, "error": str(exc)}
            failed += 1
        except InferenceError as exc:
            line = {"line": number, "patient": record.patient_id if record else None, "engine": "radar",
                    "error": f"RaDaR: {exc.message}"}
            failed += 1
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return ok, failed
