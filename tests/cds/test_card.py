"""The card decision, the card and the feedback parser as pure functions over plain data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cds.card import decide, markdown_text, render_card
from app.cds.hook import BadRequest, parse_feedback, parse_request
from app.config.cds import CdsThresholds
from app.pipeline import signal
from app.present import percent
from tests.support.analyses import BASE, analysis

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("rare, expected", [
    (0.04, None),  # the population base rate: a bland record
    (0.4999, None),
    (0.5, {"indicator": "info"}),  # at the minimum: a card
    (0.62, {"indicator": "info"}),
    (0.8999, {"indicator": "info"}),
    (0.9, {"indicator": "warning"}),  # at the warning threshold: a warning
    (0.999, {"indicator": "warning"}),
    (None, None),  # not assessed
])
def test_decision_follows_the_probability_thresholds(rare, expected):
    assert decide(analysis(5, [3, 2], rare=rare), CdsThresholds()) == expected


def test_decision_is_the_shared_signal():
    for rare in (0.1, 0.5, 0.7, 0.95):
        a = analysis(5, [3], rare=rare)
        indicator = signal(a, CdsThresholds())
        assert decide(a, CdsThresholds()) == (None if indicator is None else {"indicator": indicator})


def test_matching_counts_no_longer_decide():
    # Many findings matching the top disease, but P(rare) at the base rate: no card; one match at 0.95: a warning.
    assert decide(analysis(12, [12, 10], rare=0.04), CdsThresholds()) is None
    assert decide(analysis(3, [1], rare=0.95), CdsThresholds()) == {"indicator": "warning"}


@pytest.mark.parametrize("rare, expected", [(0.2, None), (0.3, {"indicator": "info"}), (0.6, {"indicator": "info"}),
                                            (0.7, {"indicator": "warning"})])
def test_custom_thresholds(rare, expected):
    thresholds = CdsThresholds(min_probability=0.3, warning_probability=0.7)
    assert decide(analysis(5, [3, 2], rare=rare), thresholds) == expected


def test_too_few_findings_never_fire():
    quiet = analysis(8, [8], rare=0.99)
    quiet.too_few = True
    assert decide(quiet, CdsThresholds(min_probability=0.01, warning_probability=0.01)) is None


def test_no_suggestion_no_card():
    assert decide(analysis(5, [], rare=0.99), CdsThresholds()) is None


@pytest.mark.parametrize("p, text", [(0.0, "<1%"), (0.0004, "<1%"), (0.0049, "<1%"), (0.005, "1%"), (0.314, "31%"),
                                     (0.625, "63%"), (0.99, "99%"), (0.995, ">99%"), (1.0, ">99%")])
def test_percent(p, text):
    assert percent(p) == text


def test_card_shape_links_and_escaping():
    a = analysis(4, [3, 2, 1], rare=0.62, probabilities=[0.31, 0.12, 0.004])
    card = render_card({"indicator": "info"}, a, "c" * 32, BASE)
    assert card["indicator"] == "info" and len(card["summary"]) <= 140
    assert card["summary"] == "Rare-disease pattern (62%): Disease [1] 31% (+2 more)"
    assert "[Disease \\[1\\]](https://www.orpha.net/en/disease/detail/1)" in card["detail"]
    [link] = card["links"]
    assert link == {"label": "Open RaDaR", "url": f"{BASE}/launch", "type": "smart",
                    "appContext": json.dumps({"case": "c" * 32})}
    assert card["source"]["url"] == f"{BASE}/"


def test_card_states_the_probabilities():
    a = analysis(4, [3, 2, 1], rare=0.62, probabilities=[0.31, 0.12, 0.004])
    detail = render_card({"indicator": "info"}, a, None, BASE)["detail"]
    lines = detail.splitlines()
    assert lines[0] == "Phenotype match (HPO/Orphanet), from 4 findings in the record (problems, labs, notes)."
    assert "Probability of a rare disease given these 4 findings: 62%" in lines
    assert ("1. [Disease \\[1\\]](https://www.orpha.net/en/disease/detail/1) — 31% — "
            "matches: finding 0, finding 1, finding 2") in lines
    assert "2. [Disease \\[2\\]](https://www.orpha.net/en/disease/detail/2) — 12% — matches: finding 0, finding 1" in lines
    assert "3. [Disease \\[3\\]](https://www.orpha.net/en/disease/detail/3) — <1% — matches: finding 0" in lines


def test_card_names_the_findings_the_probability_weighs():
    a = analysis(6, [3], rare=0.7, probabilities=[0.4])
    a.findings = 4  # two were broader terms of others
    detail = render_card({"indicator": "info"}, a, None, BASE)["detail"]
    assert "from 6 findings in the record (problems, labs, notes); the probability weighs the 4 most specific." in detail
    assert "Probability of a rare disease given these 4 findings: 70%" in detail


def test_single_candidate_summary():
    card = render_card({"indicator": "warning"}, analysis(4, [3], rare=0.995, probabilities=[0.9]), None, BASE)
    assert card["summary"] == "Rare-disease pattern (>99%): Disease [1] 90%" and card["indicator"] == "warning"


def test_long_summary_is_cut_to_140_and_keeps_the_probabilities():
    long = analysis(4, [3, 1], rare=0.62, probabilities=[0.31, 0.1])
    long.suggestions[0].name = "x" * 300
    summary = render_card({"indicator": "info"}, long, None, BASE)["summary"]
    assert len(summary) == 140
    assert summary.startswith("Rare-disease pattern (62%): xxx") and summary.endswith("x… 31% (+1 more)")


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


def test_a_prefetch_only_card_with_gaps_says_the_chart_has_more_and_labels_its_probability():
    gaps = ["3 notes could not be read (note content not prefetched)"]
    a = analysis(4, [3, 2], rare=0.62, probabilities=[0.31, 0.12])
    card = render_card({"indicator": "info"}, a, None, BASE, gaps=gaps, prefetch_only=True)
    assert card["summary"] == "Rare-disease pattern (62%, prefetched data only): Disease [1] 31% (+1 more)"
    assert ("Probability of a rare disease given these 4 findings, from the prefetched data only "
            "(not the chart's): 62%") in card["detail"].splitlines()
    assert "The chart has more: RaDaR reads the whole record there" in card["detail"]
    [link] = card["links"]
    assert link["label"] == "Open the chart in RaDaR (the whole record)" and link["type"] == "smart"
    # Nothing missing, or read with fhirAuthorization: the card is the chart's.
    for plain in (render_card({"indicator": "info"}, a, None, BASE, prefetch_only=True),
                  render_card({"indicator": "info"}, a, None, BASE, gaps=gaps)):
        assert plain["summary"].startswith("Rare-disease pattern (62%): ") and "chart has more" not in plain["detail"]
        assert plain["links"][0]["label"] == "Open RaDaR"
