"""Next steps a differential names (issue 22, item 3): a laboratory test from "look for", a referral to
one specialty, RaDaR agreeing; and the warning that needs one of them or a strong candidate."""
from __future__ import annotations

import pytest

from app.config.cds import CdsThresholds
from app.knowledge.orphanet import OrphanetKB
from app.phenotype import Profile
from app.pipeline import Analysis, load_knowledge, signal, step_knowledge
from app.rank.ranker import Suggestion
from app.rank.steps import STEP_CANDIDATES, lab_testable, next_steps, radar_step, specialty_index

CK_HIGH = "HP:0003236"  # Elevated circulating creatine kinase concentration: a laboratory result


def suggestion(rank: int, name: str, p: float, orpha: str, look_for=()) -> Suggestion:
    return Suggestion(rank=rank, name=name, orpha=f"ORPHA:{orpha}", omim=[], score=1.0, url="", probability=p,
                      look_for=[{"hpo": h, "label": label, "frequency": f} for h, label, f in look_for])


def ck(frequency: str) -> tuple:
    return (CK_HIGH, "Elevated circulating creatine kinase concentration", frequency)


def myopathies(frequency: str = "very frequent") -> list[Suggestion]:
    """Three muscular dystrophies at 12 %, 11 % and 9 %: none strong enough alone, all expecting a high CK."""
    return [suggestion(1, "Duchenne muscular dystrophy", 0.12, "98896", [ck(frequency)]),
            suggestion(2, "Becker muscular dystrophy", 0.11, "98895", [ck(frequency)]),
            suggestion(3, "Limb-girdle muscular dystrophy", 0.09, "263", [ck(frequency)])]


def test_a_lab_test_the_candidates_share_is_a_step_holding_their_probability():
    steps = next_steps(myopathies(), testable={CK_HIGH})
    test = next(s for s in steps if s.kind == "test")
    assert test.probability == pytest.approx(0.32)
    assert test.diseases == ("Duchenne muscular dystrophy", "Becker muscular dystrophy", "Limb-girdle muscular dystrophy")
    assert "creatine kinase" in test.text and "Duchenne muscular dystrophy" in test.text


def test_only_frequent_findings_a_laboratory_shows_are_tests():
    assert not [s for s in next_steps(myopathies("occasional"), testable={CK_HIGH}) if s.kind == "test"]
    assert not [s for s in next_steps(myopathies(), testable=set()) if s.kind == "test"]


def test_the_top_candidate_is_always_a_step_and_only_the_first_candidates_count():
    many = myopathies() + [suggestion(4, "Fourth", 0.5, "4", [ck("obligate")])]
    steps = next_steps(many, testable={CK_HIGH})
    assert STEP_CANDIDATES == 3
    assert steps[0].kind == "test" and "Fourth" not in steps[0].diseases
    assert [s for s in steps if s.kind == "candidate"][0].diseases == ("Duchenne muscular dystrophy",)
    assert next_steps([]) == []


def test_a_referral_gathers_the_candidates_of_one_specialty():
    specialties = {"98896": frozenset({"N"}), "98895": frozenset({"N", "C"}), "263": frozenset({"C"})}
    steps = next_steps(myopathies(), specialties=specialties, names={"N": "Rare neurologic disease", "C": "Rare cardiac"})
    referral = next(s for s in steps if s.kind == "referral")
    assert referral.probability == pytest.approx(0.23)  # neurology: 12 % + 11 %; cardiology has 11 % + 9 %
    assert referral.text.startswith("Refer to a specialist in rare neurologic disease")


def tiny_orphanet(disorders: dict) -> OrphanetKB:
    base = {"synonyms": [], "omim": [], "icd10": [], "prevalence": [], "onset": [], "inheritance": [], "phenotypes": []}
    return OrphanetKB(source="test", disorders={k: {**base, **v} for k, v in disorders.items()})


def test_a_classification_most_disorders_share_is_no_specialty():
    kb = tiny_orphanet({
        "1": {"name": "Rare genetic disease", "type": "Category", "parents": []},
        "2": {"name": "Rare renal disease", "type": "Category", "parents": []},
        "10": {"name": "A", "type": "Disease", "parents": ["1", "2"]},
        "11": {"name": "B", "type": "Disease", "parents": ["1"]},
        "12": {"name": "C", "type": "Disease", "parents": ["1"]},
    })
    specialties, names = specialty_index(kb)
    assert specialties == {"10": frozenset({"2"})} and names == {"2": "Rare renal disease"}


def test_real_specialties_follow_orphanets_classification(kb):
    _, specialties, names = step_knowledge(kb)
    marfan = {names[r] for r in specialties["558"]}
    assert {"Rare circulatory system disease", "Rare ophthalmic disorder", "Rare bone disease"} <= marfan
    assert "Rare genetic disease" not in names.values()  # three in four disorders: no specialty
    assert not any("transplant" in n for n in names.values())


def test_real_laboratory_findings_come_from_loinc2hpo(kb):
    testable = lab_testable(kb.loinc)
    assert {CK_HIGH, "HP:0001873", "HP:0002153"} <= testable  # high CK, low platelets, hyperkalaemia
    assert "HP:0001166" not in testable  # arachnodactyly: no laboratory result shows it


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def flagged(p_rare: float, suggestions: list, steps: list) -> Analysis:
    return Analysis(profile=Profile(), suggestions=suggestions, rare_probability=p_rare, findings=5, steps=steps)


def test_a_strong_step_makes_a_warning_where_no_candidate_is_strong_enough():
    thresholds = CdsThresholds()
    cands = myopathies()
    assert cands[0].probability < thresholds.warning_candidate
    with_test = next_steps(cands, testable={CK_HIGH})
    assert signal(flagged(0.95, cands, with_test), thresholds) == "warning"
    assert signal(flagged(0.95, cands, next_steps(cands)), thresholds) == "info"  # nothing to do: no interruption
    assert signal(flagged(0.95, cands, with_test), CdsThresholds(warning_step=0.33)) == "info"
    assert signal(flagged(0.6, cands, with_test), thresholds) == "info"  # below the warning probability


def test_radar_agreeing_with_a_candidate_is_a_step():
    cands = myopathies()
    step = radar_step([{"orpha": "ORPHA:98895", "name": "Becker"}, {"orpha": "ORPHA:1", "name": "Other"}], cands)
    assert step.kind == "radar" and step.diseases == ("Becker muscular dystrophy",)
    assert step.probability == pytest.approx(0.11)
    assert radar_step([{"orpha": "ORPHA:1"}, {"name": "ungrounded"}], cands) is None


def test_the_steps_of_a_real_analysis_name_a_real_test_and_specialty(kb):
    """A boy of 5 with calf pseudohypertrophy, Gowers sign, proximal weakness and delay: Duchenne first;
    its "look for" has a high CK, which a laboratory shows, and neurology is among the specialties."""
    from app.phenotype import Phenotype
    from app.pipeline import reanalyse

    terms = ["HP:0003707", "HP:0003391", "HP:0003701", "HP:0001263"]
    profile = Profile(present=[Phenotype(hpo=t, label=t, status="present", source=f"Observation/{i}", origin="note")
                               for i, t in enumerate(terms)], sex="male", age_years=5.0)
    a = reanalyse(profile, kb)
    assert a.suggestions[0].name == "Duchenne muscular dystrophy"
    kinds = {s.kind: s for s in a.steps}
    assert "creatine kinase" in kinds["test"].text and "Duchenne muscular dystrophy" in kinds["test"].diseases
    assert "rare neurologic disease" in kinds["referral"].text
    assert [s.probability for s in a.steps] == sorted((s.probability for s in a.steps), reverse=True)
