"""The suggestions' explanations against the real knowledge: each finding weighed for the disease
against the general population (a disease's own features raise it, a finding it is known not to
have lowers it), and what tells the disease apart from the next candidate."""
from __future__ import annotations

import math

import pytest

from app.rank import explain
from app.rank.ranker import Ranker

# A newborn with congenital secretory diarrhoea (issue 22): secretory and intractable diarrhoea,
# metabolic acidosis, polyhydramnios, high faecal sodium, distended abdomen, failure to thrive, dehydration.
DIARRHOEA = ["HP:0005208", "HP:0002041", "HP:0001942", "HP:0001561", "HP:0032484", "HP:0003270", "HP:0001508",
             "HP:0001944"]
MARFAN = ["HP:0001166", "HP:0001083", "HP:0002616", "HP:0000098"]  # arachnodactyly, ectopia lentis, aortic root, tall
HYPERTENSION = "HP:0000822"
# Emery-Dreifuss muscular dystrophy (ORPHA:261): its frequent features; Orphanet excludes intellectual disability.
EDMD = ["HP:0003236", "HP:0001387", "HP:0001315", "HP:0006785", "HP:0000767"]
INTELLECTUAL_DISABILITY = "HP:0001249"


@pytest.fixture(scope="module")
def ranker():
    return Ranker.load()


def bars_of(suggestion) -> dict[str, float]:
    return {b["hpo"]: b["log10_lr"] for b in suggestion.evidence}


def own_features(ranker, suggestion, present, least=0.3) -> set[str]:
    """The patient's terms the disease itself is annotated with (exactly), at ``least`` this frequency."""
    entity = next(e for e in ranker._entities
                  if (suggestion.orpha and e.orpha == suggestion.orpha.removeprefix("ORPHA:"))
                  or (not suggestion.orpha and e.omim == suggestion.omim))
    return {ranker._ids[c] for c, f in entity.annotations.items() if f >= least} & set(present)


def test_marfan_core_features_raise_it_and_hypertension_hardly_moves_it(ranker):
    a = ranker.assess(MARFAN + [HYPERTENSION])
    marfan = next(s for s in a.suggestions if s.orpha == "ORPHA:558")
    bars = bars_of(marfan)
    assert bars["HP:0001166"] > 0 and bars["HP:0001083"] > 0  # arachnodactyly, ectopia lentis
    # Ectopia lentis is rare in ordinary people; hypertension is common (0.29): it weighs next to nothing.
    assert bars["HP:0001083"] > 1.0
    assert abs(bars[HYPERTENSION]) < 0.1 < bars["HP:0001083"] - bars[HYPERTENSION]


def test_each_top_diseases_own_features_raise_it(ranker):
    a = ranker.assess(DIARRHOEA, age_years=0.5)
    checked = 0
    for s in a.suggestions[:3]:
        bars = bars_of(s)
        assert set(bars) == set(DIARRHOEA)
        for hpo in own_features(ranker, s, DIARRHOEA):
            assert bars[hpo] > 0, (s.name, hpo, bars[hpo])
            checked += 1
        # Nothing lowers a disease against the population unless it is known not to have the finding.
        assert all(v >= 0 for h, v in bars.items() if not any(b.get("excluded") for b in s.evidence if b["hpo"] == h))
    assert checked >= 8


def test_a_finding_the_disease_is_known_not_to_have_lowers_it(ranker):
    a = ranker.assess(EDMD + [INTELLECTUAL_DISABILITY], top=10, evidence_for=10)
    edmd = next(s for s in a.suggestions if s.orpha == "ORPHA:261")
    bars = {b["hpo"]: b for b in edmd.evidence}
    assert bars[INTELLECTUAL_DISABILITY]["excluded"] is True
    assert bars[INTELLECTUAL_DISABILITY]["log10_lr"] == pytest.approx(math.log10(explain.EXCLUDED_LR))
    assert all(bars[h]["log10_lr"] > 0 and not bars[h].get("excluded") for h in EDMD)


def test_a_more_specific_finding_under_an_excluded_one_lowers_it_too(ranker):
    mild = "HP:0001256"  # intellectual disability, mild: below the excluded term
    a = ranker.assess(EDMD + [mild], top=10, evidence_for=10)
    edmd = next(s for s in a.suggestions if s.orpha == "ORPHA:261")
    assert next(b for b in edmd.evidence if b["hpo"] == mild)["log10_lr"] < 0


def test_what_tells_the_top_disease_apart_from_the_next_candidate(ranker):
    a = ranker.assess(DIARRHOEA, age_years=0.5)
    first, second = a.suggestions[:2]
    apart = first.contrast
    assert apart["name"] == second.name and apart["orpha"] == second.orpha
    values = [f["log10_lr"] for f in apart["findings"]]
    assert values and len(values) <= explain.CONTRAST_MAX
    assert [abs(v) for v in values] == sorted((abs(v) for v in values), reverse=True)
    assert all(abs(v) >= math.log10(explain.CONTRAST_MIN_LR) for v in values)
    # Each is the ratio of the two diseases' bars: the findings furthest from 1 between them.
    mine, theirs = bars_of(first), bars_of(second)
    ratios = sorted((mine[h] - theirs[h] for h in DIARRHOEA), key=lambda v: -abs(v))
    assert values == pytest.approx(ratios[:len(values)], abs=2e-3)
    # The second is told apart from the first.
    assert second.contrast["name"] == first.name


def test_ranking_and_p_rare_do_not_depend_on_the_explanations(ranker):
    plain = ranker.assess(DIARRHOEA, age_years=0.5, evidence_for=0)
    explained = ranker.assess(DIARRHOEA, age_years=0.5, evidence_for=3)
    assert plain.rare_probability == explained.rare_probability
    assert [(s.name, s.probability) for s in plain.suggestions] == [(s.name, s.probability) for s in explained.suggestions]
    assert not plain.suggestions[0].evidence and plain.suggestions[0].contrast is None


def test_radar_rank_lines_carry_the_explanations(ranker):
    from app.batch import contract_line
    from app.phenotype import Profile
    from app.pipeline import Analysis

    a = ranker.assess(DIARRHOEA, age_years=0.5)
    line = contract_line("p1", Analysis(profile=Profile(), suggestions=a.suggestions, rare_probability=a.rare_probability,
                                        findings=a.findings))
    first, fourth = line["suggestions"][0], line["suggestions"][3]
    assert first["evidence"] == a.suggestions[0].evidence and all(b["log10_lr"] > 0 for b in first["evidence"])
    assert first["tells_apart"]["name"] == a.suggestions[1].name
    assert first["tells_apart"]["findings"] == a.suggestions[0].contrast["findings"]
    assert "evidence" not in fourth and "tells_apart" not in fourth  # the first few only, as the chart
