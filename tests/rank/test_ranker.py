"""The embedded ranker and the Orphanet knowledge, against the committed data (no ../shared)."""
from __future__ import annotations

import pytest

from app.knowledge import orphanet
from app.rank.ranker import Ranker

# arachnodactyly, ectopia lentis, aortic root aneurysm, tall stature
MARFAN = ["HP:0001166", "HP:0001083", "HP:0002616", "HP:0000098"]


@pytest.fixture(scope="module")
def ranker():
    return Ranker.load()


def ancestors(ranker, hpo):
    return {hpo} | {p.id for p in ranker._ont.get_hpo_object(hpo).all_parents}


def test_marfan_ranks_in_top_three_with_orphanet_link(ranker):
    top = ranker.rank(MARFAN, top=10)
    marfan = next(s for s in top if s.orpha == "ORPHA:558")
    assert marfan.rank <= 3
    assert marfan.url == "https://www.orpha.net/en/disease/detail/558"
    assert "OMIM:154700" in marfan.omim
    assert marfan.inheritance == ["Autosomal dominant"]
    assert marfan.prevalence
    assert [s.rank for s in top] == list(range(1, len(top) + 1))
    assert all(0.0 <= s.score <= 1.0 for s in top)
    assert [s.score for s in top] == sorted((s.score for s in top), reverse=True)


def test_matching_terms_come_from_the_input_and_relate_to_the_disease(ranker):
    marfan = next(s for s in ranker.rank(MARFAN) if s.orpha == "ORPHA:558")
    assert {m["hpo"] for m in marfan.matching} == set(MARFAN)
    for m in marfan.matching:
        # the disease term is the patient's term, a descendant, or shares an informative ancestor
        assert m["disease_hpo"] == m["hpo"] or ancestors(ranker, m["disease_hpo"]) & ancestors(ranker, m["hpo"])
        assert m["label"] and m["disease_label"]
    exact = {m["hpo"] for m in marfan.matching if m["disease_hpo"] == m["hpo"]}
    assert {"HP:0001166", "HP:0001083", "HP:0002616"} <= exact


def test_look_for_excludes_recorded_terms_and_their_relatives(ranker):
    absent = ["HP:0002108"]  # spontaneous pneumothorax
    marfan = next(s for s in ranker.rank(MARFAN, absent) if s.orpha == "ORPHA:558")
    assert 0 < len(marfan.look_for) <= 8
    recorded = set(MARFAN) | set(absent)
    for item in marfan.look_for:
        assert item["hpo"] not in recorded
        assert not ancestors(ranker, item["hpo"]) & recorded  # not a descendant of a recorded term
        assert not any(item["hpo"] in ancestors(ranker, r) for r in recorded)  # nor an ancestor
    order = ["obligate", "very frequent", "frequent", "occasional", "very rare"]
    ranks = [order.index(i["frequency"]) for i in marfan.look_for if i["frequency"]]
    assert ranks == sorted(ranks)


def test_exclude_orpha_drops_the_known_disease_and_its_omim_entries(ranker):
    ranked = ranker.rank(MARFAN, top=20, exclude_orpha={"ORPHA:558"})
    assert all(s.orpha != "ORPHA:558" for s in ranked)
    assert all("OMIM:154700" not in s.omim or s.orpha for s in ranked)
    assert ranker.rank(MARFAN, top=20, exclude_orpha={"558"})[0].orpha != "ORPHA:558"


def test_empty_and_unknown_input(ranker):
    assert ranker.rank([]) == []
    assert ranker.rank(["HP:9999999", "not-a-term"]) == []
    assert ranker.rank(["HP:0000006"]) == []  # inheritance, not a phenotype
    with_junk = ranker.rank(MARFAN + ["HP:9999999"], top=5)
    assert [s.name for s in with_junk] == [s.name for s in ranker.rank(MARFAN, top=5)]


def test_order_is_deterministic_and_top_is_respected(ranker):
    first = ranker.rank(MARFAN, top=7)
    assert len(first) == 7
    assert [(s.name, s.score) for s in first] == [(s.name, s.score) for s in ranker.rank(list(reversed(MARFAN)), top=7)]


def test_omim_only_entries_link_to_omim(ranker):
    # "Ectopia lentis, familial" has no exact Orphanet disorder: it stays an OMIM entry
    ranked = ranker.rank(["HP:0001083", "HP:0000545"], top=50)
    entry = next(s for s in ranked if s.omim == ["OMIM:129600"])
    assert entry.orpha is None
    assert entry.url == "https://omim.org/entry/129600"


def test_term_label(ranker):
    assert ranker.term_label("HP:0001166") == "Arachnodactyly"
    assert ranker.term_label("HP:9999999") == "HP:9999999"


def test_orphanet_knowledge_lookups():
    kb = orphanet.load()
    assert kb.source.startswith("Orphanet ORPHApackets 2025-12")
    marfan = kb.disease("ORPHA:558")
    assert marfan["name"] == "Marfan syndrome"
    assert ["154700", "BTNT"] in marfan["omim"]
    assert "558" in kb.by_omim("OMIM:154700")
    assert kb.by_omim("154700", {"E"}) == ["284963"]
    assert "MFS" in kb.names(558)
    assert kb.disease("0") is None


def test_icd10_prefix_matching():
    kb = orphanet.OrphanetKB(source="test", disorders={
        "355": {"name": "Gaucher disease", "synonyms": [], "icd10": [["E75.2", "NTBT"]], "omim": []},
        "1": {"name": "Broader", "synonyms": [], "icd10": [["E75", "BTNT"]], "omim": []},
    })
    assert kb.by_icd10("E75.22") == ["355"]
    assert kb.by_icd10("e75.2") == ["355"]
    assert kb.by_icd10("E75") == []  # BTNT: the code is narrower than the disorder
    assert kb.by_icd10("Q87.4") == []


def test_a_source_frequency_of_one_half_is_shown_and_a_missing_one_is_not(ranker):
    # ORPHA:13's merged OMIM annotations: HPO gives 0.5 for HP:0003785 and no frequency for HP:0002344.
    matching, _ = ranker.explain("ORPHA:13", ["HP:0003785", "HP:0002344"])
    assert {m["hpo"]: m["frequency"] for m in matching} == {"HP:0003785": "frequent", "HP:0002344": None}
