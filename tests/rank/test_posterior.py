"""From likelihood ratios to probabilities (plain data), and the signal on the real ranker."""
from __future__ import annotations

import math

import numpy as np
import pytest

from app.rank import ancestors, posterior
from app.rank.ranker import Ranker

MARFAN = ["HP:0001166", "HP:0001083", "HP:0002616", "HP:0000098"]
ORDINARY = ["HP:0000822", "HP:0001513", "HP:0000246", "HP:0001903"]  # hypertension, obesity, sinusitis, anaemia


def test_a_common_finding_weighs_about_nothing_and_a_rare_one_a_lot():
    ic = 5.0
    explained = np.array([math.log(0.5) + ic])  # P_D(q) = 0.5
    assert posterior.log_lr(explained, ic, p0=0.3)[0] == pytest.approx(math.log1p(0.5 * 0.7 / 0.3))
    assert posterior.log_lr(explained, ic, p0=0.3)[0] < 1.0
    assert posterior.log_lr(explained, ic, p0=1e-4)[0] > 8.0
    unexplained = np.array([math.log(1e-6) + ic])
    assert posterior.log_lr(unexplained, ic, p0=0.3)[0] == pytest.approx(0.0, abs=1e-5)


def test_no_findings_leave_the_prior():
    prior = posterior.log_prior(np.array([1e-4, 1e-6, 1e-5]))
    assert np.exp(prior).sum() == pytest.approx(posterior.RARE_SHARE)
    hyp = posterior.posterior(prior, np.zeros(3), findings=0)
    assert 1 - hyp.none == pytest.approx(posterior.RARE_SHARE)
    assert sum(hyp.probability(i) for i in range(3)) + hyp.none == pytest.approx(1.0)


def test_prevalence_prior_is_tempered_but_ordered():
    prior = posterior.log_prior(np.array([2e-3, 5e-7]))
    assert prior[0] > prior[1]
    assert prior[0] - prior[1] == pytest.approx(posterior.PRIOR_WEIGHT * math.log(2e-3 / 5e-7))


def test_prevalence_classes():
    assert posterior.prevalence([]) == posterior.UNKNOWN_PREVALENCE
    point = {"type": "Point prevalence", "class": "1-5 / 10 000", "geo": "Europe"}
    world = {"type": "Point prevalence", "class": "1-9 / 100 000", "geo": "Worldwide"}
    assert posterior.prevalence([point, world]) == posterior.PREVALENCE["1-9 / 100 000"]
    incidence = {"type": "Annual incidence", "class": "1-9 / 100 000", "geo": "Worldwide"}
    assert posterior.prevalence([incidence]) == pytest.approx(3e-5 * posterior.INCIDENCE_YEARS)


def test_a_documented_condition_raises_the_frequency_of_what_it_explains():
    counts = np.array([0.0, 20.0, 0.0])
    raised = posterior.explained_frequency(0.01, {1: 15}, [1], counts)
    assert raised == pytest.approx((15 + posterior.EXPLAIN_WEIGHT * 0.01) / (20 + posterior.EXPLAIN_WEIGHT))
    assert posterior.explained_frequency(0.01, {}, [1], counts) == 0.01  # never seen together: no change
    assert posterior.explained_frequency(0.01, {2: 9}, [2], counts) == 0.01  # condition never seen at all


@pytest.fixture(scope="module")
def ranker():
    return Ranker.load()


def test_ordinary_findings_stay_near_the_base_rate(ranker):
    a = ranker.assess(ORDINARY, documented=ORDINARY)
    assert a.rare_probability < 0.2
    assert a.suggestions[0].probability < 0.01


def test_marfan_findings_speak_up_and_marfan_leads(ranker):
    a = ranker.assess(MARFAN)
    assert a.rare_probability > 0.9
    top = a.suggestions[0]
    assert any(s.orpha == "ORPHA:558" for s in a.suggestions[:3])
    probs = [s.probability for s in a.suggestions]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= a.rare_probability + 1e-9
    assert {b["hpo"] for b in top.evidence} == set(MARFAN)  # one bar per finding used
    assert not a.suggestions[5].evidence  # bars for the first few only


def test_ordinary_problems_around_marfan_do_not_silence_it(ranker):
    # "Not silenced": the card still fires at its default threshold, and the common findings weigh
    # little (they count for the tempering by how informative they are: posterior.finding_weights).
    from app.config.cds import CdsThresholds

    mixed = ranker.assess(MARFAN + ORDINARY, documented=ORDINARY)
    assert mixed.rare_probability > CdsThresholds().min_probability
    assert any(s.orpha == "ORPHA:558" for s in mixed.suggestions[:3])


def test_a_known_diagnosis_takes_its_share_out_of_p_rare(ranker):
    a = ranker.assess(MARFAN, exclude_orpha={"ORPHA:558"})
    assert a.known_probability > 0.3
    assert a.rare_probability + a.known_probability <= 1.0 + 1e-9
    assert all(s.orpha != "ORPHA:558" for s in a.suggestions)
    assert a.rare_probability < ranker.assess(MARFAN).rare_probability


def test_nothing_usable_gives_the_base_rate_and_no_list(ranker):
    a = ranker.assess(["HP:9999999"])
    assert a.suggestions == [] and a.findings == 0
    assert a.rare_probability == pytest.approx(posterior.RARE_SHARE)


def test_demographics_lower_x_linked_recessive_in_women_and_adult_onset_in_children():
    xlr = np.array([True, False, False])
    onset = np.array([0.0, 16.0, 0.0])
    women = posterior.demographic_log_prior(xlr, onset, "female", 30.0)
    assert women[0] == pytest.approx(posterior.UNLIKELY) and women[1] == women[2] == 0.0
    child = posterior.demographic_log_prior(xlr, onset, "male", 6.0)
    assert child[1] == pytest.approx(posterior.UNLIKELY) and child[0] == child[2] == 0.0
    assert not posterior.demographic_log_prior(xlr, onset, None, None).any()


def test_sex_and_age_reach_the_ranking(ranker):
    # Duchenne-like findings: X-linked recessive candidates lose ground in a woman.
    findings = ["HP:0003560", "HP:0003236", "HP:0001270", "HP:0003707"]
    man = ranker.assess(findings, sex="male", age_years=8)
    woman = ranker.assess(findings, sex="female", age_years=8)
    xlr_man = sum(s.probability for s in man.suggestions if "X-linked recessive" in s.inheritance)
    xlr_woman = sum(s.probability for s in woman.suggestions if "X-linked recessive" in s.inheritance)
    assert xlr_woman < xlr_man


def test_a_known_diagnosis_named_by_omim_only_is_excluded_in_the_ranker(ranker):
    a = ranker.assess(MARFAN, exclude_omim={"OMIM:154700"})
    assert all("OMIM:154700" not in s.omim for s in a.suggestions)
    assert a.known_probability > 0.1
    assert a.rare_probability + a.known_probability == pytest.approx(ranker.assess(MARFAN).rare_probability)


def test_reweighing_moves_shares_between_diseases_not_out_of_p_rare():
    prior = posterior.log_prior(np.array([1e-5, 1e-5, 1e-5]))
    hyp = posterior.posterior(prior, np.array([4.0, 3.0, 0.0]), findings=3)
    moved = posterior.reweigh(hyp, np.array([0.0, 2.0, 0.0]))
    assert moved.none == pytest.approx(hyp.none)
    assert np.exp(moved.log_post).sum() == pytest.approx(np.exp(hyp.log_post).sum())
    assert moved.probability(1) > moved.probability(0)  # disease 1 was second; the weight puts it first
    assert hyp.probability(1) < hyp.probability(0)
    assert moved.probability(2) / moved.probability(0) == pytest.approx(hyp.probability(2) / hyp.probability(0))


def test_coverage_is_the_share_of_the_disease_picture_the_patient_shows(ranker):
    marfan = next(i for i, e in enumerate(ranker._entities) if "OMIM:154700" in e.omim)
    e = ranker._entities[marfan]
    cols = sorted(e.annotations)
    full = ranker._coverage(cols)[marfan]
    freq = np.array([e.annotations[c] for c in cols])
    assert full == pytest.approx(float((np.minimum(freq, 0.99) * ranker._ic[cols]).sum() / np.minimum(freq, 0.99).sum()),
                                 rel=1e-6)
    few = ranker._coverage(ranker._query_cols(MARFAN[:2]))[marfan]
    assert 0.0 < few < full
    # the root is shared by every disease alike: it covers each as little, and reorders nothing
    root = ranker._col[int(ranker._ont.get_hpo_object("HP:0000118"))]
    assert np.allclose(ranker._coverage([root]), ranker._ic[root])


def test_common_findings_count_less_for_the_tempering():
    w = posterior.finding_weights([1e-4, 1e-3, 0.01, 0.3])
    assert w[0] == w[1] == 1.0 and 0.6 < w[2] < 0.7 and w[3] < 0.2


def test_a_disease_is_tempered_by_the_findings_that_speak_for_it():
    # Three telling findings; disease 0 explains all three, disease 1 only the first.
    lrs = np.array([[5.0, 5.0], [4.0, 0.0], [3.0, 0.0]])
    tau = posterior.disease_temperatures(lrs, np.ones(3))
    assert tau[1] > tau[0]  # fewer findings speak for disease 1: less correlated evidence to temper
    assert tau[0] == pytest.approx(posterior.temperature(3 + posterior.SHARED * 3))


def test_sharing_by_disease_temperatures_leaves_p_rare_alone():
    lrs = np.array([[5.0, 5.0], [4.0, 0.0]])
    prior = posterior.log_prior(np.array([1e-5, 1e-5]))
    hyp = posterior.posterior(prior, lrs.sum(axis=0), findings=2)
    shared = posterior.reweigh(hyp, (posterior.disease_temperatures(lrs, np.ones(2)) - hyp.temperature) * lrs.sum(axis=0))
    assert shared.none == pytest.approx(hyp.none)
    assert shared.probability(0) + shared.probability(1) == pytest.approx(hyp.probability(0) + hyp.probability(1))


def test_one_record_is_chosen_for_the_prevalence_shown_and_the_prior():
    incidence = {"type": "Annual incidence", "class": ">1 / 1000", "geo": "Worldwide"}
    birth = {"type": "Prevalence at birth", "class": "1-9 / 1 000 000", "geo": "Europe"}
    point = {"type": "Point prevalence", "class": "1-9 / 100 000", "geo": "Europe"}
    world = {"type": "Lifetime Prevalence", "class": "1-5 / 10 000", "geo": "Worldwide"}
    assert posterior.prevalence_record([]) is None
    assert posterior.prevalence_record([incidence, birth, point]) is birth  # Orphanet's order among prevalences
    assert posterior.prevalence_record([incidence, birth, point, world]) is world
    assert posterior.prevalence([incidence, birth, point]) == posterior.PREVALENCE[birth["class"]]


@pytest.mark.parametrize("present", [MARFAN, ["HP:0001250", "HP:0001263", "HP:0000252"], ["HP:0000118"]])
def test_the_explanations_common_ancestors_are_the_shared_ic_rows_at_the_terms_read(ranker, present):
    """``ancestors.mica`` gives, at the columns a suggestion's explanation reads, exactly the row per patient
    term that ``shared_ic`` of its ancestors gives (issue 23: only those columns are computed);
    ``mica_at`` the same from the view's columns or without them; coverage as the rows' maximum."""
    cols = ranker._query_cols(present)
    view = ranker._view(cols, set())
    rows = np.array([ancestors.shared_ic(ranker._desc, ranker._ic, ranker._ancestors(q)) for q in cols])
    rows = rows.reshape(len(cols), len(ranker._ic))
    rng = np.random.default_rng(3)
    terms = np.unique(np.concatenate([rng.choice(len(ranker._ic), 400, replace=False),
                                      *[ranker._ancestors(q) for q in cols], *[ranker._descendants(q)[:50] for q in cols]]))
    assert np.array_equal(ancestors.mica(ranker._anc, ranker._ic, view.ancestors, terms), rows[:, terms])
    view.terms, view.mica = terms, ancestors.mica(ranker._anc, ranker._ic, view.ancestors, terms)
    some = terms[::3]
    assert np.array_equal(ancestors.mica_at(ranker._anc, ranker._ic, view, some), rows[:, some])
    outside = np.setdiff1d(np.arange(len(ranker._ic)), terms)[:200]
    assert np.array_equal(ancestors.mica_at(ranker._anc, ranker._ic, view, outside), rows[:, outside])
    assert ancestors.mica(ranker._anc, ranker._ic, view.ancestors, np.array([], dtype=np.int64)).shape == (len(cols), 0)
    shared = ancestors.shared_ic(ranker._desc, ranker._ic, np.unique(np.concatenate([ranker._ancestors(q) for q in cols])))
    assert np.array_equal(shared, rows.max(axis=0))
