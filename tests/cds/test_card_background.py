"""The card says, in one short line of its detail, which general-population background P(rare) was judged against."""
from __future__ import annotations

from app.cds.card import render_card
from tests.support.analyses import BASE, analysis

SITE = "General Hospital 3f2a9c1d0b7e (12,345 records)"


def test_the_detail_names_the_background_under_the_probability():
    lines = render_card({"indicator": "info"}, analysis(4, [3]), None, BASE, background=SITE)["detail"].splitlines()
    at = lines.index("Probability of a rare disease given these 4 findings: 62%")
    assert lines[at + 1] == f"Compared with ordinary records: {SITE}."


def test_a_name_cannot_become_markup():
    detail = render_card({"indicator": "info"}, analysis(4, [3]), None, BASE, background="[x](https://evil)")["detail"]
    assert "Compared with ordinary records: \\[x\\](https://evil)." in detail  # no bracket, no link


def test_by_default_the_processs_own_background_is_named():
    from app.pipeline import load_knowledge

    detail = render_card({"indicator": "info"}, analysis(4, [3]), None, BASE)["detail"]
    assert f"Compared with ordinary records: {load_knowledge().ranker.background_name}." in detail
