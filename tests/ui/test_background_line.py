"""The chart's suggestions panel names the general-population background P(rare) was judged against."""
from __future__ import annotations

from flask import g
from jinja2_fragments.flask import render_block

from app.ui import chart
from tests.support.analyses import THRESHOLDS, analysis_of, flagged

SITE = "General Hospital 3f2a9c1d0b7e (12,345 records)"


def render(app, analysis, background: str) -> str:
    with app.test_request_context("/"):
        g.sid = "sid-1"
        return render_block("chart.html", "analysis", csrf="t",
                            **chart.analysis_context(analysis, THRESHOLDS, background))


def test_the_panel_says_which_background(app):
    html = render(app, flagged(), SITE)
    assert f'<p class="meta" id="background">Compared with ordinary records: {SITE}</p>' in html


def test_a_bland_record_says_it_too_and_the_name_is_escaped(app):
    html = render(app, analysis_of(0.04, []), "<b>site</b>")
    assert "Compared with ordinary records: &lt;b&gt;site&lt;/b&gt;" in html


def test_without_a_name_the_line_is_left_out(app):
    assert 'id="background"' not in render(app, flagged(), "")
