"""The rankable diseases built from plain Orphanet and OMIM data (no ontology load)."""
from __future__ import annotations

from dataclasses import dataclass, field

from app.rank import entities, posterior

BIRTH_EUROPE = {"type": "Prevalence at birth", "class": "1-9 / 1 000 000", "geo": "Europe"}
POINT_EUROPE = {"type": "Point prevalence", "class": "1-9 / 100 000", "geo": "Europe"}


@dataclass
class OmimDisease:
    """What ``entities.build`` reads of an hpo3 OMIM disease."""

    id: int
    name: str
    hpo: set[int] = field(default_factory=set)


@dataclass
class Ontology:
    omim_diseases: list[OmimDisease]


@dataclass
class KB:
    """The part of ``OrphanetKB`` that ``entities.build`` reads."""

    disorders: dict[str, dict]

    def disease(self, code):
        return self.disorders.get(str(code))

    def by_omim(self, omim, relations=None):
        return [c for c, d in self.disorders.items() if any(m == str(omim) for m, _ in d["omim"])]


def disorder(phenotypes, omim=(), prevalence=()) -> dict:
    return {"name": "A disorder", "type": "Disease", "parents": [], "omim": list(omim), "phenotypes": phenotypes,
            "prevalence": list(prevalence), "inheritance": [], "onset": []}


def build(kb, omim_diseases=(), annotations=None):
    col = {t: t for t in range(1, 10)}
    return entities.build(Ontology(list(omim_diseases)), kb, col, lambda hpo: col.get(int(hpo[3:])), annotations)


def test_a_finding_without_a_source_frequency_is_marked_unknown_not_read_from_its_value():
    kb = KB({"1": disorder([("HP:0000001", "Frequent (79-30%)"), ("HP:0000002", "")], omim=[("100", "E")])})
    omim = [OmimDisease(100, "merged", {3, 4}), OmimDisease(200, "alone", {5, 6})]
    hpoa = {"OMIM:100": {"frequencies": {"HP:0000003": 0.5}},  # a measured 1 of 2 patients
            "OMIM:200": {"frequencies": {"HP:0000005": 0.5}}}
    orpha, alone = build(kb, omim, hpoa)
    assert orpha.annotations == {1: 0.55, 2: entities.DEFAULT_FREQUENCY, 3: 0.5, 4: entities.DEFAULT_FREQUENCY}
    assert orpha.unknown_frequency == {2, 4}
    assert alone.annotations == {5: 0.5, 6: entities.DEFAULT_FREQUENCY}
    assert alone.unknown_frequency == {6}


def test_a_known_frequency_outranks_an_unknown_one_for_the_same_finding():
    kb = KB({"1": disorder([("HP:0000001", ""), ("HP:0000001", "Very frequent (99-80%)"), ("HP:0000002", "Occasional (29-5%)"),
                            ("HP:0000002", "")])})
    (e,) = build(kb)
    assert e.annotations == {1: 0.9, 2: entities.DEFAULT_FREQUENCY}
    assert e.unknown_frequency == {2}


def test_the_prevalence_shown_is_the_one_the_prior_uses():
    kb = KB({"1": disorder([("HP:0000001", "Frequent (79-30%)")], prevalence=[BIRTH_EUROPE, POINT_EUROPE])})
    (e,) = build(kb)
    assert e.prevalence == "1-9 / 1 000 000 (prevalence at birth, Europe)"
    assert e.prevalence_value == posterior.PREVALENCE["1-9 / 1 000 000"]
