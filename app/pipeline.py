"""The phenotype engine end to end: PatientRecord → phenotype profile → ranked suggestions.

Used by the chart, by CDS Hooks and by ``radar rank`` (NDJSON in, NDJSON out, the contract in
DESIGN.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Iterator

from .fetch.files import BadBundle, record_from_bundle
from .phenotype import Profile, extract
from .fetch.record import PatientRecord

ENGINE = "phenotype"
ENGINE_LABEL = "Phenotype match (HPO/Orphanet)"
MIN_PRESENT = 2  # fewer present phenotypes than this rank almost at random: say so instead


@dataclass
class Analysis:
    """A profile and what the ranker made of it."""

    profile: Profile
    suggestions: list = field(default_factory=list)
    too_few: bool = False


def analyse(record: PatientRecord, kb, top: int = 10) -> Analysis:
    """Extract the profile of ``record`` and rank rare diseases against it."""
    return rank_profile(extract(record, kb), kb, top)


def rank_profile(profile: Profile, kb, top: int = 10) -> Analysis:
    """Rank a (possibly clinician-edited) profile; too few phenotypes → no list."""
    present = [p.hpo for p in profile.present]
    if len(present) < MIN_PRESENT:
        return Analysis(profile=profile, too_few=True)
    known_omim = {d["omim"] for d in profile.known_diseases if d.get("omim")}
    suggestions = kb.ranker.rank(present, [p.hpo for p in profile.absent], age_years=profile.age_years,
                                 sex=profile.sex, top=top + len(known_omim),
                                 exclude_orpha={d["orpha"] for d in profile.known_diseases if d.get("orpha")})
    # A known disease that only OMIM names: drop it here, then renumber.
    kept = [s for s in suggestions if not known_omim & set(s.omim)][:top]
    for rank, s in enumerate(kept, 1):
        s.rank = rank
    return Analysis(profile=profile, suggestions=kept)


def contract_line(patient_id: str, analysis: Analysis) -> dict:
    """One output line of ``radar rank`` (DESIGN.md contract)."""
    return {
        "patient": patient_id,
        "engine": ENGINE,
        "phenotypes": [{"hpo": p.hpo, "label": p.label, "status": p.status, "source": p.source}
                       for p in analysis.profile.all],
        "suggestions": [{"rank": s.rank, "name": s.name, "orpha": s.orpha, "omim": s.omim,
                         "score": round(float(s.score), 4), "url": s.url} for s in analysis.suggestions],
    }


def radar_line(record: PatientRecord, kb, model, *, top: int = 10, deidentify: bool = True,
               budget_tokens: int = 6000) -> dict:
    """The same narrative → model → parsing → grounding path as the chart, run synchronously.

    RaDaR states an order, not a probability: ``score`` is 1/rank so that consumers of the
    contract can sort, and no more should be read into it.
    """
    from .case.narrative import build_narrative
    from .inference.grounding import ground_answer
    from .inference.client import complete

    profile = extract(record, kb)
    narrative = build_narrative(record, profile, budget_tokens=budget_tokens, deidentify=deidentify)
    completion = complete(model, narrative.text)
    present, absent = [p.hpo for p in profile.present], [p.hpo for p in profile.absent]
    diagnoses = ground_answer(completion.content, kb, present=present, absent=absent, top=top)
    line = contract_line(record.patient_id, Analysis(profile=profile))
    line["engine"] = f"radar:{completion.model or model.model}"
    line["suggestions"] = [{"rank": d.rank, "name": d.name, "orpha": _orpha(d.orpha), "omim": d.omim,
                            "score": round(1 / d.rank, 4), "url": d.url} for d in diagnoses]
    return line


def _orpha(code: str | None) -> str | None:
    if not code:
        return None
    return code if code.startswith("ORPHA:") else f"ORPHA:{code}"


def read_inputs(source: IO[str]) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON or the JSONDecodeError) for a Bundle file or NDJSON of Bundles."""
    text = source.read()
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict):
            yield 1, whole
            return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, exc


def rank_stream(source: IO[str], out: IO[str], *, top: int = 10, kb=None, engine: str = ENGINE,
                settings=None) -> tuple[int, int]:
    """Rank every input; write one line per input, in order. Returns (ranked, failed)."""
    from .inference.client import InferenceError
    from .knowledge import load_knowledge

    kb = kb or load_knowledge()
    ok = failed = 0
    for number, item in read_inputs(source):
        record = None
        try:
            if isinstance(item, json.JSONDecodeError):
                raise BadBundle(f"invalid JSON ({item.msg})")
            record = record_from_bundle(item)
            if engine == ENGINE:
                line = contract_line(record.patient_id, analyse(record, kb, top))
            else:
                line = radar_line(record, kb, settings.model, top=top, deidentify=settings.deidentify,
                                  budget_tokens=settings.narrative_tokens)
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
