"""The worklist line, pure: an analysis as plain data → the contract line the README gives."""
from app.config import CdsThresholds
from app.phenotype import Phenotype, Profile
from app.pipeline import Analysis
from app.rank.ranker import Suggestion
from app.screen import worklist


def finding(hpo, label, source):
    return Phenotype(hpo=hpo, label=label, status="present", source=source, origin="condition")


def suggestion(rank, probability, evidence=()):
    return Suggestion(rank=rank, name=f"Disease {rank}", orpha=f"ORPHA:{rank}", omim=[f"OMIM:{100000 + rank}"],
                      url=f"https://www.orpha.net/en/disease/detail/{rank}", score=1.0, probability=probability,
                      evidence=list(evidence))


def analysis(p_rare, suggestions, present):
    return Analysis(profile=Profile(present=present), suggestions=suggestions, rare_probability=p_rare,
                    findings=len(present))


PRESENT = [finding("HP:0001166", "Arachnodactyly", "Condition/c1"),
           finding("HP:0001083", "Ectopia lentis", "DocumentReference/n1"),
           finding("HP:0000822", "Hypertension", "Condition/c2")]
BARS = [{"hpo": "HP:0000822", "label": "Hypertension", "log10_lr": -0.2},
        {"hpo": "HP:0001166", "label": "Arachnodactyly", "log10_lr": 0.8},
        {"hpo": "HP:0001083", "label": "Ectopia lentis", "log10_lr": 1.4}]


def test_a_flagged_line_carries_the_top_five_and_the_findings_that_raise_the_top_candidate():
    a = analysis(0.93, [suggestion(r, 0.9 / r, BARS if r == 1 else ()) for r in range(1, 8)], PRESENT)
    line = worklist.line("p1", a, CdsThresholds(), gaps=["1 note could not be read (damaged)"])
    assert line["patient"] == "p1" and line["rare_disease_probability"] == 0.93
    assert (line["flagged"], line["signal"], line["findings"]) == (True, "warning", 3)
    assert [s["rank"] for s in line["suggestions"]] == [1, 2, 3, 4, 5]
    assert line["suggestions"][0] == {"rank": 1, "name": "Disease 1", "orpha": "ORPHA:1", "omim": ["OMIM:100001"],
                                      "probability": 0.9, "url": "https://www.orpha.net/en/disease/detail/1"}
    # Strongest first; hypertension lowers the top candidate, so it is not evidence for it.
    assert line["evidence"] == [{"hpo": "HP:0001083", "label": "Ectopia lentis", "source": "DocumentReference/n1"},
                                {"hpo": "HP:0001166", "label": "Arachnodactyly", "source": "Condition/c1"}]
    assert line["gaps"] == ["1 note could not be read (damaged)"]


def test_below_the_threshold_the_line_is_unflagged_and_lists_the_findings():
    line = worklist.line("p2", analysis(0.2, [suggestion(1, 0.1)], PRESENT), CdsThresholds())
    assert (line["flagged"], line["signal"]) == (False, None)
    assert [e["hpo"] for e in line["evidence"]] == [p.hpo for p in PRESENT]
    assert "gaps" not in line


def test_the_thresholds_are_the_cds_cards():
    a = analysis(0.6, [suggestion(1, 0.5)], PRESENT)
    assert worklist.line("p", a, CdsThresholds(min_probability=0.5, warning_probability=0.9))["signal"] == "info"
    assert worklist.line("p", a, CdsThresholds(min_probability=0.7, warning_probability=0.9))["flagged"] is False


def test_a_record_with_nothing_in_it_is_a_line_too():
    line = worklist.line("empty", Analysis(profile=Profile(), too_few=True), CdsThresholds())
    assert line == {"patient": "empty", "rare_disease_probability": 0.0, "flagged": False, "signal": None,
                    "findings": 0, "suggestions": [], "evidence": [], "next_steps": []}


def test_a_line_carries_what_its_flag_rests_on_next_steps_and_a_documented_diagnosis():
    from app.rank.documented import Documented
    from app.rank.steps import Step

    a = analysis(0.95, [suggestion(r, 0.1) for r in (1, 2, 3)], PRESENT)
    a.steps = [Step("test", "Test for x", 0.3, ("Disease 1", "Disease 2", "Disease 3")),
               Step("candidate", "Consider Disease 1", 0.1, ("Disease 1",))]
    a.documented = [Documented(name="Marfan syndrome", orpha="ORPHA:558", omim=None, source="Condition/c9",
                               explained=[{"hpo": "HP:0001166", "label": "Arachnodactyly"}])]
    line = worklist.line("p", a, CdsThresholds())
    assert line["signal"] == "warning"  # no candidate reaches 0.2; the test step (30 %) does
    assert line["next_steps"] == [
        {"kind": "test", "text": "Test for x", "probability": 0.3, "diseases": ["Disease 1", "Disease 2", "Disease 3"]},
        {"kind": "candidate", "text": "Consider Disease 1", "probability": 0.1, "diseases": ["Disease 1"]}]
    assert line["documented"] == [{"name": "Marfan syndrome", "orpha": "ORPHA:558", "omim": None, "source": "Condition/c9",
                                   "annotated": True, "explained": [{"hpo": "HP:0001166", "label": "Arachnodactyly"}],
                                   "unexplained": []}]


def test_worklist_order_is_most_probable_first_then_by_patient():
    lines = [{"patient": "b", "rare_disease_probability": 0.5}, {"patient": "a", "rare_disease_probability": 0.5},
             {"patient": "c", "rare_disease_probability": 0.9}]
    assert [x["patient"] for x in sorted(lines, key=worklist.sort_key)] == ["c", "a", "b"]


def test_the_record_keeps_the_newest_version_of_a_resource():
    import json

    from app.screen.sources import order

    old = {"resourceType": "Patient", "id": "p", "gender": "male", "meta": {"lastUpdated": "2025-01-01T00:00:00Z"}}
    new = dict(old, gender="female", meta={"lastUpdated": "2026-06-01T00:00:00Z"})
    items = [(order(old, "a"), "Patient", json.dumps(old)), (order(new, "b"), "Patient", json.dumps(new))]
    assert worklist.record_of("p", items).patient["gender"] == "female"


def test_a_screened_patient_is_ranked_only_as_far_as_the_line_shows_and_the_line_is_the_same():
    """worklist.screen ranks the first TOP candidates (issue 23: the other five were ranked and explained
    for nothing); the line equals the one made from a full ten-candidate analysis, on sandbox patients."""
    import json

    from app.pipeline import analyse, load_knowledge
    from app.screen.sources import keyed
    from tests.support.exports import bundles

    kb = load_knowledge()
    checked = 0
    for bundle in bundles()[:12]:
        items = [i for i in keyed(json.dumps(bundle), "b.ndjson") if i[0] == "res"]
        pid, resources = items[0][1], [i[2] for i in items]
        record = worklist.record_of(pid, resources)
        full = analyse(record, kb, top=10)
        expected = worklist.line(pid, full, CdsThresholds(), record.gaps())
        expected["background"] = kb.ranker.background_name
        got = worklist.screen(pid, resources, kb, CdsThresholds(), top=10).line
        assert got == expected
        checked += len(full.suggestions) > worklist.TOP
    assert checked >= 5  # patients whose full analysis had candidates past the line's five
