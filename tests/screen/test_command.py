"""`radar screen` end to end: arguments checked at the boundary, files → worklist + report, and a
live export from the sandbox EHR through SMART Backend Services (full, then incremental)."""
from __future__ import annotations

import json

import httpx
import pytest

from app import audit
from app.cli import main
from app.screen import handoff
from app.store import connect
from tests.backend_sandbox import backend_sandbox
from tests.support.exports import PATIENTS

# Slow: radar screen end to end on a local Spark (make check leaves it out).
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("argv, message", [
    ([], "give input files"),
    (["x.ndjson", "--ehr", "epic", "--group", "all"], "not both"),
    (["--ehr", "epic"], "--ehr needs --group"),
    (["--ehr", "epic", "--group", "../all"], "is not a FHIR id"),
    (["x.ndjson", "--since", "auto"], "--since applies to a live export"),
    (["--ehr", "epic", "--group", "all", "--since", "yesterday"], "expected auto or a FHIR instant"),
    (["x.ndjson", "--radar-top", "5"], "--radar-top needs the EHR"),
    (["x.ndjson", "--radar-top", "-1"], "--radar-top must be between"),
    (["x.ndjson", "--master", "http://spark"], "is not a Spark master URL"),
])
def test_usage_mistakes_exit_2_with_one_clear_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RADAR_EHRS", raising=False)
    assert main(["screen", *argv, "--out", str(tmp_path / "w.ndjson")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "w.ndjson").exists()


def test_radar_top_without_radar_says_so_before_screening(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RADAR_URL", raising=False)
    argv = ["screen", str(PATIENTS), "--iss", "http://127.0.0.1:1/epic/fhir", "--radar-top", "3"]
    assert main([*argv, "--out", str(tmp_path / "w.ndjson")]) == 2
    assert "--radar-top needs RADAR_URL" in capsys.readouterr().err


def test_when_no_input_can_be_read_the_screen_says_so(tmp_path, capsys):
    broken = tmp_path / "Patient.1.ndjson.gz"
    broken.write_bytes(b"not gzip")
    assert main(["screen", str(broken), "--out", str(tmp_path / "w.ndjson")]) == 1
    assert "no input file could be read (Patient.1.ndjson.gz: BadGzipFile)" in capsys.readouterr().err


def test_a_missing_input_exits_1_and_writes_nothing(tmp_path, capsys):
    assert main(["screen", str(tmp_path / "nowhere"), "--out", str(tmp_path / "w.ndjson")]) == 1
    assert "no such file or directory" in capsys.readouterr().err
    assert not (tmp_path / "w.ndjson").exists()


def test_files_in_worklist_and_report_out(tmp_path, capsys):
    out = tmp_path / "out" / "worklist.ndjson"
    broken = tmp_path / "Condition.1.ndjson.gz"
    broken.write_bytes(b"not gzip at all")
    assert main(["screen", str(PATIENTS), str(broken), "--out", str(out), "--no-progress", "--master", "local[2]"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 69 and len({line["patient"] for line in lines}) == 69
    err = capsys.readouterr().err
    assert "radar screen: 69 patients in" in err and "flagged" in err and "3 unreadable attachment" in err
    assert "1 unreadable input file" in err
    html = (tmp_path / "out" / "worklist.html").read_text()
    assert "edge-busy" in html and ("https://www.orpha.net/" in html or "https://omim.org/" in html)
    assert not list((tmp_path / "out").glob("*.part"))


@pytest.fixture(scope="module")
def ehr(tmp_path_factory):
    s = backend_sandbox(tmp_path_factory.mktemp("screen-ehr"), EXPORT_SECONDS=0.3)
    yield s
    s.close()


def test_live_export_then_incremental(ehr, tmp_path, monkeypatch, capsys):
    iss = ehr.iss("epic")
    # A chart registration whose client secret is not in this environment (as with dev/ehrs.json
    # outside `make demo`) does not stop a backend-only command.
    registry = [{"name": "Epic sandbox", "iss": iss, "client_id": "radar-epic", "backend_client_id": "radar-backend"},
                {"name": "Cerner sandbox", "iss": ehr.iss("cerner"), "client_id": "radar-cerner",
                 "auth": "client_secret_basic", "secret_env": "RADAR_TEST_UNSET_SECRET"}]
    monkeypatch.delenv("RADAR_TEST_UNSET_SECRET", raising=False)
    monkeypatch.setenv("RADAR_EHRS", json.dumps(registry))
    monkeypatch.setenv("RADAR_JWKS", json.dumps(ehr.keys.as_dict(private=True)))
    monkeypatch.setenv("RADAR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    out = tmp_path / "worklist.ndjson"
    argv = ["screen", "--ehr", "Epic sandbox", "--group", "all", "--out", str(out), "--no-progress",
            "--master", "local[2]", "--actor", "rare-disease-team"]
    assert main(argv) == 0
    first = {line["patient"]: line for line in map(json.loads, out.read_text().splitlines())}
    members = httpx.get(f"{iss}/Group/all", headers=ehr_headers(ehr), timeout=10).json()["member"]
    assert sorted(first) == sorted(m["entity"]["reference"].split("/")[1] for m in members)
    exports = [p for p in (tmp_path / "radar-export").iterdir()]
    assert len(exports) == 1 and len([p for p in exports[0].iterdir() if p.is_dir()]) == 1

    store = connect(None, tmp_path / "data")
    flagged = [p for p, line in first.items() if line["flagged"]]
    assert flagged and handoff.flag_for(store, iss, flagged[0])["probability"] == first[flagged[0]]["rare_disease_probability"]
    assert handoff.flag_for(store, iss, "edge-empty") is None
    event = [e for e in audit.events(store) if e["event"] == "bulk-data-read"][-1]
    assert (event["user"], event["group"], event["patients"]) == ("rare-disease-team", "all", str(len(first)))

    ehr.control("POST", "touch", json={"patient": "rd-002"})
    assert main([*argv, "--since", "auto"]) == 0
    second = {line["patient"]: line for line in map(json.loads, out.read_text().splitlines())}
    assert second == first  # the increment carries rd-002 again; every record is still whole
    dirs = sorted(p for p in exports[0].iterdir() if p.is_dir())
    assert len(dirs) == 2
    increment = dirs[-1]
    patients = [json.loads(line)["id"] for f in increment.glob("Patient.*.ndjson") for line in f.read_text().splitlines()]
    assert patients == ["rd-002"]
    assert "export:" in capsys.readouterr().err
    store.close()


def ehr_headers(ehr) -> dict:
    from app.smart.backend import BackendAuth

    with httpx.Client(timeout=10) as http:
        return BackendAuth(http, ehr.store, ehr.ehr("epic"), ehr.keys).headers()


def test_the_actor_falls_back_to_the_uid_for_a_user_without_a_passwd_entry(monkeypatch):
    import getpass
    import os

    from app.screen import command

    def no_entry():
        raise KeyError("getpwuid(): uid not found: 10001")

    monkeypatch.setattr(getpass, "getuser", no_entry)
    assert command.os_user() == f"uid {os.getuid()}"
