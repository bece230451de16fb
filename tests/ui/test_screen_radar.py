"""The population screen's RaDaR analysis in the chart on a later day: the narrative the chart writes
today differs from the one the screen sent (de-identified dates are relative to the day), so the
screen's case is shown labelled as such, only to its own EHR and patient, kept as long as the flag,
and Run again runs today's narrative (a real `radar worker`, the vLLM stub over HTTP)."""
from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest

from app.inference import jobs
from app.pipeline import analyse, narrate
from app.screen import handoff
from tests.support.handoff import SCREENED_AT, line, narrative_of, radar_rig, screened, stub_requests, wait_done
from tests.support.stack import new_browser, session_id

# Slow: a real radar worker process and the vLLM stub (make check leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """The sandbox, the app with RaDaR on the stub, a worker (this module's own)."""
    yield from radar_rig(tmp_path_factory)


DAYS = 24 * 3600
LABEL = ("RaDaR analysis from population screening on {day} — the record may have changed since; "
         "Run again for today's record")


def older(rig, pid: str, years: int = 4):
    """(record, analysis) of ``pid`` as a screen would have read it with its notes ``years`` earlier:
    the record the chart reads today writes another narrative."""
    record, _ = screened(rig.ctx, pid)
    notes = [replace(n, date=f"{int(n.date[:4]) - years}{n.date[4:]}" if n.date else n.date) for n in record.notes]
    record = replace(record, notes=notes)
    return record, analyse(record, rig.ctx.knowledge)


def queue_screened(rig, pid: str, *, iss: str | None = None, years: int = 4, screened_at: str = SCREENED_AT) -> str:
    """Flag ``pid`` and queue RaDaR for it as ``radar screen --radar-top`` does; the finished case's id."""
    iss = iss or rig.iss("epic")
    record, analysis = older(rig, pid, years)
    handoff.remember(rig.store, iss, [line(pid, analysis.rare_probability)], screened_at=screened_at, group="all")
    assert handoff.queue_radar(rig.ctx, iss, [(record, analysis)], 1) == 1
    cid = handoff.flag_for(rig.store, iss, pid)["case"]
    assert wait_done(rig.store, cid)["status"] == "done"
    return cid


def label_of(fragment: str) -> str | None:
    match = re.search(r'<p class="meta screened-case" role="note">(.*?)</p>', fragment, re.S)
    return html.unescape(match.group(1)) if match else None


def case_url(rig, page, cid: str) -> str:
    return f"{rig.app_url}/s/{session_id(page)}/radar/{cid}"


def test_the_screens_analysis_of_another_days_narrative_is_shown_labelled(rig):
    pid, iss = "rd-036", rig.iss("epic")
    cid = queue_screened(rig, pid)
    screen_case = rig.store.get("case", cid)
    asked = len(stub_requests(rig))
    browser = new_browser()
    page = browser.get(rig.mint("epic", pid))
    today = narrative_of(page.text)
    # Today's narrative is not the screen's: its own case id, and no case of it yet.
    assert today != screen_case["narrative"]
    assert rig.store.get("case", jobs.case_id(rig.ctx.settings.model, today)) is None
    assert f"/radar/{cid}" in page.text
    fragment = browser.get(case_url(rig, page, cid))
    assert fragment.status_code == 200 and 'data-status="done"' in fragment.text
    assert label_of(fragment.text) == LABEL.format(day="2026-12-03")
    assert 'class="ddx radar-ddx"' in fragment.text and f"/radar/{cid}/rerun" in fragment.text
    assert len(stub_requests(rig)) == asked  # the screen's answer, not asked again
    assert screen_case["owner"] == f"{iss}|{pid}"


def test_run_again_runs_todays_narrative(rig):
    pid, iss = "rd-040", rig.iss("epic")
    cid = queue_screened(rig, pid)
    browser = new_browser()
    page = browser.get(rig.mint("epic", pid))
    today = narrative_of(page.text)
    assert f"/radar/{cid}" in page.text and today != rig.store.get("case", cid)["narrative"]
    csrf = rig.store.get("session", session_id(page))["csrf"]
    again = browser.post(f"{case_url(rig, page, cid)}/rerun", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert again.status_code == 200, again.text
    new = re.search(r'id="case-([0-9a-f]{32})"', again.text).group(1)
    assert new == jobs.case_id(rig.ctx.settings.model, today) != cid
    assert label_of(again.text) is None
    case = wait_done(rig.store, new)
    assert case["status"] == "done" and case["narrative"] == today and case["owner"] == f"{iss}|{pid}"
    assert not case["edited"]
    assert any(today in (m.get("content") or "") for r in stub_requests(rig) for m in r["messages"])
    # A chart case keeps the chart's TTL; the screen's case is left as it was.
    assert 0 < rig.store.ttl("case", new) <= jobs.CASE_TTL
    assert rig.store.get("case", cid)["status"] == "done" and rig.store.get("case", cid)["narrative"] != today
    # The next launch finds today's case itself, unlabelled.
    page = browser.get(rig.mint("epic", pid))
    assert f"/radar/{new}" in page.text and f"/radar/{cid}" not in page.text
    fragment = browser.get(case_url(rig, page, new))
    assert 'data-status="done"' in fragment.text and label_of(fragment.text) is None


def test_a_case_of_another_patient_or_ehr_in_the_flag_is_never_shown(rig):
    pid, epic = "rd-022", rig.iss("epic")
    others = [queue_screened(rig, "rd-025"),  # another patient at this EHR
              queue_screened(rig, pid, iss=rig.iss("cerner"))]  # this patient id at another EHR
    assert rig.store.get("case", others[1])["owner"] == f"{rig.iss('cerner')}|{pid}"
    own = queue_screened(rig, pid, years=8, screened_at="<script>alert(1)</script>")
    key = handoff.flag_key(epic, pid)
    flag = rig.store.get(handoff.FLAG_KIND, key)
    for other in others:
        rig.store.replace(handoff.FLAG_KIND, key, {**flag, "case": other})
        browser = new_browser()
        page = browser.get(rig.mint("epic", pid))
        assert page.status_code == 200 and f"/radar/{other}" not in page.text
        assert 'hx-get="' not in page.text.split('id="radar-case"', 1)[1].split("</div>", 1)[0]
        assert browser.get(case_url(rig, page, other)).status_code == 404
        rerun = browser.post(f"{case_url(rig, page, other)}/rerun",
                             headers={"X-CSRF-Token": rig.store.get("session", session_id(page))["csrf"]})
        assert rerun.status_code == 404
    # The patient's own screened case in the same flag is shown (escaped: no date is invented).
    rig.store.replace(handoff.FLAG_KIND, key, {**flag, "case": own})
    browser = new_browser()
    page = browser.get(rig.mint("epic", pid))
    assert f"/radar/{own}" in page.text
    fragment = browser.get(case_url(rig, page, own)).text
    assert label_of(fragment) == LABEL.format(day="an unknown date") and "<script>alert(1)" not in fragment


def test_a_screened_case_is_kept_as_long_as_the_flag(rig):
    iss = rig.iss("epic")
    cid = queue_screened(rig, "rd-036", years=12)
    assert handoff.FLAG_TTL - 60 < rig.store.ttl(handoff.FLAG_KIND, handoff.flag_key(iss, "rd-036")) <= handoff.FLAG_TTL
    for kind in ("case", "case-reasoning", "case-content"):
        assert handoff.FLAG_TTL - 60 < rig.store.ttl(kind, cid) <= handoff.FLAG_TTL, kind
    # A case the chart ran (kept a day) that the screen then queues is kept as long as the flag from then on.
    record, analysis = older(rig, "rd-025", years=12)
    narrative = narrate(record, analysis, rig.ctx.case_options).text
    chart_cid = jobs.submit(rig.store, rig.ctx.rq, rig.ctx.settings.model, narrative, present=[], absent=[],
                            owner=f"{iss}|rd-025")
    assert wait_done(rig.store, chart_cid)["status"] == "done"
    for kind in ("case", "case-reasoning", "case-content"):
        assert 0 < rig.store.ttl(kind, chart_cid) <= jobs.CASE_TTL, kind
    handoff.remember(rig.store, iss, [line("rd-025", analysis.rare_probability)], screened_at=SCREENED_AT, group="all")
    asked = len(stub_requests(rig))
    assert handoff.queue_radar(rig.ctx, iss, [(record, analysis)], 1) == 1
    assert handoff.flag_for(rig.store, iss, "rd-025")["case"] == chart_cid
    assert len(stub_requests(rig)) == asked  # done already: kept longer, not run again
    for kind in ("case", "case-reasoning", "case-content"):
        assert handoff.FLAG_TTL - 60 < rig.store.ttl(kind, chart_cid) <= handoff.FLAG_TTL, kind
