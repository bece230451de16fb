"""The rankable diseases: Orphanet disorders (with the OMIM entries Orphanet maps exactly) and the
remaining OMIM entries, each a set of annotated HPO columns with frequencies and a prevalence."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..knowledge import orphanet
from . import posterior

DEFAULT_FREQUENCY = 0.5  # the frequency a finding counts with where its source gives none (see ranker's note)
# Orphanet classification heads of diseases that need an exposure (an infection, a toxin or drug),
# and the disorder type of clinical situations that complicate another illness: none arises from a
# constitution, so a chart screen should not propose them from a pattern of findings alone.
EXPOSURE_HEADS = {"68416": "Rare infectious disease", "108999": "Rare disorder due to toxic effects"}
SITUATION_TYPE = "Particular clinical situation in a disease or syndrome"

INHERITANCE_TERMS = {
    "HP:0000006": "Autosomal dominant", "HP:0000007": "Autosomal recessive",
    "HP:0001417": "X-linked", "HP:0001419": "X-linked recessive", "HP:0001423": "X-linked dominant",
    "HP:0001427": "Mitochondrial inheritance", "HP:0001450": "Y-linked", "HP:0010982": "Polygenic",
    "HP:0001442": "Somatic mosaicism", "HP:0001428": "Somatic mutation",
}


@dataclass
class Entity:
    """A rankable disease: an Orphanet disorder (with merged OMIM entries) or an OMIM entry."""

    name: str
    orpha: str | None
    omim: list[str]
    related_orpha: set[str]
    prevalence: str | None  # Orphanet's class, as shown
    prevalence_value: float  # a representative number for the prior
    inheritance: list[str]
    onset: list[str]
    annotations: dict[int, float]  # column -> frequency
    excluded: set[int]
    acquired: bool = False  # needs an exposure or another illness (EXPOSURE_HEADS, SITUATION_TYPE)
    unknown_frequency: set[int] = field(default_factory=set)  # columns counted at DEFAULT_FREQUENCY: no source frequency


def acquired(kb: orphanet.OrphanetKB, code: str) -> bool:
    """Whether Orphanet classifies the disorder under an exposure head or as a clinical situation."""
    if (kb.disease(code) or {}).get("type") == SITUATION_TYPE:
        return True
    seen, stack = set(), [code]
    while stack:
        c = stack.pop()
        if c in EXPOSURE_HEADS:
            return True
        for p in (kb.disease(c) or {}).get("parents", []):
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return False


def prevalence_text(records: list[dict]) -> str | None:
    """The prevalence as shown: the class, type and area of the record the prior is taken from
    (:func:`app.rank.posterior.prevalence_record`); None without records."""
    best = posterior.prevalence_record(records)
    if best is None:
        return None
    return f"{best['class']} ({best['type'].lower()}, {best['geo']})"


def build(ont, kb: orphanet.OrphanetKB, col: dict[int, int], term_col: Callable[[str], int | None],
          omim_annotations: dict | None = None) -> list[Entity]:
    """Orphanet disorders with phenotypes or exact OMIM matches, then the remaining OMIM entries.

    OMIM findings take their frequency from ``omim_annotations`` (``knowledge.hpoa``) where it gives
    one, else ``DEFAULT_FREQUENCY`` (marked in ``unknown_frequency``; its effect is in CHANGELOG.md).
    """
    omim_annotations = omim_annotations or {}

    def omim_frequency(m: str, t: int) -> float | None:
        f = omim_annotations.get(f"OMIM:{m}", {}).get("frequencies", {}).get(f"HP:{t:07d}")
        return None if f is None or f <= 0.0 else f

    omim_by_id = {str(d.id): d for d in ont.omim_diseases}
    merged: dict[str, str] = {}
    entities = []
    for code, d in kb.disorders.items():
        exact = [m for m, rel in d["omim"] if rel == "E" and m in omim_by_id and m not in merged]
        if not d["phenotypes"] and not exact:
            continue
        ann, excluded, unknown = {}, set(), set()
        for hpo, freq in d["phenotypes"]:
            c = term_col(hpo)
            f = orphanet.FREQUENCIES.get(freq)
            if c is None:
                continue
            if f == 0.0:
                excluded.add(c)
            else:
                _keep_highest(ann, unknown, c, f)
        for m in exact:
            merged[m] = code
            for t in omim_by_id[m].hpo:
                c = col.get(t)
                if c is not None and c not in ann:
                    _keep_highest(ann, unknown, c, omim_frequency(m, t))
        if not ann:
            continue
        entities.append(Entity(
            name=d["name"], orpha=code,
            omim=[f"OMIM:{m}" for m, rel in d["omim"] if rel in ("E", "NTBT", "BTNT")],
            related_orpha={code}, prevalence=prevalence_text(d["prevalence"]),
            prevalence_value=posterior.prevalence(d["prevalence"]),
            inheritance=d["inheritance"], onset=d["onset"], annotations=ann, excluded=excluded,
            acquired=acquired(kb, code), unknown_frequency=unknown,
        ))
    for m, disease in sorted(omim_by_id.items(), key=lambda kv: int(kv[0])):
        if m in merged:
            continue
        ann, unknown = {}, set()
        for t in disease.hpo:
            if t in col:
                _keep_highest(ann, unknown, col[t], omim_frequency(m, t))
        if not ann:
            continue
        inheritance = [INHERITANCE_TERMS[f"HP:{t:07d}"] for t in sorted(disease.hpo) if f"HP:{t:07d}" in INHERITANCE_TERMS]
        entities.append(Entity(
            name=disease.name, orpha=None, omim=[f"OMIM:{m}"],
            related_orpha=set(kb.by_omim(m)), prevalence=None, prevalence_value=posterior.UNKNOWN_PREVALENCE,
            inheritance=inheritance, onset=[], annotations=ann, excluded=set(), unknown_frequency=unknown,
        ))
    return entities


def _keep_highest(ann: dict[int, float], unknown: set[int], c: int, f: float | None) -> None:
    """Record frequency ``f`` of column ``c`` (None: the source gives none, counted as
    ``DEFAULT_FREQUENCY`` and marked in ``unknown``), keeping the highest of several annotations."""
    value = DEFAULT_FREQUENCY if f is None else f
    old = ann.get(c)
    if old is None or value > old:
        ann[c] = value
        if f is None:
            unknown.add(c)
        else:
            unknown.discard(c)
    elif value == old and f is not None:
        unknown.discard(c)


def groups(entities: list[Entity]) -> np.ndarray:
    """A group id per entity: entries that share an ORPHAcode or an OMIM id are one disease."""
    parent = list(range(len(entities)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, e in enumerate(entities):
        for key in [f"ORPHA:{o}" for o in e.related_orpha] + list(e.omim):
            j = first.setdefault(key, i)
            parent[find(i)] = find(j)
    return np.array([find(i) for i in range(len(entities))])


def named_index(entities: list[Entity]) -> dict[tuple[str, str], list[int]]:
    """("orpha", a related ORPHAcode) and ("omim", an OMIM id) → the positions of the diseases they name."""
    index: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(entities):
        for key in [*(("orpha", c) for c in e.related_orpha), *(("omim", m) for m in e.omim)]:
            index.setdefault(key, []).append(i)
    return index


def named(index: dict[tuple[str, str], list[int]], orphas: set[str], omims: set[str]) -> list[int]:
    """The positions of the diseases a related ORPHAcode in ``orphas`` or an OMIM id in ``omims`` names,
    in order (as a scan of every disease for ``related_orpha & orphas or omims & omim`` finds them)."""
    keys = [*(("orpha", c) for c in orphas), *(("omim", m) for m in omims)]
    return sorted({i for key in keys for i in index.get(key, ())})

