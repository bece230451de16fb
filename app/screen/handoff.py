"""From the worklist into the chart: remember who the screen flagged, have RaDaR's analysis
waiting for the most probable of them, and audit the bulk read.

A flag is kept per EHR and patient for ``FLAG_TTL`` (30 days) under a hash of ``iss|patient id``
(store keys never carry a patient id); the chart reads it with :func:`flag_for`. A newer screen
that has the patient and does not flag them removes the old flag. RaDaR is queued through the
chart's own jobs (``app.inference.jobs.submit_for``) with the narrative the chart would write
(``app.pipeline.narrate`` with the deployment's case options), so the case id, a hash of what
the model is asked, is the one the chart looks up when a clinician launches the patient.
"""
from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from itertools import islice

from .. import audit
from ..config import normalize_iss
from ..inference import jobs
from ..pipeline import narrate, signal
from ..store import Store

FLAG_KIND = "screen-flag"
FLAG_TTL = 30 * 24 * 3600
BATCH = 1000  # flags written per round trip to Redis


def flag_key(iss: str, patient: str) -> str:
    """The store key of a patient's flag: a hash of ``iss|patient id``, never the id itself."""
    return hashlib.sha256(jobs.owner(normalize_iss(iss), patient).encode()).hexdigest()[:32]


def remember(store, iss: str, lines: Iterable[dict], *, screened_at: str, group: str | None) -> int:
    """Keep each flagged worklist line's result (probability, signal, screened_at, group) for the chart
    for ``FLAG_TTL``, and delete the old flag of every patient the screen did not flag. Returns how
    many patients are flagged."""
    flagged = 0
    lines = iter(lines)
    while batch := list(islice(lines, BATCH)):
        # A Store over a pipeline queues the writes under the store's own key scheme: one round trip per batch.
        pipe = store.redis.pipeline(transaction=False)
        queued = Store(pipe)
        for line in batch:
            key = flag_key(iss, str(line["patient"]))
            if line.get("flagged"):
                flagged += 1
                queued.set(FLAG_KIND, key, {"probability": line["rare_disease_probability"], "signal": line.get("signal"),
                                            "screened_at": screened_at, "group": group, "case": None}, FLAG_TTL)
            else:
                queued.delete(FLAG_KIND, key)
        pipe.execute()
    return flagged


def flag_for(store, iss: str, patient: str) -> dict | None:
    """The latest screen's flag of ``patient`` at ``iss`` (probability, signal, screened_at, group and
    the RaDaR case id when one was queued), or None when the patient is not flagged."""
    return store.get(FLAG_KIND, flag_key(iss, patient))


def queue_radar(ctx, iss: str, records_and_analyses: Iterable[tuple], n: int) -> int:
    """Queue RaDaR for the ``n`` most probable flagged patients of ``(record, analysis)`` pairs, as the chart
    would (same narrative, same job, same cache, the case owned by ``iss|patient``). Returns how many
    were queued (a case already running or done counts and is not run again). The case is kept as long
    as the flag (``FLAG_TTL``), so the chart can show it on a later day (``app.ui.radar.panel_context``).

    Raises ValueError when RaDaR is not configured (``RADAR_URL``).
    """
    model = ctx.settings.model
    if model is None:
        raise ValueError("RaDaR is not configured (RADAR_URL): nothing can be queued")
    flagged = ((record, analysis) for record, analysis in records_and_analyses
               if signal(analysis, ctx.settings.cds_thresholds))
    top = heapq.nsmallest(max(0, n), flagged, key=lambda pair: (-pair[1].rare_probability, pair[0].patient_id))
    for record, analysis in top:
        narrative = narrate(record, analysis, ctx.case_options)
        profile = analysis.profile
        cid = jobs.submit_for(ctx, narrative.text, owner=jobs.owner(iss, record.patient_id),
                              present=[p.hpo for p in profile.present], absent=[p.hpo for p in profile.absent],
                              ttl=FLAG_TTL)  # kept as long as the flag
        key = flag_key(iss, record.patient_id)
        flag = ctx.store.get(FLAG_KIND, key)
        if flag is not None:
            ctx.store.replace(FLAG_KIND, key, {**flag, "case": cid})
    return len(top)


def audit_screen(store, *, actor: str | None, iss: str, group: str | None, patients: int, flagged: int,
                 since: str | None) -> str:
    """One audit event for a population screen's bulk read: who ran it, at which EHR, which group,
    how many patients were read and flagged, and the ``_since`` of an incremental export. Returns its id."""
    return audit.record_bulk_read(store, actor=actor, iss=iss, group=group, patients=patients, flagged=flagged,
                                  since=since)
