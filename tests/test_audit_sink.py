"""The audit trail leaves Redis for a durable sink (``RADAR_AUDIT_SINK``) and is never trimmed before.

Real embedded ``redis-server`` processes, real files and real child processes; events are written
through the app's own ``audit.record_*`` functions.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import audit
from app.config import AuditSettings, ConfigError, load_settings
from app.store import connect

ROOT = Path(__file__).resolve().parent.parent
ISS = "https://fhir.example/r4"


def read(store, patient: str, user: str = "Practitioner/1") -> str:
    """One audited read of ``patient``'s record, as the chart writes it."""
    return audit.record_read(store, user=user, iss=ISS, patient=patient, resource_types=["Condition"],
                             outcome="ok", session=f"sid-{patient}", client="10.0.0.7")


def lines(path: Path) -> list[dict]:
    """The sink file's events; every line must be whole JSON."""
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def stores(data_dir):
    """Close every store a test connects (the first one owns the embedded server)."""
    opened = []

    def open_store(settings: AuditSettings | None):
        store = connect(None, data_dir, audit=settings)
        opened.append(store)
        return store

    yield open_store
    for store in reversed(opened):
        store.redis.close()
        store.close()


def test_events_reach_the_file_in_order_with_their_ids(stores, tmp_path):
    sink = tmp_path / "volume" / "audit.jsonl"
    store = stores(AuditSettings("file", sink))
    ids = [read(store, f"p-{i}") for i in range(30)]
    ids.append(audit.record_view(store, user="Practitioner/1", iss=ISS, patient="p-0", what="case"))
    exported = lines(sink)
    assert [e["id"] for e in exported] == ids
    assert exported == audit.events(store)  # the event's shape, as `radar audit export` prints it
    assert exported[0]["patient"] == "p-0" and exported[0]["event"] == "patient-data-read"
    assert exported[-1]["event"] == "patient-data-view"
    assert oct(sink.stat().st_mode & 0o777) == "0o600"


def test_trimming_never_drops_an_event_the_sink_does_not_have(stores, tmp_path, caplog):
    volume = tmp_path / "volume"
    volume.write_text("not a directory yet: the volume is not mounted")
    store = stores(AuditSettings("file", volume / "audit.jsonl", stream_max=5))
    with caplog.at_level(logging.WARNING, logger="radar.audit"):
        ids = [read(store, f"p-{i}") for i in range(20)]
    assert [e["id"] for e in audit.events(store)] == ids  # 20 kept although the stream may hold 5
    assert caplog.records and all("p-" not in r.getMessage() for r in caplog.records)  # no PHI in the log

    volume.unlink()  # the volume is back
    ids.append(read(store, "p-20"))
    assert [e["id"] for e in lines(volume / "audit.jsonl")] == ids
    assert [e["id"] for e in audit.events(store)] == ids[-5:]


def test_a_full_stream_keeps_the_newest_exported_events(stores, tmp_path):
    sink = tmp_path / "audit.jsonl"
    store = stores(AuditSettings("file", sink, stream_max=5))
    ids = [read(store, f"p-{i}") for i in range(40)]
    assert [e["id"] for e in lines(sink)] == ids
    assert [e["id"] for e in audit.events(store)] == ids[-5:]


def test_an_event_left_by_a_process_that_died_before_exporting_goes_with_the_next(stores, tmp_path):
    sink = tmp_path / "audit.jsonl"
    store = stores(AuditSettings("file", sink, stream_max=2))
    first = read(store, "p-0")
    crashed = stores(None)  # wrote to Redis, never exported (the process died in between)
    left = [read(crashed, f"p-{i}") for i in (1, 2, 3)]
    assert [e["id"] for e in audit.events(store)] == [first, *left]  # nothing unexported was trimmed
    assert [e["id"] for e in lines(sink)] == [first]
    last = read(store, "p-4")
    assert [e["id"] for e in lines(sink)] == [first, *left, last]
    assert [e["id"] for e in audit.events(store)] == [left[-1], last]


def test_no_sink_keeps_every_event_in_redis(stores):
    store = stores(AuditSettings("none", stream_max=3))
    ids = [read(store, f"p-{i}") for i in range(10)]
    assert audit.export(store) == 0
    assert [e["id"] for e in audit.events(store)] == ids


WRITER = """
import sys, time
from pathlib import Path
from app import audit
from app.config import AuditSettings
from app.store import connect

data_dir, sink, name, go = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
store = connect(None, data_dir, audit=AuditSettings("file", sink, stream_max=10))
store.ping()
(go.parent / f"ready-{name}").touch()
while not go.exists():
    time.sleep(0.01)
for i in range(40):
    audit.record_read(store, user=name, iss="https://fhir.example/r4", patient=f"{name}-{i}",
                      resource_types=["Condition"], outcome="ok")
"""


@pytest.mark.slow  # new Python processes import the app
def test_two_processes_export_each_event_once_in_stream_order(stores, data_dir, tmp_path):
    sink = tmp_path / "audit.jsonl"
    store = stores(AuditSettings("file", sink, stream_max=10))  # owns the server the writers join
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), str(sink), name, str(go)], cwd=ROOT)
               for name in ("web-1", "web-2")]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in ("web-1", "web-2")) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # both write at once
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    exported = lines(sink)
    ids = [e["id"] for e in exported]
    assert len(ids) == len(set(ids)) == 80
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))
    assert {e["user"] for e in exported} == {"web-1", "web-2"}
    assert [e["id"] for e in audit.events(store)] == ids[-10:]


def test_stdout_sink_writes_one_json_line_per_event(stores, capfd):
    store = stores(AuditSettings("stdout"))
    ids = [read(store, f"p-{i}") for i in range(3)]
    ids.append(audit.record_bulk_read(store, actor="cronjob/rd-radar-screen", iss=ISS, group="g1", patients=12,
                                      flagged=2))
    out = capfd.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in out] == ids
    assert json.loads(out[-1])["event"] == "bulk-data-read"


@pytest.mark.slow  # new Python processes import the app
def test_radar_audit_flush_moves_what_is_left(stores, data_dir, tmp_path):
    left = [read(stores(None), f"p-{i}") for i in range(3)]
    sink = tmp_path / "flushed" / "audit.jsonl"
    env = {**os.environ, "RADAR_DATA_DIR": str(data_dir), "RADAR_AUDIT_SINK": f"file:{sink}", "RADAR_EHRS": "[]"}
    env.pop("REDIS_URL", None)
    proc = subprocess.run([sys.executable, "-m", "app.cli", "audit", "flush"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "3 event(s) written to the file sink" in proc.stderr and proc.stdout == ""
    assert [e["id"] for e in lines(sink)] == left


def test_sink_settings(tmp_path):
    data_dir = tmp_path / "d"
    assert load_settings({"RADAR_DATA_DIR": str(data_dir)}).audit == AuditSettings("file", data_dir / "audit.jsonl")
    env = {"RADAR_DATA_DIR": str(data_dir)}
    assert load_settings({**env, "RADAR_AUDIT_SINK": "stdout"}).audit.sink == "stdout"
    assert load_settings({**env, "RADAR_AUDIT_SINK": "none"}).audit.exports is False
    custom = load_settings({**env, "RADAR_AUDIT_SINK": "file:/var/lib/radar/audit/a.jsonl",
                            "RADAR_AUDIT_STREAM_MAX": "5000"}).audit
    assert custom == AuditSettings("file", Path("/var/lib/radar/audit/a.jsonl"), 5000)
    for raw, words in [("syslog", "is not file:/path, stdout or none"), ("file:", "needs a path"),
                       (f"file:{tmp_path}", "is a directory")]:
        with pytest.raises(ConfigError, match="RADAR_AUDIT_SINK") as err:
            load_settings({**env, "RADAR_AUDIT_SINK": raw})
        assert words in str(err.value)
    with pytest.raises(ConfigError, match="RADAR_AUDIT_STREAM_MAX"):
        load_settings({**env, "RADAR_AUDIT_STREAM_MAX": "0"})
