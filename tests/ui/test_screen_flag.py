"""The population screen's flag in the chart: shown for the flagged patient of that EHR only,
escaped, kept on a record reload, gone once a newer screen no longer flags the patient."""
from __future__ import annotations

import re

from app.screen import handoff
from app.ui.chart import screening_flag
from tests.support.stack import new_browser, session_id

PATIENT = "rd-030"


def flag_line(stack, flagged: bool, probability: float = 0.934, signal: str = "warning",
              screened_at: str = "2026-12-03T02:00:00+00:00", iss: str | None = None) -> None:
    line = {"patient": PATIENT, "rare_disease_probability": probability, "flagged": flagged,
            "signal": signal if flagged else None}
    handoff.remember(stack.store, iss or stack.iss("epic"), [line], screened_at=screened_at, group="all")


def screened_line(html: str) -> str | None:
    match = re.search(r'<p class="[^"]*" id="screened" role="note">(.*?)</p>', html, re.S)
    return match.group(1) if match else None


def test_the_chart_says_the_patient_was_flagged_by_the_screen(stack):
    assert screened_line(stack.launch("epic", PATIENT).text) is None
    flag_line(stack, True)
    try:
        browser = new_browser()
        resp = stack.launch("epic", PATIENT, browser=browser)
        assert screened_line(resp.text) == "Flagged by population screening on 2026-12-03 (probability 93%)"
        assert 'class="signal signal-warning" id="screened"' in resp.text
        # Near the signal: just before the suggestions panel.
        assert resp.text.index('id="screened"') < resp.text.index('id="suggestions"')
        # "Reload record" (htmx) renders the record block: the flag is in it too.
        block = browser.get(f"{stack.app_url}/s/{session_id(resp)}/chart", headers={"HX-Request": "true"})
        assert screened_line(block.text) == screened_line(resp.text)
        # Another patient, and the same patient at another EHR, are not flagged.
        assert screened_line(stack.launch("epic", "rd-031").text) is None
        assert screened_line(stack.launch("cerner", PATIENT).text) is None
    finally:
        flag_line(stack, False)
    assert screened_line(stack.launch("epic", PATIENT).text) is None


def test_the_flag_line_is_escaped_and_never_invents_a_date(stack):
    flag_line(stack, True, probability=0.001, signal="<b>", screened_at="<script>alert(1)</script>")
    try:
        html = stack.launch("epic", PATIENT).text
        assert screened_line(html) == "Flagged by population screening on an unknown date (probability &lt;1%)"
        assert "<script>alert(1)" not in html and 'class="signal" id="screened"' in html
    finally:
        flag_line(stack, False)


def test_screening_flag_words():
    assert screening_flag(None) is None
    assert screening_flag({"probability": 0.6149, "signal": "info", "screened_at": "2026-11-30T23:59:00Z"}) == {
        "text": "Flagged by population screening on 2026-11-30 (probability 61%)", "level": "info"}
    assert screening_flag({"probability": 1.0, "signal": None, "screened_at": None})["text"] == (
        "Flagged by population screening on an unknown date (probability >99%)")
