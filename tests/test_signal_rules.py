"""Every rule the README states about ``flagged``, P(rare) and the card, pinned on the real knowledge
(profiles built by hand, so each rule is tested on plain data, through the one middle)."""
from __future__ import annotations

import pytest

from app.config.cds import CdsThresholds
from app.phenotype import Phenotype, Profile
from app.pipeline import MIN_FLAG_FINDINGS, MOSTLY_EXPLAINED, Analysis, load_knowledge, reanalyse, signal
from app.rank.posterior import RARE_SHARE

# A Marfan-like picture: each finding rare in ordinary people and frequent in the disease.
MARFAN = ["HP:0001166", "HP:0001083", "HP:0002616", "HP:0000768", "HP:0001519", "HP:0000545"]


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def profile(terms, *, origin="note", sex="female", age=30.0, known=()) -> Profile:
    return Profile(present=[Phenotype(hpo=t, label=t, status="present", source=f"Observation/{i}", origin=origin)
                            for i, t in enumerate(terms)], known_diseases=list(known), sex=sex, age_years=age)


def test_the_minimum_number_of_findings_is_written_once_and_is_two():
    assert MIN_FLAG_FINDINGS == 2


def test_fewer_than_the_minimum_never_flags_whatever_the_probability(kb):
    one = reanalyse(profile(MARFAN[:1]), kb)
    assert one.findings == 1
    # The rule holds even at a threshold the probability passes.
    low = CdsThresholds(min_probability=0.0001, warning_probability=0.0001)
    assert one.rare_probability >= low.min_probability
    assert signal(one, low) is None


def test_a_rare_pattern_flags_and_warns_from_the_thresholds(kb):
    a = reanalyse(profile(MARFAN), kb)
    assert a.findings >= MIN_FLAG_FINDINGS
    assert signal(a, CdsThresholds()) in ("info", "warning")
    assert signal(a, CdsThresholds(min_probability=0.01, warning_probability=0.01)) == "warning"
    just_above = CdsThresholds(min_probability=a.rare_probability, warning_probability=1.0)
    assert signal(a, just_above) == "info"  # at the minimum: info, below the warning level
    assert signal(a, CdsThresholds(min_probability=min(1.0, a.rare_probability + 1e-6), warning_probability=1.0)) is None


def test_nothing_telling_leaves_the_base_rate(kb):
    a = reanalyse(profile([]), kb)
    assert a.rare_probability == pytest.approx(RARE_SHARE, abs=0.005)
    assert signal(a, CdsThresholds()) is None


@pytest.mark.parametrize("terms", [
    ["HP:0000739"],  # anxiety
    ["HP:0002829"],  # arthralgia
    ["HP:0000365"],  # hearing impairment
    ["HP:0003124"],  # hypercholesterolaemia
])
def test_one_ordinary_problem_in_an_adult_leaves_p_rare_near_the_base_rate(kb, terms):
    a = reanalyse(profile(terms, origin="condition", age=40.0), kb)
    assert a.rare_probability < 2.5 * RARE_SHARE


def test_four_ordinary_problems_of_an_old_man_do_not_flag(kb):
    a = reanalyse(profile(["HP:0000365", "HP:0000739", "HP:0002829", "HP:0003124"], origin="condition",
                          sex="male", age=79.0), kb)
    assert signal(a, CdsThresholds()) is None
    assert a.rare_probability < 0.2


def test_probabilities_fall_down_the_list_and_sum_to_at_most_p_rare(kb):
    a = reanalyse(profile(MARFAN), kb)
    probs = [s.probability for s in a.suggestions]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= a.rare_probability + 1e-9
    assert 0.0 <= a.rare_probability <= 1.0


def test_a_known_diagnosis_is_not_suggested_and_its_share_is_not_rare(kb):
    before = reanalyse(profile(MARFAN), kb)
    top = before.suggestions[0]
    known = [{"orpha": top.orpha, "omim": None, "name": top.name}] if top.orpha else \
        [{"orpha": None, "omim": top.omim[0], "name": top.name}]
    after = reanalyse(profile(MARFAN, known=known), kb)
    assert top.name not in [s.name for s in after.suggestions]
    assert after.known_probability > 0
    assert after.rare_probability < before.rare_probability


def test_acute_and_diagnosis_terms_are_shown_but_not_weighed(kb):
    p = profile(MARFAN)
    for ph in p.present[:4]:
        ph.acute = True
    p.present[4].diagnosis = True
    a = reanalyse(p, kb)
    assert a.findings == 1  # only the last finding is weighed
    assert signal(a, CdsThresholds(min_probability=0.0001, warning_probability=0.0001)) is None
    assert len(a.profile.present) == len(MARFAN)  # all still shown


def test_no_assessment_means_no_flag():
    assert signal(Analysis(profile=Profile()), CdsThresholds()) is None


def _flagged(p_rare: float, top: float, findings: int = 5) -> Analysis:
    """A plain analysis: P(rare) ``p_rare`` and one candidate at ``top`` (no knowledge needed)."""
    from app.rank.ranker import Suggestion

    suggestion = Suggestion(rank=1, name="Some rare disease", orpha="1", omim=[], score=1.0, url="", probability=top)
    return Analysis(profile=Profile(), suggestions=[suggestion], rare_probability=p_rare, findings=findings)


def test_a_warning_needs_a_candidate_strong_enough_to_act_on():
    # P(rare) 94% with the top candidate at 2%: nothing to do, so it does not interrupt.
    assert signal(_flagged(0.94, 0.02), CdsThresholds()) == "info"
    assert signal(_flagged(0.94, CdsThresholds().warning_candidate), CdsThresholds()) == "warning"


def test_the_candidate_threshold_is_a_setting():
    strict = CdsThresholds(warning_candidate=0.5)
    assert signal(_flagged(0.94, 0.4), strict) == "info"
    assert signal(_flagged(0.94, 0.5), strict) == "warning"
    assert signal(_flagged(0.6, 0.5), strict) == "info"  # below the warning probability: info, however strong


def test_a_weak_candidate_still_flags_as_info_never_hides_the_pattern():
    assert signal(_flagged(0.6, 0.01), CdsThresholds()) == "info"
    assert signal(_flagged(0.3, 0.3), CdsThresholds()) is None


# Marfan syndrome (ORPHA:558) on the problem list; findings it does not have: hypsarrhythmia,
# global developmental delay, abnormal extrapyramidal motor function.
MARFAN_DOCUMENTED = [{"orpha": "ORPHA:558", "omim": None, "name": "Marfan syndrome", "source": "Condition/dx"}]
NOT_MARFAN = ["HP:0002521", "HP:0001263", "HP:0002071"]


def test_how_much_a_documented_diagnosis_must_explain_is_written_once_and_is_three_in_four():
    assert MOSTLY_EXPLAINED == 0.75


def test_a_documented_diagnosis_that_explains_every_finding_does_not_flag(kb):
    a = reanalyse(profile(MARFAN, known=MARFAN_DOCUMENTED), kb)
    [d] = a.documented
    assert d.name == "Marfan syndrome" and len(d.explained) == len(MARFAN) and d.unexplained == []
    assert a.findings == 0  # P(rare) of another rare disease rests on the unexplained findings only
    assert a.rare_probability == pytest.approx(RARE_SHARE, abs=0.005)
    assert signal(a, CdsThresholds(min_probability=0.0001, warning_probability=0.0001)) is None


def test_strong_findings_the_documented_diagnosis_does_not_explain_flag_another_rare_disease(kb):
    a = reanalyse(profile(MARFAN + NOT_MARFAN, known=MARFAN_DOCUMENTED, sex="male", age=4.0), kb)
    [d] = a.documented
    assert [f["hpo"] for f in d.unexplained] == NOT_MARFAN
    assert {f["hpo"] for f in d.explained} == set(MARFAN)
    assert a.findings == len(NOT_MARFAN)
    assert signal(a, CdsThresholds()) is not None


def test_a_documented_diagnosis_that_explains_most_findings_does_not_flag(kb):
    # 6 of 8 findings (three in four) explained: the two left do not make another rare disease.
    a = reanalyse(profile(MARFAN + NOT_MARFAN[:2], known=MARFAN_DOCUMENTED, sex="male", age=4.0), kb)
    assert a.findings == 2
    assert signal(a, CdsThresholds(min_probability=0.0001, warning_probability=0.0001)) is None
