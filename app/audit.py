"""The audit trail: one structured event per read of patient data, in a dedicated Redis stream.

This is deliberate, access-controlled PHI (who read whose record) and is kept apart from the
application log, which never carries names, notes or values.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

STREAM = "audit"


def record_read(store, *, user: str | None, iss: str, patient: str, resource_types: list[str], outcome: str,
                detail: dict | None = None) -> str:
    """Append one audit event for a read of ``patient``'s data; returns the event id."""
    event = {
        "event": "patient-data-read",
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "user": user or "",
        "iss": iss,
        "patient": patient,
        "resource_types": ",".join(resource_types),
        "outcome": outcome,
    }
    if detail:
        event["detail"] = json.dumps(detail, sort_keys=True)
    return store.append_event(STREAM, event)


def events(store, count: int | None = None) -> list[dict]:
    """Audit events, oldest first, each with its stream id."""
    return [{"id": eid, **fields} for eid, fields in store.read_events(STREAM, count)]
