"""From the population screen into the chart: flags kept per EHR and patient, RaDaR queued through
the chart's own jobs and cache (a real `radar worker`, the vLLM stub over HTTP), the bulk read audited."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from app import audit
from app.screen import handoff
from app.store import connect
from tests.fhir_data import BUNDLES
from tests.support.handoff import SCREENED_AT, line, narrative_of, radar_rig, screened, stub_requests, wait_done
from tests.support.stack import new_browser, session_id

# Slow: a real radar worker process and the vLLM stub (make check leaves it out).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """The sandbox EHR and the app with RaDaR on the stub, and a `radar worker` on the app's Redis."""
    yield from radar_rig(tmp_path_factory)


def test_radar_queued_by_the_screen_is_waiting_in_the_chart(rig):
    pid, iss = "rd-022", rig.iss("epic")
    record, analysis = screened(rig.ctx, pid)
    assert handoff.remember(rig.store, iss, [line(pid, analysis.rare_probability)], screened_at=SCREENED_AT,
                            group="all") == 1
    assert handoff.queue_radar(rig.ctx, iss, [(record, analysis)], 1) == 1
    cid = handoff.flag_for(rig.store, iss, pid)["case"]
    case = wait_done(rig.store, cid)
    assert case["status"] == "done" and case["diagnoses"] and case["owner"] == f"{iss}|{pid}"
    sent = [r for r in stub_requests(rig) if any(case["narrative"] in (m.get("content") or "") for m in r["messages"])]
    assert len(sent) == 1
    before = len(stub_requests(rig))

    browser = new_browser()
    page = browser.get(rig.mint("epic", pid))
    assert page.status_code == 200
    # The chart, reading the same patient over FHIR, writes the very narrative the screen sent:
    # the same case id, so the finished analysis is what the panel loads.
    assert narrative_of(page.text) == case["narrative"]
    assert f"/radar/{cid}" in page.text
    fragment = browser.get(f"{rig.app_url}/s/{session_id(page)}/radar/{cid}")
    assert fragment.status_code == 200 and 'data-status="done"' in fragment.text
    assert len(stub_requests(rig)) == before  # served from the cache: the model was not asked again
    assert 'id="screened"' in page.text and "Flagged by population screening on 2026-12-03" in page.text


def test_queue_radar_takes_the_most_probable_flagged_patients(rig):
    iss = rig.iss("epic")
    pairs = [screened(rig.ctx, pid) for pid in ("rd-040", "rd-015", "rd-025", "rd-036")]
    probability = {r.patient_id: a.rare_probability for r, a in pairs}
    # rd-015 is not flagged (its diagnosis is on its problem list); the other three are, with
    # distinct probabilities: the two most probable of them are queued, the third is not.
    assert probability["rd-015"] < 0.5
    flagged = sorted((p for p in probability if probability[p] >= 0.5), key=probability.get, reverse=True)
    assert len(flagged) == 3 and len({probability[p] for p in flagged}) == 3
    first, second, third = flagged
    handoff.remember(rig.store, iss, [line(p, q, q >= 0.5) for p, q in probability.items()], screened_at=SCREENED_AT,
                     group="rare")
    assert handoff.queue_radar(rig.ctx, iss, iter(pairs), 2) == 2
    owners = {c["owner"] for c in map(lambda k: rig.store.get("case", k.rpartition(":")[2]),
                                      rig.store.redis.scan_iter(match="radar:case:*")) if c}
    assert {f"{iss}|{first}", f"{iss}|{second}"} <= owners
    assert f"{iss}|{third}" not in owners and f"{iss}|rd-015" not in owners
    assert handoff.flag_for(rig.store, iss, first)["case"] and handoff.flag_for(rig.store, iss, third)["case"] is None
    assert handoff.queue_radar(rig.ctx, iss, pairs, 0) == 0
    assert handoff.queue_radar(rig.ctx, iss, pairs[1:2], 5) == 0  # nothing flagged, nothing queued
    off = replace(rig.ctx, settings=replace(rig.ctx.settings, model=None))
    with pytest.raises(ValueError, match="RADAR_URL"):
        handoff.queue_radar(off, iss, pairs, 2)


@pytest.fixture
def store(tmp_path):
    s = connect(None, tmp_path)
    yield s
    s.close()


def test_flags_are_kept_30_days_per_ehr_and_patient(store):
    iss = "https://ehr.example.org/fhir"
    assert handoff.remember(store, iss + "/", iter([line("p1", 0.93), line("p2", 0.61, signal="info"),
                                                    line("p3", 0.02, False)]),
                            screened_at=SCREENED_AT, group="all") == 2
    assert handoff.flag_for(store, iss, "p1") == {"probability": 0.93, "signal": "warning", "screened_at": SCREENED_AT,
                                                  "group": "all", "case": None}
    assert handoff.flag_for(store, iss, "p2")["signal"] == "info"
    assert handoff.flag_for(store, iss, "p3") is None
    assert handoff.flag_for(store, "https://other.example.org/fhir", "p1") is None
    ttl = store.ttl(handoff.FLAG_KIND, handoff.flag_key(iss, "p1"))
    assert 29 * 24 * 3600 < ttl <= 30 * 24 * 3600
    keys = list(store.redis.scan_iter(match="*"))
    assert keys and not any("p1" in k or "p2" in k or "ehr.example" in k for k in keys), keys


def test_a_newer_screen_that_does_not_flag_removes_the_old_flag(store):
    iss = "https://ehr.example.org/fhir"
    handoff.remember(store, iss, [line("p1", 0.93), line("p2", 0.7), line("p3", 0.8)], screened_at=SCREENED_AT,
                     group="all")
    later = "2026-12-04T02:00:00+00:00"
    # An incremental screen: p1 changed and is no longer flagged, p2 is flagged again, p3 was not in it.
    assert handoff.remember(store, iss, [line("p1", 0.1, False), line("p2", 0.75)], screened_at=later,
                            group="all") == 1
    assert handoff.flag_for(store, iss, "p1") is None
    flag = handoff.flag_for(store, iss, "p2")
    assert flag["screened_at"] == later and flag["probability"] == 0.75
    assert handoff.flag_for(store, iss, "p3")["screened_at"] == SCREENED_AT


def test_many_lines_are_written_in_batches(store):
    iss = "https://ehr.example.org/fhir"
    lines = (line(f"p{i}", 0.9, i % 3 == 0) for i in range(2 * handoff.BATCH + 7))
    assert handoff.remember(store, iss, lines, screened_at=SCREENED_AT, group=None) == len(range(0, 2 * handoff.BATCH + 7, 3))
    assert handoff.flag_for(store, iss, f"p{2 * handoff.BATCH + 4}")["group"] is None
    assert handoff.flag_for(store, iss, f"p{2 * handoff.BATCH + 5}") is None


def test_the_bulk_read_is_audited_and_exported(tmp_path, store):
    eid = handoff.audit_screen(store, actor="nightly-screen", iss="https://ehr.example.org/fhir", group="all",
                               patients=1234, flagged=11, since="2026-12-02T02:00:00Z")
    handoff.audit_screen(store, actor=None, iss="https://ehr.example.org/fhir", group=None, patients=5, flagged=0,
                         since=None)
    first, second = audit.events(store)
    assert first["id"] == eid
    assert {k: first[k] for k in ("event", "user", "iss", "group", "patients", "flagged", "since", "patient")} == {
        "event": "bulk-data-read", "user": "nightly-screen", "iss": "https://ehr.example.org/fhir", "group": "all",
        "patients": "1234", "flagged": "11", "since": "2026-12-02T02:00:00Z", "patient": ""}
    assert (second["user"], second["group"], second["since"]) == ("", "", "")
    env = {**os.environ, "RADAR_DATA_DIR": str(tmp_path), "REDIS_URL": "", "RADAR_EHRS": "", "RADAR_URL": ""}
    done = subprocess.run([sys.executable, "-m", "app.cli", "audit", "export"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    exported_events = [json.loads(x) for x in done.stdout.splitlines()]
    assert [e["event"] for e in exported_events] == ["bulk-data-read", "bulk-data-read"]
    assert exported_events[0]["patients"] == "1234" and exported_events[0]["group"] == "all"


def test_the_screen_command_queues_radar_for_the_first_flagged_lines_of_its_worklist(rig, tmp_path):
    from app.screen.run import Options, screen_files

    iss = rig.iss("epic")
    source = tmp_path / "bundles.ndjson"
    source.write_text("".join(json.dumps(BUNDLES[p]) + "\n" for p in ("rd-040", "rd-015", "rd-025", "rd-036")))
    out = tmp_path / "worklist.ndjson"
    summary = screen_files(Options(out=out, master="local[2]", radar_top=2, iss=iss, actor="test", progress=False,
                                   inputs=[str(source)]), rig.ctx.settings, store=rig.store)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    first_two = [line["patient"] for line in lines if line["flagged"]][:2]
    assert summary["radar_queued"] == 2 and len(first_two) == 2
    for pid in first_two:
        assert handoff.flag_for(rig.store, iss, pid)["case"]
    assert all(handoff.flag_for(rig.store, iss, line["patient"]) is None for line in lines if not line["flagged"])
