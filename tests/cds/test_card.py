"""The card decision, the card and the feedback parser as pure functions over plain data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cds.card import decide, markdown_text, render_card
from app.cds.hook import BadRequest, parse_feedback, parse_request
from app.config.cds import CdsThresholds
from app.phenotype import PRESENT, Phenotype, Profile
from app.pipeline import Analysis
from app.rank.ranker import Suggestion

BASE = "https://radar.hospital.example"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def analysis(n_present: int, matching: list[int]) -> Analysis:
    present = [Phenotype(hpo=f"HP:{i:07d}", label=f"finding {i}", status=PRESENT, source=f"Condition/{i}",
                         origin="condition") for i in range(n_present)]
    suggestions = [Suggestion(rank=r, name=f"Disease [{r}]", orpha=f"ORPHA:{r}", omim=[], score=1.0 / r,
                              url=f"https://www.orpha.net/en/disease/detail/{r}",
                              matching=[{"hpo": p.hpo, "label": p.label} for p in present[:m]])
                   for r, m in enumerate(matching, 1)]
    return Analysis(profile=Profile(present=present), suggestions=suggestions)


@pytest.mark.parametrize("n, matching, expected", [
    (2, [2], None),  # too few findings
    (5, [2, 5], None),  # the top disease matches too few
    (5, [3, 2], {"indicator": "info"}),
    (8, [6, 1], {"indicator": "warning"}),
    (5, [], None),
])
def test_decision_follows_the_thresholds(n, matching, expected):
    assert decide(analysis(n, matching), CdsThresholds()) == expected


def test_too_few_findings_never_fire():
    quiet = analysis(8, [8])
    quiet.too_few = True
    assert decide(quiet, CdsThresholds(min_phenotypes=1, min_matching=1)) is None


def test_card_shape_links_and_escaping():
    card = render_card({"indicator": "info"}, analysis(4, [3, 2]), "c" * 32, BASE)
    assert card["indicator"] == "info" and len(card["summary"]) <= 140
    assert card["summary"] == "Possible rare disease: Disease [1] (+1 more) — 4 findings match"
    assert "[Disease \\[1\\]](https://www.orpha.net/en/disease/detail/1)" in card["detail"]
    [link] = card["links"]
    assert link == {"label": "Open RaDaR", "url": f"{BASE}/launch", "type": "smart",
                    "appContext": json.dumps({"case": "c" * 32})}
    assert card["source"]["url"] == f"{BASE}/"


def test_long_summary_is_cut_to_140():
    long = analysis(4, [3])
    long.suggestions[0].name = "x" * 300
    assert len(render_card({"indicator": "info"}, long, None, BASE)["summary"]) == 140


def test_markdown_cannot_inject_links():
    assert markdown_text("[a](javascript:x)") == "\\[a\\]\\(javascript:x\\)"


def test_feedback_parsing():
    entries = parse_feedback({"feedback": [
        {"card": "u1", "outcome": "overridden", "overrideReasons": [{"reason": {"code": "not-relevant"}}]},
        {"card": "u2", "outcome": "accepted", "acceptedSuggestions": [{"id": "s"}]}]})
    assert entries[0]["overrideReason"] == {"reason": {"code": "not-relevant"}}
    assert entries[1]["acceptedSuggestions"] == [{"id": "s"}] and entries[1]["overrideReason"] is None
    for bad, reason in [({}, "non-empty list"), ({"feedback": [{"card": "u"}]}, "outcome"),
                        ({"feedback": [{"outcome": "accepted"}]}, "card is required")]:
        with pytest.raises(BadRequest, match=reason):
            parse_feedback(bad)


@pytest.mark.parametrize("body, reason", [
    ([], "JSON object"), ({"hook": "order-sign"}, "patient-view"),
    ({"hook": "patient-view", "hookInstance": "h", "context": {}}, "context.patientId"),
    ({"hook": "patient-view", "hookInstance": "h", "context": {"patientId": "p", "userId": "u"},
      "fhirAuthorization": {"access_token": "t"}}, "fhirServer is required"),
])
def test_request_validation(body, reason):
    with pytest.raises(BadRequest, match=reason):
        parse_request(body)


def test_card_says_which_data_could_not_be_read():
    gaps = ["2 notes could not be read (content not prefetched)", "laboratory results: not available (503)"]
    card = render_card({"indicator": "info"}, analysis(4, [3, 2]), None, BASE, gaps=gaps)
    assert ("Not read, so not screened:\n- 2 notes could not be read (content not prefetched)\n"
            "- laboratory results: not available (503)") in card["detail"]
    assert len(card["summary"]) <= 140
    assert "Not read" not in render_card({"indicator": "info"}, analysis(4, [3]), None, BASE)["detail"]


def test_the_gaps_of_a_prefetch_only_record_reach_the_card():
    from app.fetch.prefetch import record_from_hook

    prefetch = json.loads((FIXTURES / "prefetch-rd-minimal.json").read_text())
    record = record_from_hook({"hook": "patient-view", "hookInstance": "h", "prefetch": prefetch,
                               "context": {"userId": "u", "patientId": "p-1"}}, http=None)
    assert record.gaps()
    detail = render_card({"indicator": "info"}, analysis(4, [3]), None, BASE, gaps=record.gaps())["detail"]
    assert "note content not prefetched" in detail and "reports: not prefetched" in detail


def test_gaps_cannot_inject_markdown():
    card = render_card({"indicator": "info"}, analysis(4, [3]), None, BASE, gaps=["[x](javascript:y) *bold*"])
    assert "\\[x\\](javascript:y) \\*bold\\*" in card["detail"]


def test_code_systems_are_the_apps_own():
    card = render_card({"indicator": "info"}, analysis(4, [3]), None, BASE)
    assert card["source"]["topic"]["system"] == f"{BASE}/cds-services/codes/topic"
    assert {r["system"] for r in card["overrideReasons"]} == {f"{BASE}/cds-services/codes/override"}
    assert "radar.example" not in json.dumps(card)
