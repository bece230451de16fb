"""The audit trail: one structured event per read of patient data, in a dedicated Redis stream,
exported from there to a durable sink (``RADAR_AUDIT_SINK``: a JSON-lines file or stdout).

This is deliberate, access-controlled PHI (who read whose record) and is kept apart from the
application log, which never carries names, notes or values. Each event is written durably: the
call returns once Redis has fsynced it to its append-only file (``Store.append_event``'s ``durable``),
and then ``export`` moves every event not yet exported to the sink, oldest first.

Export is at least once: the stream id travels in each line (``id``), and the cursor of what was
exported advances only after the sink has the lines (a file is fsynced). A process that dies after
writing an event to Redis leaves it for the next export (the next event written by any process, a
worker start, or ``radar audit flush``); one that dies after writing lines but before advancing the
cursor makes the next export write them again, with the same ids. One process exports at a time
(a Redis lock), so several web workers and pods neither interleave nor duplicate lines. The stream is
trimmed only up to the cursor, so an event that has not reached the sink is never dropped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import UTC, datetime

import redis

from .config import AuditSettings

STREAM = "audit"
CURSOR = "audit-exported"
BATCH = 500  # events per sink write
LEASE = 60  # seconds an exporter holds the lock; a dead one's lock expires after it
WAIT = 10  # seconds a writer waits for another process's export before leaving its event to the next one
log = logging.getLogger("radar.audit")


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
    event = {"event": name, "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
             "user": user or "", "iss": iss, "patient": patient, "session": session_ref(session),
             "client": client or "", **fields}
    if detail:
        event["detail"] = json.dumps(detail, sort_keys=True)
    # Never capped at write: only export() trims, and only what the sink already has.
    event_id = store.append_event(STREAM, event, maxlen=None, durable=True)
    export_quietly(store)
    return event_id


def events(store, count: int | None = None) -> list[dict]:
    """Audit events still in Redis, oldest first, each with its stream id."""
    return [{"id": eid, **fields} for eid, fields in store.read_events(STREAM, count)]


def export(store, settings: AuditSettings | None = None) -> int:
    """Move every event not yet exported to the sink, in stream order, then trim the stream to
    ``stream_max`` exported events; returns how many lines were written (0 also when another process
    held the export lock for ``WAIT`` seconds: it exports them). ``settings``: the store's by default.

    Raises ``OSError`` when the sink cannot be written (the events stay in Redis for the next export).
    """
    settings = settings or store.audit
    if settings is None or not settings.exports:
        return 0
    lock = store.lock("audit-export", timeout=LEASE, blocking_timeout=WAIT)
    if not lock.acquire():
        return 0
    written = 0
    try:
        while True:
            batch = store.read_events(STREAM, BATCH, after=store.stream_cursor(CURSOR))
            if not batch:
                break
            _write(settings, [json.dumps({"id": eid, **fields}, sort_keys=True) + "\n" for eid, fields in batch])
            store.advance_cursor(CURSOR, batch[-1][0])
            written += len(batch)
            if len(batch) < BATCH:  # a writer adding after this read exports its own event next
                break
        exported = store.stream_cursor(CURSOR)
        if exported:
            store.trim_events(STREAM, upto=exported, keep=settings.stream_max)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # held past LEASE: another exporter may have taken over
            log.warning("the audit export took longer than %d s; another process may have written the same "
                        "events again (same ids)", LEASE)
    return written


def export_quietly(store) -> int:
    """``export``, with a failure logged instead of raised: the events are safe in Redis meanwhile."""
    try:
        return export(store)
    except OSError as exc:
        log.warning("audit events could not be written to the %s sink (%s); they stay in Redis and go with "
                    "the next export", store.audit.sink, exc.strerror or type(exc).__name__)
    except redis.exceptions.RedisError as exc:
        log.warning("audit export interrupted (%s); the events stay in Redis and go with the next export",
                    type(exc).__name__)
    return 0


def _write(settings: AuditSettings, lines: list[str]) -> None:
    if settings.sink == "stdout":
        for line in lines:  # one write per line: whole lines even where the log pipeline reads other output too
            _write_all(1, line.encode())
        return
    path = settings.path
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        start = os.fstat(fd).st_size
        try:
            _write_all(fd, "".join(lines).encode())
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, start)  # no half line for the next export to append after
            raise
    finally:
        os.close(fd)
    if created:  # the new file's name is on disk too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
