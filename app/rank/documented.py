"""Which of a patient's findings a rare diagnosis already on the problem list explains (pure, on the
knowledge base's annotations).

A finding is explained by a documented disease when the disease (the Orphanet disorder, its OMIM
entry and the OMIM entries Orphanet maps to it as the same disease or a subtype) is annotated with
the finding itself, a descendant of it (the patient's "Seizure", the disease's "Focal seizure") or
an ancestor of it (the disease's "Seizure", the patient's "Focal seizure"), the ancestor direction
the ranker's log LR takes (``app.rank.ranker``). An annotation as broad as an organ system
("Abnormality of the nervous system") or broader explains no finding from above: it would explain
every finding of that system. Findings Orphanet marks "Excluded (0%)" for the disease are no
annotation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..knowledge import orphanet
from ..knowledge.ontology import ontology

PHENOTYPIC_ABNORMALITY = 118  # HP:0000118
# Orphanet's mapping relations under which an OMIM entry is the disorder itself (E) or one of its
# subtypes (BTNT, the disorder broader than the entry: MODY and "MODY, type 1"); an entry broader than
# the disorder (NTBT: Marfan syndrome's link to Loeys-Dietz syndrome 2) has findings it need not have.
NARROWER_OR_SAME = {"E", "BTNT"}


@dataclass
class Documented:
    """A rare diagnosis on the problem list, and which weighed findings it explains."""

    name: str
    orpha: str | None  # "ORPHA:558"
    omim: str | None  # "OMIM:616521"
    source: str | None  # the problem-list entry ("Condition/…")
    explained: list[dict] = field(default_factory=list)  # {"hpo", "label"}
    unexplained: list[dict] = field(default_factory=list)
    annotated: bool = True  # False: the knowledge has no findings for it, so it explains none that we can tell

    def to_dict(self) -> dict:
        """Plain data for ``radar rank`` lines and the chart."""
        return {"name": self.name, "orpha": self.orpha, "omim": self.omim, "source": self.source,
                "annotated": self.annotated, "explained": list(self.explained), "unexplained": list(self.unexplained)}


@lru_cache(maxsize=1)
def _omim_terms() -> dict[int, frozenset[int]]:
    return {int(d.id): frozenset(int(t) for t in d.hpo) for d in ontology().omim_diseases}


@lru_cache(maxsize=1)
def _too_broad() -> frozenset[int]:
    """The root, "Phenotypic abnormality" and the organ systems under it."""
    root = ontology().get_hpo_object(PHENOTYPIC_ABNORMALITY)
    return frozenset({1, PHENOTYPIC_ABNORMALITY} | {int(c) for c in root.children})


def annotations(disease: dict, kb: orphanet.OrphanetKB) -> set[int]:
    """The HPO terms (as integers) annotated to a known disease (``{"orpha", "omim"}``, as
    ``Profile.known_diseases`` has them): its Orphanet phenotypes, less the excluded ones, and the
    terms of its OMIM entry and of the OMIM entries Orphanet maps to it as the same disease or a
    subtype (``NARROWER_OR_SAME``: the subtypes of "MODY" are MODY)."""
    terms: set[int] = set()
    omims: list[str] = [disease["omim"]] if disease.get("omim") else []
    record = kb.disease(disease["orpha"]) if disease.get("orpha") else None
    if record:
        for hpo, frequency in record["phenotypes"]:
            if orphanet.FREQUENCIES.get(frequency) != 0.0:
                terms.add(int(hpo.split(":")[1]))
        omims += [m for m, rel in record["omim"] if rel in NARROWER_OR_SAME]
    for m in omims:
        terms |= _omim_terms().get(int(str(m).split(":")[-1]), frozenset())
    return terms


def _closures(terms: set[int]) -> tuple[set[int], set[int]]:
    """(the annotations that explain from above, every annotation with all its ancestors)."""
    ont = ontology()
    broad = _too_broad()
    below, up = set(), set()
    for t in terms:
        try:
            term = ont.get_hpo_object(t)
        except (RuntimeError, ValueError, KeyError):
            continue
        up.add(t)
        up.update(int(p) for p in term.all_parents)
        if t not in broad:
            below.add(t)
    return below, up


def _lineage(hpo: str) -> tuple[int, set[int]] | None:
    """(the term, the term with all its ancestors), or None for an id the ontology lacks."""
    try:
        term = ontology().get_hpo_object(hpo)
    except (RuntimeError, ValueError, KeyError):
        return None
    return int(term), {int(term)} | {int(p) for p in term.all_parents}


def explain(known: list[dict], findings: list, kb: orphanet.OrphanetKB) -> list[Documented]:
    """For each known disease (``Profile.known_diseases``), the ``findings`` (``Phenotype``s, each once)
    it explains and those it does not."""
    out = []
    for disease in _merged(known):
        below, up = _closures(annotations(disease, kb) | annotations({"omim": disease.get("also_omim")}, kb))
        d = Documented(name=disease.get("name") or disease.get("orpha") or disease.get("omim") or "",
                       orpha=disease.get("orpha"), omim=disease.get("omim"), source=disease.get("source"),
                       annotated=bool(up))
        seen: set[str] = set()
        for p in findings:
            if p.hpo in seen:
                continue
            seen.add(p.hpo)
            found = _lineage(p.hpo)
            hit = found is not None and (found[0] in up or bool(found[1] & below))
            (d.explained if hit else d.unexplained).append({"hpo": p.hpo, "label": p.label})
        out.append(d)
    return out


def _merged(known: list[dict]) -> list[dict]:
    """One entry per disease name: a problem entry can name both an Orphanet disorder and an OMIM
    entry Orphanet does not map exactly ("Cleidocranial dysplasia": ORPHA:1452, OMIM:119600)."""
    out: dict[str, dict] = {}
    for d in known:
        key = (d.get("name") or d.get("orpha") or d.get("omim") or "").casefold()
        first = out.setdefault(key, dict(d))
        if first is not d and d.get("omim") and d.get("omim") != first.get("omim"):
            if first.get("omim"):
                first["also_omim"] = d["omim"]
            else:
                first["omim"] = d["omim"]
        if not first.get("orpha") and d.get("orpha"):
            first["orpha"] = d["orpha"]
    return list(out.values())


def explained_terms(documented: list[Documented]) -> set[str]:
    """HPO ids explained by at least one documented diagnosis."""
    return {f["hpo"] for d in documented for f in d.explained}
