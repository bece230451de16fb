"""The suggestions panel in words and pictures: P(rare) as a sentence, probabilities in plain words,
per-finding likelihood-ratio bars as server-side SVG, and a quiet panel for a bland record.

Pure helpers with plain data, then the chart's analysis block rendered in-process (no EHR, no
knowledge base) from a fabricated Analysis.
"""
from __future__ import annotations

import re

import pytest
from flask import g
from jinja2_fragments.flask import render_block

from app.config.cds import CdsThresholds
from app.pipeline import Analysis
from app.present import percent
from app.ui import chart, signal
from app.ui.signal import HALF, LABEL_W, bar_rows, finding_anchor, lr_text, odds_phrase
from tests.support.analyses import EVIDENCE, THRESHOLDS, analysis_of, flagged, suggestion

ZERO = LABEL_W + HALF


# -- words ---------------------------------------------------------------------------------


@pytest.mark.parametrize("p, words", [
    (0.125, "about 1 in 8"), (0.2, "about 1 in 5"), (0.1, "about 1 in 10"), (0.05, "about 1 in 20"),
    (0.043, "about 1 in 25"), (0.0123, "about 1 in 80"), (0.004, "about 1 in 250"), (0.0023, "about 1 in 450"),
    (0.00101, "about 1 in 1,000"), (0.001, "about 1 in 1,000"), (0.0009, "less than 1 in 1,000"),
    (0.0, "less than 1 in 1,000"), (0.25, "about 3 in 10"), (0.62, "about 6 in 10"), (0.949, "about 9 in 10"),
    (0.95, "about 19 in 20"), (0.97, "about 19 in 20"), (0.999, "more than 99 in 100"), (1.0, "more than 99 in 100"),
])
def test_odds_phrase_uses_friendly_numbers(p, words):
    assert odds_phrase(p, 14) == f"{words} given these 14 findings"


def test_odds_phrase_never_says_one_in_one_and_counts_findings():
    for i in range(1, 1000):
        p = i / 1000
        assert "1 in 1 " not in odds_phrase(p, 3) and "1 in 0" not in odds_phrase(p, 3), p
    assert odds_phrase(0.3, 1) == "about 3 in 10 given this one finding"
    assert odds_phrase(float("nan"), 2) == "less than 1 in 1,000 given these 2 findings"
    assert odds_phrase(1.7, 2).startswith("more than 99 in 100")


@pytest.mark.parametrize("p, text", [(0.0, "<1%"), (0.004, "<1%"), (0.005, "1%"), (0.12, "12%"), (0.62, "62%"),
                                     (0.994, "99%"), (0.996, ">99%"), (1.0, ">99%"), (None, "<1%")])
def test_percent(p, text):
    assert percent(p) == text


def test_lr_text():
    assert lr_text(0.11) == "×1.3"
    assert lr_text(1.57) == "×37"
    assert lr_text(3.2) == "×1,585"
    assert lr_text(-0.6) == "×0.25"
    assert lr_text(-4) == "×<0.001"
    assert lr_text(0.005) == lr_text(-0.01) == "×1.0"
    assert lr_text(0.0213) == "×1.05" and lr_text(-0.0213) == "×0.95"  # a real effect never reads ×1.0


# -- pictures ------------------------------------------------------------------------------


def test_bar_geometry_direction_and_clipping():
    evidence = [{"hpo": "HP:0000001", "label": "Lowers", "log10_lr": -0.5},
                {"hpo": "HP:0000002", "label": "Raises a lot", "log10_lr": 3.0},
                {"hpo": "HP:0000003", "label": "Raises", "log10_lr": 1.0},
                {"hpo": "HP:0000004", "label": "Nothing", "log10_lr": 0.001}]
    bars = bar_rows(evidence, listed={"HP:0000002", "HP:0000001"})
    assert [b.label for b in bars] == ["Raises a lot", "Raises", "Nothing", "Lowers"]  # strongest raise first
    big, raises, nothing, lowers = bars
    assert big.direction == "raises" and big.x == ZERO and big.width == HALF  # clipped at +2
    assert raises.x == ZERO and raises.width == HALF / 2
    assert lowers.direction == "lowers" and lowers.width == HALF / 4 and lowers.x == ZERO - HALF / 4
    assert nothing.direction == "neutral" and nothing.width == 0
    assert [b.y for b in bars] == sorted(b.y for b in bars) and len({b.y for b in bars}) == 4
    assert big.href == "#finding-HP-0000002" and raises.href is None  # only findings listed in the profile link
    assert raises.text == "Raises: raises it, LR ×10" and lowers.text == "Lowers: lowers it, LR ×0.32"
    assert nothing.text == "Nothing: hardly changes it, LR ×1.0"


def test_bar_geometry_survives_odd_data():
    bars = bar_rows([{"hpo": "HP:1", "label": "x" * 80, "log10_lr": float("nan")},
                     {"hpo": "HP:2", "label": "tiny", "log10_lr": -0.022}])
    assert bars[0].direction == "neutral" and bars[0].short.endswith("…") and len(bars[0].short) <= 30
    assert bars[0].label == "x" * 80
    assert bars[1].direction == "lowers" and bars[1].width >= 1  # a real effect is never invisible
    assert finding_anchor("HP:0001166") == "finding-HP-0001166"
    assert finding_anchor('HP:1"><x') == "finding-HP-1---x"


# -- the panel, rendered -------------------------------------------------------------------


def render(app, analysis: Analysis, thresholds=THRESHOLDS) -> str:
    with app.test_request_context("/"):
        g.sid = "sid-1"
        return render_block("chart.html", "analysis", csrf="t", **chart.analysis_context(analysis, thresholds))


def test_flagged_panel_says_p_rare_and_each_probability(app):
    html = render(app, flagged())
    assert "Phenotype match (HPO/Orphanet)" in html
    assert "Rare-disease pattern: probability 62% given these 14 findings" in html
    assert "<details class=\"ranked-anyway\"" not in html  # flagged: the list is shown as before
    assert re.findall(r'<span class="prob"[^>]*>([^<]+)</span>', html) == ["12%", "&lt;1%", "5%", "2%"]
    assert "about 1 in 8 given these 14 findings" in html and "less than 1 in 1,000 given these 14 findings" in html
    assert 'class="score"' not in html and "0.81" not in html and "1.00" not in html  # score is no longer shown


def test_flagged_panel_draws_one_bar_per_finding_linked_to_its_profile_row(app):
    html = render(app, flagged())
    charts = re.findall(r"<svg class=\"lr-chart\".*?</svg>", html, re.S)
    assert len(charts) == 3  # the suggestions that carry evidence
    assert [len(re.findall(r'<rect class="lr-bar ', c)) for c in charts] == [3, 2, 2]
    first = charts[0]
    assert re.findall(r'class="lr-bar (\w+)"', first) == ["raises", "raises", "lowers"]
    assert "<title>Ectopia lentis: raises it, LR ×1.3</title>" in first
    assert 'aria-label="Arachnodactyly: raises it, LR ×25"' in first
    for hpo in ("HP:0001083", "HP:0001166", "HP:0002616"):
        anchor = finding_anchor(hpo)
        assert f'<a href="#{anchor}"' in first
        assert re.search(rf'<li class="phenotype present" data-hpo="{hpo}" id="{anchor}">', html)
    assert len(re.findall(r'<details class="why" open>', html)) == 1  # the top suggestion's bars are open
    assert "<summary>How each of the 3 findings weighs</summary>" in html


def test_many_findings_keep_the_list_in_view():
    many = [{"hpo": f"HP:{i:07d}", "label": f"Finding {i}", "log10_lr": 0.1} for i in range(signal.OPEN_MAX + 1)]
    rows = signal.panel(analysis_of(0.9, [suggestion(1, "Marfan syndrome", 0.5, 1.0, many)]), THRESHOLDS).rows
    assert rows[0].chart and len(rows[0].chart.bars) == signal.OPEN_MAX + 1 and not rows[0].open


def test_labels_are_escaped_everywhere(app):
    html = render(app, flagged())
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; root dilatation: lowers it, LR ×0.5" in html


def test_low_probability_says_so_and_keeps_the_list_on_request(app):
    bland = analysis_of(0.043, [suggestion(1, "Marfan syndrome", 0.004, 1.0, EVIDENCE),
                                suggestion(2, "Homocystinuria", 0.002, 0.9)])
    html = render(app, bland)
    assert "No rare-disease pattern in this record (probability 4%, about the base rate)" in html
    assert "Rare-disease pattern: probability" not in html
    details = re.search(r'<details class="ranked-anyway">(.*?)</details>\s*</section>', html, re.S)
    assert details and "<summary>Show the ranked list anyway</summary>" in details.group(1)
    assert 'class="ddx"' in details.group(1) and "Marfan syndrome" in details.group(1)
    assert "<details class=\"ranked-anyway\" open" not in html and "<script>" not in html


def test_below_threshold_but_above_base_rate_names_the_threshold(app):
    html = render(app, analysis_of(0.3, [suggestion(1, "Marfan syndrome", 0.2, 1.0)]))
    assert "No rare-disease pattern in this record (probability 30%, below the 50% flag threshold)" in html
    assert "ranked-anyway" in html


def test_known_disease_explains_the_findings(app):
    known = analysis_of(0.03, [suggestion(1, "Homocystinuria", 0.01, 1.0)], known_probability=0.91)
    known.profile.known_diseases = [{"orpha": "558", "omim": None, "name": "Marfan syndrome"}]
    html = render(app, known)
    assert "Already on the problem list" in html
    assert ("No further rare-disease pattern in this record (probability 3%, about the base rate): the findings fit "
            "the rare disease already on the problem list (91%)") in html


def test_warning_level_and_thresholds_come_from_settings(app):
    # The top candidate is at 12%: a warning only where the settings call that actionable (issue 22, item 3).
    html = render(app, analysis_of(0.95, flagged().suggestions), CdsThresholds(warning_candidate=0.1))
    assert 'class="signal signal-warning"' in html and "probability 95%" in html
    assert 'class="signal signal-info"' in render(app, analysis_of(0.95, flagged().suggestions))
    stricter = render(app, flagged(), CdsThresholds(min_probability=0.7, warning_probability=0.9))
    assert "below the 70% flag threshold" in stricter and "ranked-anyway" in stricter


def test_too_few_and_no_match_keep_todays_messages(app):
    few = render(app, analysis_of(0.04, [], too_few=True))
    assert 'id="too-few"' in few and "Too few phenotypes to rank" in few and 'class="signal' not in few
    none = render(app, analysis_of(0.04, []))
    assert "No matching rare disease." in none and 'class="ddx"' not in none


def test_panel_state_without_p_rare_shows_the_list():
    p = signal.panel(analysis_of(None, flagged().suggestions), THRESHOLDS)
    assert p.state == "unassessed" and not p.headline and len(p.rows) == 4


# -- against the population, and against the next candidate (issue 22) ---------------------------


def test_a_finding_the_disease_is_known_not_to_have_says_so():
    bars = bar_rows([{"hpo": "HP:0001249", "label": "Intellectual disability", "log10_lr": -3.0, "excluded": True},
                     {"hpo": "HP:0003236", "label": "High CK", "log10_lr": 1.2, "excluded": False}])
    assert [b.direction for b in bars] == ["raises", "lowers"]
    assert bars[1].text == "Intellectual disability: known not to occur with it, lowers it, LR ×0.001"
    assert bars[0].text == "High CK: raises it, LR ×16"


def contrasted():
    a = flagged()
    a.suggestions[0].contrast = {"name": "Loeys-Dietz syndrome", "orpha": "ORPHA:60030", "omim": [],
                                 "findings": [{"hpo": "HP:0001083", "label": "Ectopia lentis", "log10_lr": 2.5},
                                              {"hpo": "HP:0002616", "label": "Aortic root", "log10_lr": -0.4}]}
    a.suggestions[1].contrast = {"name": "Marfan syndrome", "orpha": "ORPHA:558", "omim": [], "findings": []}
    return a


def test_the_panel_says_the_bars_are_against_the_population_and_what_tells_it_apart(app):
    html = render(app, contrasted())
    assert html.count("against the general population") == 3  # one caption per chart of bars
    assert "<summary>What tells it apart from Loeys-Dietz syndrome</summary>" in html
    apart = re.findall(r'<svg class="lr-chart lr-apart".*?</svg>', html, re.S)
    assert len(apart) == 1
    assert re.findall(r'class="lr-bar (\w+)"', apart[0]) == ["raises", "lowers"]
    assert "Ectopia lentis: favours it over Loeys-Dietz syndrome, LR ×316" in apart[0]
    assert "Aortic root: favours Loeys-Dietz syndrome, LR ×0.4" in apart[0]
    assert ">favours Loeys-Dietz syndrome<" not in apart[0]  # the axis words stay short: the summary names it
    # Nothing tells the second apart from the first: said in words, no empty chart.
    assert "<summary>What tells it apart from Marfan syndrome</summary>" in html
    assert "None of the findings tells it apart from Marfan syndrome" in html


def test_a_flagged_panel_lists_the_next_steps_escaped_and_a_step_can_make_the_warning(app):
    from app.rank.steps import Step

    a = analysis_of(0.95, flagged().suggestions)  # top candidate 12%: no warning by itself
    assert 'class="signal signal-info"' in render(app, a) and 'id="next-steps"' not in render(app, a)
    a.steps = [Step("test", "Test for <b>high CK</b> (a laboratory result shows it)", 0.25, ("A", "B")),
               Step("candidate", "Consider Marfan syndrome", 0.12, ("Marfan syndrome",))]
    html = render(app, a)
    assert 'class="signal signal-warning"' in html  # the test step (25%) is something to do
    steps = re.search(r'<details class="next-steps" id="next-steps">(.*?)</details>', html, re.S).group(1)
    # Closed, one line: how many, then the strongest with its probability first (a long text is cut, never
    # the number); the list inside.
    assert re.search(r'<summary title="Test for &lt;b&gt;high CK&lt;/b&gt; \(a laboratory result shows it\)">Next steps '
                     r'\(2\) · <span class="pct">25%</span>: Test for &lt;b&gt;high CK&lt;/b&gt; \(a laboratory result '
                     r'shows it\)</summary>', steps)
    assert re.findall(r"<li>(.*?) <span class=\"pct\">([^<]+)</span></li>", steps) == [
        ("Test for &lt;b&gt;high CK&lt;/b&gt; (a laboratory result shows it)", "25%"),
        ("Consider Marfan syndrome", "12%")]
    assert "<b>" not in html
