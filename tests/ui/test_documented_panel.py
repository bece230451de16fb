"""The chart's suggestions panel for a patient whose problem list already names a rare diagnosis: it
says first what that diagnosis explains and what it does not, and speaks of another rare disease only
when the unexplained findings call for it (real knowledge: Marfan syndrome, ORPHA:558)."""
from __future__ import annotations

import re

import pytest
from flask import g
from jinja2_fragments.flask import render_block

from app.config.cds import CdsThresholds
from app.pipeline import load_knowledge
from app.ui import chart
from tests.support.documented import MARFAN, NOT_MARFAN, analysed


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def render(app, kb, terms) -> str:
    a = analysed(kb, terms)
    with app.test_request_context("/"):
        g.sid = "sid-1"
        return render_block("chart.html", "analysis", csrf="t", **chart.analysis_context(a, CdsThresholds()))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_a_documented_diagnosis_that_explains_everything_comes_first_and_nothing_else_is_raised(app, kb):
    html = render(app, kb, MARFAN)
    words = text(html)
    assert "Documented diagnosis Marfan syndrome explains all 4 findings" in words
    assert words.index("Documented diagnosis") < words.index("Phenotype profile")
    assert "Rare-disease pattern" not in words and "No matching rare disease" not in words
    assert 'class="signal signal-warning"' not in html and 'class="signal signal-info"' not in html


def test_findings_it_does_not_explain_are_named_and_another_rare_disease_is_raised(app, kb):
    words = text(render(app, kb, MARFAN + NOT_MARFAN))
    assert ("Documented diagnosis Marfan syndrome explains 4 of 7 findings: Arachnodactyly, Ectopia lentis, "
            "Aortic root aneurysm, Pectus carinatum. Not explained: Hypsarrhythmia, Global developmental delay, "
            "Abnormality of extrapyramidal motor function") in words
    assert "Another rare-disease pattern beside Marfan syndrome: probability" in words
    assert "given these 3 findings it does not explain" in words
