"""The CDS Hooks door into the pipeline: a verified hook → record → analysis → at most one card.

The record comes from prefetch completed with ``fhirAuthorization`` (``app.fetch.prefetch``), the
analysis from the one middle (``app.pipeline``), and when the card fires RaDaR starts reasoning in
the background, so a launch from the card finds it running or done.

A client may only have the app read from the FHIR servers registered for it
(``app.cds.hook.allowed_servers``): any other ``fhirServer`` is never contacted, so a trusted
client cannot aim the app, and the token it hands over, at an arbitrary URL.
"""
from __future__ import annotations

from datetime import UTC, datetime

from .. import audit
from ..fetch.prefetch import record_from_hook
from ..inference import jobs
from ..pipeline import analyse, narrate
from ..rank.steps import radar_step, strongest_first
from ..services import Services
from .auth import client_of
from .card import decide, render_card
from .hook import allowed_servers, fhir_server_for

CARD_CANDIDATES = 3  # diseases listed on the card; the app shows the full ranking
FEEDBACK = "cds-feedback"
READ_TYPES = ["Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport"]


def screen(ctx: Services, hook: dict, claims: dict, base_url: str) -> list[dict]:
    """The cards for a validated patient-view request from an authenticated client (none, or one)."""
    server = fhir_server_for(hook, allowed_servers(client_of(claims, ctx.settings.cds_clients), ctx.settings))
    record = record_from_hook(hook, ctx.http, server_allowed=server is not None)
    analysis = analyse(record, ctx.knowledge, top=CARD_CANDIDATES)
    # The authenticated client is who read; a fhirServer is named only when it was one it may name.
    detail = {"hook": "patient-view", "client": claims["iss"]}
    if server:
        detail["fhirServer"] = server
    elif hook.get("fhirServer"):
        detail["fhirServer_refused"] = True
    audit.record_read(ctx.store, user=hook["context"].get("userId"), iss=claims["iss"],
                      patient=hook["context"]["patientId"], resource_types=READ_TYPES, outcome="cds", detail=detail)
    decision = decide(analysis, ctx.settings.cds_thresholds)
    if decision is None:
        return []
    case_id = None
    if ctx.settings.model is not None:
        # The narrative only when a card fires: most calls end above with no card.
        narrative = narrate(record, analysis, ctx.case_options)
        # The case belongs to the patient of a server this client may speak for, never to one it merely named.
        owner = jobs.owner(server or claims["iss"], hook["context"]["patientId"])
        profile = analysis.profile
        case_id = jobs.submit_for(ctx, narrative.text, owner=owner, present=[p.hpo for p in profile.present],
                                  absent=[p.hpo for p in profile.absent])
        decision = with_radar(ctx, case_id, analysis) or decision
    # Without both, record_from_hook made the record from the prefetch alone: the chart may read more.
    prefetch_only = not (server and hook.get("fhirAuthorization"))
    return [render_card(decision, analysis, case_id, base_url, gaps=record.gaps(),
                        background=ctx.knowledge.ranker.background_name, prefetch_only=prefetch_only)]


def with_radar(ctx: Services, case_id: str, analysis) -> dict | None:
    """The decision again when RaDaR has already answered this case (an earlier chart open or hook) and
    names one of the candidates: that agreement is a next step (``app.rank.steps.radar_step``), which
    may make the card a warning. None when RaDaR has not answered or names none of them."""
    case = ctx.store.get("case", case_id) or {}
    step = radar_step(case.get("diagnoses") or [], analysis.suggestions) if case.get("status") == "done" else None
    if step is None:
        return None
    analysis.steps = strongest_first([*analysis.steps, step])
    return decide(analysis, ctx.settings.cds_thresholds)


def store_feedback(ctx: Services, service_id: str, client: str, entries: list[dict]) -> None:
    """Keep validated feedback entries until ``radar feedback export`` writes them out."""
    received = datetime.now(UTC).isoformat(timespec="seconds")
    for entry in entries:
        ctx.store.push(FEEDBACK, {**entry, "service": service_id, "client": client, "received": received})


def export_feedback(store) -> list[dict]:
    """All stored feedback, oldest first."""
    return store.items(FEEDBACK)
