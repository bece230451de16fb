"""``radar screen --ehr`` against an EHR whose Bulk manifest is hostile or broken: nothing the server
sends becomes a path, deletions stay inside the work folder, and the EHR's own export errors reach
the summary line and the report."""
from __future__ import annotations

import json

import httpx
import pytest
from flask import Flask, Response, jsonify, request

from app.config import load_settings
from app.fetch import fhir
from app.screen import report
from app.screen.run import STATE, Options, export_group, summary_text
from app.smart.keys import generate_keys
from app.store import connect
from tests.servers import free_port, serve
from tests.support.bulk import backend_auth

# Slow: hostile Bulk servers read by the screen on a local Spark (make check leaves it out).
pytestmark = pytest.mark.slow

TOKEN = "tok-" + "5" * 40
PATIENT = {"resourceType": "Patient", "id": "hx-1", "gender": "female", "birthDate": "1990-01-01"}
NOTE = {"resourceType": "DocumentReference", "id": "note-1", "status": "current",
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                  "code": "clinical-note"}]}],
        "subject": {"reference": "Patient/hx-1"},
        "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/gone"}}]}
OUTCOME = {"resourceType": "OperationOutcome",
           "issue": [{"severity": "error", "code": "processing", "details": {"text": "Patient hx-9 <b>skipped</b>"}}]}


class HostileBulk:
    """A small Bulk Data server whose manifest's ``transactionTime`` (any JSON value) the test chooses;
    its export carries an error file and a note whose attachment the EHR refuses."""

    def __init__(self):
        self.transaction_time: object = "2026-11-30T00:00:00Z"
        self.padding = 0  # blank bytes after the Patient line: a file as large as the test needs
        self.storage: str | None = None  # an origin serving the files without a token (the EHR's storage)
        self.since: list[str | None] = []
        app = Flask("hostile-bulk")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"

        backend_auth(app, self.base, TOKEN)

        @app.get("/fhir/Group/g")
        def group():
            return jsonify(resourceType="Group", id="g", type="person", actual=True,
                           member=[{"entity": {"reference": "Patient/hx-1"}}])

        @app.get("/fhir/Group/g/$export")
        def kick_off():
            self.since.append(request.args.get("_since"))
            return Response(status=202, headers={"Content-Location": f"http://127.0.0.1:{self.port}/status/1"})

        @app.route("/status/1", methods=["GET", "DELETE"])
        def status():
            if request.method == "DELETE":
                return Response(status=202)
            files = f"{self.storage}/fhir/files" if self.storage else f"{self.base}/files"
            return jsonify(transactionTime=self.transaction_time, request=f"{self.base}/Group/g/$export",
                           requiresAccessToken=self.storage is None,
                           output=[{"type": "Patient", "url": f"{files}/Patient.ndjson"},
                                   {"type": "DocumentReference", "url": f"{files}/Note.ndjson"}],
                           error=[{"type": "OperationOutcome", "url": f"{self.base}/files/errors.ndjson"}])

        @app.get("/fhir/files/<name>")
        def file(name):
            body = {"Patient.ndjson": PATIENT, "Note.ndjson": NOTE, "errors.ndjson": OUTCOME}[name]
            pad = " " * self.padding if name == "Patient.ndjson" else ""
            return Response(json.dumps(body) + pad + "\n", mimetype="application/fhir+ndjson")

        @app.get("/fhir/Binary/<rid>")
        def binary(rid):
            return Response(status=403)

        self.served = serve(app, self.port)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    server = HostileBulk()
    keys = generate_keys()
    registry = [{"name": "hostile", "iss": server.base, "client_id": "chart", "backend_client_id": "radar-backend"}]
    settings = load_settings({"RADAR_JWKS": json.dumps(keys.as_dict(private=True)), "RADAR_EHRS": json.dumps(registry)})
    store = connect(None, tmp_path_factory.mktemp("store"))
    yield server, settings, store, registry, keys
    server.served.stop()
    store.close()


def run_export(hostile, workdir, *, since=None, log=None):
    server, settings, store, _, keys = hostile
    options = Options(out=workdir.parent / "worklist.ndjson", group="g", since=since, workdir=workdir)
    with httpx.Client(timeout=10) as http:
        export, asked = export_group(options, settings.ehr_for(server.base), keys, store, http,
                                     log=log or _Lines())
    return options, export, asked


class _Lines:
    def __init__(self):
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text


@pytest.mark.parametrize("value", ["2026-11-30T00:00:00Z", "2026-02-28T23:59:60.123456789+14:00",
                                   "0001-01-01T00:00:00-13:59"])
def test_valid_instant_takes_fhir_instants(value):
    assert fhir.valid_instant(value)


@pytest.mark.parametrize("value", ["..", "pending", "screen-state.json", "", None, 20261130, 1.5, ["2026"],
                                   "2026-11-30", "2026-11-30T00:00Z", "2026-11-30T00:00:00", "2026-13-01T00:00:00Z",
                                   "2026-11-30T24:00:00Z", "2026-11-30T00:00:00+15:00", "0000-01-01T00:00:00Z",
                                   "2026-11-30T00:00:00Z/..", "2026-11-30T00:00:00Z\n", "２０２６-11-30T00:00:00Z",
                                   "2026-11-30T00:00:00." + "1" * 100 + "Z"])
def test_valid_instant_refuses_anything_else(value):
    assert not fhir.valid_instant(value)


@pytest.mark.parametrize("value", ["..", "pending", "screen-state.json", "../../elsewhere", 20261130, None,
                                   {"a": 1}, "2026-13-01T00:00:00Z"])
def test_a_transaction_time_that_is_no_instant_never_becomes_a_path(hostile, tmp_path, value):
    server = hostile[0]
    server.transaction_time = value
    others = tmp_path / "radar-export" / "other-ehr"  # another EHR's exports, next to this one's
    others.mkdir(parents=True)
    (others / "Patient.1.ndjson").write_text("{}\n")
    workdir = tmp_path / "radar-export" / "this-ehr"
    log = _Lines()
    options, export, _ = run_export(hostile, workdir, log=log)
    assert (others / "Patient.1.ndjson").read_text() == "{}\n"
    kept = [p for p in workdir.iterdir() if p.is_dir()]
    assert len(kept) == 1 and (kept[0] / "Patient.1.ndjson").exists()
    assert options.inputs == [str(kept[0])]
    assert json.loads((workdir / STATE).read_text())["transaction_time"] is None
    assert "no valid transactionTime" in log.text and "full export" in log.text


def test_the_transaction_time_is_kept_in_the_state_only_and_read_back_for_since_auto(hostile, tmp_path):
    server = hostile[0]
    server.transaction_time = "2026-11-30T00:00:00Z"
    workdir = tmp_path / "work"
    run_export(hostile, workdir)
    assert json.loads((workdir / STATE).read_text())["transaction_time"] == "2026-11-30T00:00:00Z"
    assert not any("2026-11-30" in p.name for p in workdir.iterdir())  # folders are named from our clock
    server.transaction_time = "2026-12-01T00:00:00Z"
    options, _, asked = run_export(hostile, workdir, since="auto")
    assert asked == "2026-11-30T00:00:00Z" and server.since[-1] == "2026-11-30T00:00:00Z"
    assert len(options.inputs) == 2 and options.inputs == sorted(options.inputs)


@pytest.mark.parametrize("state", ['{"transaction_time": "../x"}', '{"transaction_time": 5}', "not json", "[]",
                                   '{"transaction_time": "2026-11-30T00:00:00Z\\n"}'])
def test_since_auto_validates_the_state_it_reads_back(hostile, tmp_path, state):
    server = hostile[0]
    server.transaction_time = "2026-11-30T00:00:00Z"
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / STATE).write_text(state)
    log = _Lines()
    _, _, asked = run_export(hostile, workdir, since="auto", log=log)
    assert asked is None and server.since[-1] is None  # unknown: a full export, which misses nothing
    assert "full export" in log.text
    assert json.loads((workdir / STATE).read_text())["transaction_time"] == "2026-11-30T00:00:00Z"


def test_a_full_export_deletes_only_export_folders_it_made_and_never_through_a_link(hostile, tmp_path):
    server = hostile[0]
    server.transaction_time = "2026-11-30T00:00:00Z"
    workdir = tmp_path / "work"
    run_export(hostile, workdir)
    earlier = [p for p in workdir.iterdir() if p.is_dir()]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (outside / "export-state.json").write_text("{}")
    notes = workdir / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    (workdir / "export-000099-20260101T000000Z").symlink_to(outside, target_is_directory=True)  # named like one
    (workdir / "linked").symlink_to(outside, target_is_directory=True)
    options, _, _ = run_export(hostile, workdir)
    assert not earlier[0].exists()
    assert (outside / "keep.txt").read_text() == "mine" and (notes / "keep.txt").read_text() == "mine"
    assert (workdir / "linked").is_symlink()
    assert len(options.inputs) == 1 and "Patient.1.ndjson" in {p.name for p in (workdir / options.inputs[0]).iterdir()}


def test_the_ehrs_export_errors_are_counted_in_the_summary_line_and_the_report():
    summary = {"patients": 1, "flagged": 0, "warning": 0, "seconds": 6, "bad_input": {}, "bad_examples": [],
               "report": "w.html", "export": {"transaction_time": "2026-11-30T00:00:00Z", "since": None, "errors": 2,
                                              "error_examples": ["error: Patient hx-9 <b>skipped</b>"],
                                              "binary_errors": 1, "binary_examples": ["Binary/gone: HTTP 403"]}}
    text = summary_text(summary)
    assert "bad input: none" in text and "EHR export: 2 errors reported by the EHR, 1 attachment not read" in text
    assert "hx-9" not in text  # counts only in the log line: the messages may name patients
    html = report.render([], summary)
    assert "2 errors reported by the EHR" in html and "1 attachment not read" in html
    assert "Patient hx-9 &lt;b&gt;skipped&lt;/b&gt;" in html and "Binary/gone: HTTP 403" in html
    assert "2026-11-30T00:00:00Z" in html


def cli_env(hostile, tmp_path, monkeypatch, *, transaction_time: str) -> None:
    """The environment ``radar`` reads to export from the hostile EHR (embedded Redis under ``tmp_path``)."""
    server, _, _, registry, keys = hostile
    server.transaction_time = transaction_time
    monkeypatch.setenv("RADAR_EHRS", json.dumps(registry))
    monkeypatch.setenv("RADAR_JWKS", json.dumps(keys.as_dict(private=True)))
    monkeypatch.setenv("RADAR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REDIS_URL", raising=False)


def test_radar_screen_ehr_shows_the_ehrs_export_errors(hostile, tmp_path, monkeypatch, capsys):
    from app.cli import main

    cli_env(hostile, tmp_path, monkeypatch, transaction_time="2026-11-30T00:00:00Z")
    out = tmp_path / "worklist.ndjson"
    assert main(["screen", "--ehr", "hostile", "--group", "g", "--out", str(out), "--no-progress",
                 "--master", "local[1]"]) == 0
    err = capsys.readouterr().err
    assert "EHR export: 1 error reported by the EHR, 1 attachment not read" in err
    html = (tmp_path / "worklist.html").read_text()
    assert "1 error reported by the EHR" in html and "Patient hx-9 &lt;b&gt;skipped&lt;/b&gt;" in html
    assert "Binary/gone" in html


def test_radar_learn_background_ehr_shows_the_ehrs_export_errors(hostile, tmp_path, monkeypatch, capsys):
    from app.cli import main

    cli_env(hostile, tmp_path, monkeypatch, transaction_time="..")
    out = tmp_path / "site" / "background.json.gz"
    assert main(["learn-background", "--ehr", "hostile", "--group", "g", "--out", str(out), "--min-records", "1",
                 "--min-count", "1", "--master", "local[1]"]) == 0
    err = capsys.readouterr().err
    assert "EHR export: 1 error reported by the EHR, 1 attachment not read" in err and "hx-9" not in err
    assert out.exists() and [p.name for p in (tmp_path / "site").iterdir()] == ["background.json.gz", "radar-export"]


def _settings(hostile, env: dict, **ehr):
    server, _, _, registry, keys = hostile
    registry = [{**registry[0], **ehr}]
    return load_settings({"RADAR_JWKS": json.dumps(keys.as_dict(private=True)), "RADAR_EHRS": json.dumps(registry),
                          **env})


def test_the_settings_limits_bound_radar_screens_export(hostile, tmp_path):
    """RADAR_BULK_* reach the export ``radar screen --ehr`` runs (not only the client's defaults)."""
    from app.screen.run import ScreenError, screen_ehr

    server, _, store, _, keys = hostile
    server.transaction_time, server.padding = "2026-11-30T00:00:00Z", 2 << 20
    settings = _settings(hostile, {"RADAR_BULK_MAX_FILE_MB": "1"})
    options = Options(out=tmp_path / "worklist.ndjson", group="g", workdir=tmp_path / "work")
    try:
        with httpx.Client(timeout=10) as http, pytest.raises(ScreenError, match="RADAR_BULK_MAX_FILE_MB"):
            screen_ehr(options, settings, settings.ehr_for(server.base), keys, store, http, log=_Lines())
    finally:
        server.padding = 0
    assert not options.out.exists()


def test_files_without_a_token_come_from_the_ehrs_registered_storage_only(hostile, tmp_path):
    """A manifest pointing at another origin without a token is followed only when the EHR's registry
    lists that origin in ``bulk_file_hosts``."""
    from app.screen.run import ScreenError

    server, _, store, _, keys = hostile
    server.transaction_time, server.storage = "2026-11-30T00:00:00Z", f"http://localhost:{server.port}"
    try:
        for hosts, workdir in (([], "refused"), ([server.storage], "allowed")):
            settings = _settings(hostile, {}, bulk_file_hosts=hosts)
            options = Options(out=tmp_path / "worklist.ndjson", group="g", workdir=tmp_path / workdir)
            with httpx.Client(timeout=10) as http:
                if not hosts:
                    with pytest.raises(ScreenError, match="localhost"):
                        export_group(options, settings.ehr_for(server.base), keys, store, http, log=_Lines(),
                                     limits=settings.bulk)
                    continue
                export, _ = export_group(options, settings.ehr_for(server.base), keys, store, http, log=_Lines(),
                                         limits=settings.bulk)
            assert [p.name for p in export.files["Patient"]] == ["Patient.1.ndjson"]
    finally:
        server.storage = None
