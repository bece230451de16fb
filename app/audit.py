"""The audit trail: one structured event per read of patient data, in a dedicated Redis stream.

This is deliberate, access-controlled PHI (who read whose record) and is kept apart from the
application log, which never carries names, notes or values. Each event is written durably: the
call returns once Redis has fsynced it to its append-only file (``Store.append_event``'s ``durable``).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

STREAM = "audit"


def session_ref(sid: str | None) -> str:
    """A stable reference to a session for the audit trail: a hash, never the id (it is a credential)."""
    return hashlib.sha256(sid.encode()).hexdigest()[:24] if sid else ""


def record_read(store, *, user: str | None, iss: str, patient: str, resource_types: list[str], outcome: str,
                detail: dict | None = None, session: str | None = None, client: str | None = None) -> str:
    """Append one audit event for a read of ``patient``'s data; returns the event id.

    ``session`` is the raw session id (stored hashed); ``client`` the caller's network address.
    """
    return _append(store, "patient-data-read", user=user, iss=iss, patient=patient, session=session,
                   client=client, resource_types=",".join(resource_types), outcome=outcome, detail=detail)


def record_view(store, *, user: str | None, iss: str, patient: str, what: str, session: str | None = None,
                client: str | None = None) -> str:
    """Append one audit event for a view of stored PHI (a RaDaR case, the phenotype profile)."""
    return _append(store, "patient-data-view", user=user, iss=iss, patient=patient, session=session,
                   client=client, what=what)


def record_bulk_read(store, *, actor: str | None, iss: str, group: str | None, patients: int, flagged: int,
                     since: str | None = None) -> str:
    """Append one audit event for a population screen's Bulk Data read (``radar screen``); returns the event id.

    ``actor`` is who ran it, ``group`` the Group exported (None: every patient), ``patients`` how many
    patients' records were read, ``flagged`` how many the screen flagged, ``since`` the ``_since`` of an
    incremental export. No single patient: ``patient`` is empty.
    """
    return _append(store, "bulk-data-read", user=actor, iss=iss, patient="", session=None, client=None,
                   group=group or "", patients=str(int(patients)), flagged=str(int(flagged)), since=since or "")


def _append(store, name: str, *, user, iss, patient, session, client, detail: dict | None = None, **fields) -> str:
    event = {"event": name, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
             "user": user or "", "iss": iss, "patient": patient, "session": session_ref(session),
             "client": client or "", **fields}
    if detail:
        event["detail"] = json.dumps(detail, sort_keys=True)
    return store.append_event(STREAM, event, durable=True)


def events(store, count: int | None = None) -> list[dict]:
    """Audit events, oldest first, each with its stream id."""
    return [{"id": eid, **fields} for eid, fields in store.read_events(STREAM, count)]
