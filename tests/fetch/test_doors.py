"""One patient through every door — the chart's FHIR fetch over HTTP, CDS Hooks prefetch (completed
with ``fhirAuthorization``), a Bundle file — gives one record, one profile and one ranking."""
from __future__ import annotations

import pytest

from app.cds.hook import parse_request
from app.fetch.fhir import FhirClient, fetch_record
from app.fetch.files import record_from_bundle
from app.fetch.prefetch import record_from_hook
from app.pipeline import analyse
from app.smart.sessions import SessionTokens
from tests.fhir_data import BUNDLES, prefetch_for
from tests.support.stack import session_id

# Slow: its own stack, each patient read through three doors (make check leaves it out).
pytestmark = pytest.mark.slow


def doors(stack, pid: str, **prefetch_options):
    """The record of ``pid`` through the chart's fetch, CDS prefetch and the Bundle file."""
    sid = session_id(stack.launch("epic", pid))
    ctx = stack.app.extensions["radar"]
    client = FhirClient(ctx.http, stack.iss("epic"), SessionTokens(ctx.store, ctx.http, ctx.settings, sid), timeout=3)
    hook = parse_request({
        "hook": "patient-view", "hookInstance": "h-1", "context": {"userId": "Practitioner/1", "patientId": pid},
        "prefetch": prefetch_for(pid, **prefetch_options), "fhirServer": stack.iss("epic"),
        "fhirAuthorization": {"access_token": ctx.store.get("session", sid)["access_token"], "token_type": "Bearer",
                              "expires_in": 300, "scope": "patient/*.read", "subject": "radar"}})
    return {"chart": fetch_record(client, pid), "cds": record_from_hook(hook, ctx.http),
            "file": record_from_bundle(BUNDLES[pid])}


@pytest.mark.parametrize("pid", ["rd-008", "rd-012"])
@pytest.mark.parametrize("options", [{"reports": True, "inline_notes": False}, {"reports": True}, {}],
                         ids=["binary-notes", "inline-notes", "reports-fetched"])
def test_three_doors_give_one_record_profile_and_ranking(stack, pid, options):
    records = doors(stack, pid, **options)
    chart = records["chart"]
    assert chart.notes and any(n.kind == "report" for n in chart.notes) and all(n.text for n in chart.notes)
    # Epic adds an OperationOutcome to every search; it is the server's message, not the patient's data.
    assert set(chart.warnings) == {"warning: This response may not contain the entire record."}
    content = {k: v for k, v in chart.to_dict().items() if k != "warnings"}
    for door in ("cds", "file"):
        assert set(records[door].warnings) <= set(chart.warnings), door  # only what the EHR itself said
        assert {k: v for k, v in records[door].to_dict().items() if k != "warnings"} == content, door
    kb = stack.app.extensions["radar"].knowledge
    analyses = {door: analyse(record, kb) for door, record in records.items()}
    profile = analyses["chart"].profile.to_dict()
    ranking = [(s.name, s.score) for s in analyses["chart"].suggestions]
    assert ranking
    for door, analysis in analyses.items():
        assert analysis.profile.to_dict() == profile, door
        assert [(s.name, s.score) for s in analysis.suggestions] == ranking, door
