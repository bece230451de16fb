"""The phenotype engine end to end: PatientRecord → phenotype profile → ranked suggestions.

Used by the chart, by CDS Hooks and by ``radar rank`` (NDJSON in, NDJSON out, the contract in
DESIGN.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Iterator

from .bundle import BadBundle, record_from_bundle
from .phenotype import Profile, extract
from .record import PatientRecord

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


def rank_stream(source: IO[str], out: IO[str], *, top: int = 10, kb=None) -> tuple[int, int]:
    """Rank every input; write one line per input, in order. Returns (ranked, failed)."""
    from .knowledge import load_knowledge

    kb = kb or load_knowledge()
    ok = failed = 0
    for number, item in read_inputs(source):
        try:
            if isinstance(item, json.JSONDecodeError):
                raise BadBundle(f"invalid JSON ({item.msg})")
            record = record_from_bundle(item)
            line = contract_line(record.patient_id, analyse(record, kb, top))
            ok += 1
        except BadBundle as exc:
            line = {"line": number, "patient": None, "error": str(exc)}
            failed += 1
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return ok, failed
