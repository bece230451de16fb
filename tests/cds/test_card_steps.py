"""The card's next steps (issue 22, item 3): listed on the card, escaped; a test or referral strong
enough makes a warning; RaDaR's finished answer naming a candidate is a step (real embedded Redis)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.cds.card import decide, render_card
from app.cds.service import with_radar
from app.config.cds import CdsThresholds
from app.rank.steps import Step
from app.store import connect
from tests.support.analyses import BASE, analysis


def unactionable():
    """P(rare) 95 % over candidates none of which reaches 0.2: an info card by itself."""
    return analysis(5, [3, 2, 1], rare=0.95, probabilities=[0.12, 0.11, 0.09])


def test_the_card_lists_the_next_steps_with_their_probability_escaped():
    a = unactionable()
    a.steps = [Step("test", "Test for [x](http://evil.example) *now*", 0.32, ("Disease [1]", "Disease [2]")),
               Step("candidate", "Consider Disease [1]", 0.12, ("Disease [1]",))]
    lines = render_card({"indicator": "warning"}, a, None, BASE)["detail"].splitlines()
    i = lines.index("Next steps (with the probability of the candidates each addresses):")
    assert lines[i + 1] == "- Test for \\[x\\]\\(http://evil.example\\) \\*now\\* (32%)"
    assert lines[i + 2] == "- Consider Disease \\[1\\] (12%)"


def test_a_card_without_steps_lists_none():
    assert "Next steps" not in render_card({"indicator": "info"}, unactionable(), None, BASE)["detail"]


def test_a_strong_enough_step_turns_the_info_card_into_a_warning():
    a = unactionable()
    assert decide(a, CdsThresholds()) == {"indicator": "info"}
    a.steps = [Step("referral", "Refer to a specialist in rare renal disease", 0.23, ("Disease [1]", "Disease [2]"))]
    assert decide(a, CdsThresholds()) == {"indicator": "warning"}
    assert decide(a, CdsThresholds(warning_step=0.25)) == {"indicator": "info"}


@pytest.fixture
def ctx(tmp_path):
    store = connect(None, tmp_path)  # the embedded real Redis
    yield SimpleNamespace(store=store, settings=SimpleNamespace(cds_thresholds=CdsThresholds()))
    store.close()


def test_radar_having_answered_with_candidates_makes_the_card_a_warning(ctx):
    a = unactionable()
    ctx.store.set("case", "c1", {"status": "done", "diagnoses": [{"orpha": "ORPHA:2", "name": "Disease 2"},
                                                                  {"orpha": "ORPHA:1", "name": "Disease 1"}]}, 60)
    assert with_radar(ctx, "c1", a) == {"indicator": "warning"}  # 12 % + 11 % agreed: 23 %
    radar = next(s for s in a.steps if s.kind == "radar")
    assert radar.diseases == ("Disease [1]", "Disease [2]") and radar.probability == pytest.approx(0.23)


@pytest.mark.parametrize("case", [
    None,  # not submitted
    {"status": "running", "diagnoses": []},  # queued or running: nothing to act on yet
    {"status": "done", "diagnoses": [{"orpha": "ORPHA:99", "name": "another"}]},  # names none of the candidates
])
def test_radar_not_answered_or_disagreeing_changes_nothing(ctx, case):
    a = unactionable()
    if case is not None:
        ctx.store.set("case", "c2", case, 60)
    assert with_radar(ctx, "c2", a) is None and not [s for s in a.steps if s.kind == "radar"]
