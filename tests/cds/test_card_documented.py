"""The card of a patient whose problem list already names a rare diagnosis: it fires only when the
findings that diagnosis leaves unexplained call for another, and says what it explains and what not."""
from __future__ import annotations

import pytest

from app.cds.card import decide, render_card
from app.config.cds import CdsThresholds
from app.pipeline import load_knowledge
from tests.support.documented import MARFAN, NOT_MARFAN, analysed


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def test_no_card_when_the_documented_diagnosis_explains_the_findings(kb):
    assert decide(analysed(kb, MARFAN), CdsThresholds()) is None


def test_the_card_names_what_the_documented_diagnosis_explains_and_what_it_does_not(kb):
    a = analysed(kb, MARFAN + NOT_MARFAN)
    decision = decide(a, CdsThresholds())
    assert decision is not None
    detail = render_card(decision, a, None, "https://radar.example", background="shipped default")["detail"]
    first = detail.splitlines()[0]
    assert first.startswith("Documented diagnosis Marfan syndrome explains Arachnodactyly, Ectopia lentis")
    assert "; not explained: Hypsarrhythmia, Global developmental delay" in first
    assert "another rare disease" in detail.splitlines()[1]


def test_the_summary_says_the_pattern_is_of_another_rare_disease(kb):
    a = analysed(kb, MARFAN + NOT_MARFAN)
    card = render_card(decide(a, CdsThresholds()), a, None, "https://radar.example", background="shipped default")
    assert card["summary"].startswith("Another rare-disease pattern (") and len(card["summary"]) <= 140
