"""The Bulk Data client: its pure parts, the protocol edges against a small Bulk server on loopback,
and whole exports against the sandbox EHR over HTTP (tests/backend_sandbox.py builds it)."""
from __future__ import annotations

import base64
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from flask import Flask, Response, jsonify, request

from app.config import load_settings
from app.fetch import bulk
from app.fetch.bulk_binary import attachment_ids, binary_id, complete
from app.fetch.bulk_http import Transfer, backoff, retry_after
from app.smart.backend import BackendAuth
from app.smart.keys import generate_keys
from app.store import connect
from tests.backend_sandbox import backend_sandbox
from tests.servers import free_port, serve
from tests.support.bulk import backend_auth

# Slow: live Bulk exports from the sandbox, polled to completion (make check leaves it out; test_bulk_hostile.py stays).
pytestmark = pytest.mark.slow

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


# --- pure parts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [
    ("120", 120.0), (" 5 ", 5.0), ("0", 0.0),
    (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
    ("Sat, 01 Mar 2025 12:01:00 GMT", 60.0),
    (format_datetime(NOW - timedelta(minutes=5), usegmt=True), 0.0),
    ("soon", None), ("", None), (None, None),
])
def test_retry_after_delta_seconds_and_http_date(value, seconds):
    assert retry_after(value, now=NOW) == seconds


def test_poll_delay_follows_retry_after_else_the_default():
    assert bulk.poll_delay(httpx.Headers({}), 600) == 600
    assert bulk.poll_delay(httpx.Headers({"Retry-After": "12"}), 600) == 12
    assert bulk.poll_delay(httpx.Headers({"Retry-After": "0"}), 600) == bulk.MIN_POLL
    assert bulk.poll_delay(httpx.Headers({"Retry-After": "later"}), 30) == 30


def test_backoff_grows_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30) == 60


def test_defaults_are_the_vendors_advice():
    assert bulk.DEFAULT_TYPES == ("Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport")
    assert bulk.DEFAULT_TYPE_FILTER == ("Observation?category=laboratory",)
    assert bulk.GROUP_ADVICE == 1000
    assert bulk.export.__kwdefaults__["poll_seconds"] == 600


BASE = "https://ehr.example.org/fhir"


@pytest.mark.parametrize("url, rid", [
    ("Binary/n1", "n1"), (f"{BASE}/Binary/n-2.x", "n-2.x"),
    ("https://other.example.org/fhir/Binary/n1", None), (f"{BASE}/Binary/a/b", None),
    (f"{BASE}/../Binary/n1", None), ("Binary/..", None), ("DocumentReference/n1", None),
    ("https://ehr.example.org/fhirBinary/n1", None),
])
def test_binary_id_only_on_this_server(url, rid):
    assert binary_id(url, BASE) == rid


def test_attachment_ids_are_the_notes_the_builder_reads(tmp_path):
    def doc(rid, attachments, **extra):
        return {"resourceType": "DocumentReference", "id": rid, "status": "current",
                "content": [{"attachment": a} for a in attachments], **extra}
    lines = [
        doc("d1", [{"contentType": "application/pdf", "url": "Binary/pdf1"},
                   {"contentType": "text/html", "url": "Binary/h1"}]),
        doc("d2", [{"contentType": "text/plain", "url": f"{BASE}/Binary/t2"}]),
        doc("d3", [{"contentType": "text/plain", "url": "https://files.example.com/t3"}]),
        doc("d4", [{"contentType": "text/plain", "data": "aGk="}]),
        doc("d5", [{"contentType": "text/plain", "url": "Binary/gone"}], status="entered-in-error"),
        doc("d6", [{"contentType": "text/plain", "url": "Binary/h1"}]),
        {"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
         "presentedForm": [{"contentType": "text/html", "url": "Binary/r1"}]},
    ]
    path = tmp_path / "DocumentReference.1.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n")
    not_followed: list[str] = []
    assert attachment_ids([path], BASE, not_followed) == ["h1", "t2", "r1"]
    assert len(not_followed) == 1 and not_followed[0].startswith("DocumentReference/d3: attachment")
    assert "not followed" in not_followed[0]


# --- protocol edges against a small Bulk server -------------------------------------------------

LINE = json.dumps({"resourceType": "Patient", "id": "p", "text": {"div": "x" * 200}}) + "\n"
BIG_LINES = 120_000  # ~30 MB
TOKEN = "tok-" + "7" * 40
RAW = bytes(range(256)) * 1001  # not a multiple of 3, and longer than one chunk


class BulkServer:
    """A minimal Bulk Data server: SMART config, token, a large Group, kick-off, status, files."""

    def __init__(self):
        self.seen: list[tuple[str, str, bool]] = []  # (method, path, had a bearer)
        self.polls = 0
        self.drop_next_file = True
        app = Flask("bulk-server")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"

        @app.before_request
        def note():
            self.seen.append((request.method, request.path, request.headers.get("Authorization") == f"Bearer {TOKEN}"))

        backend_auth(app, self.base, TOKEN)

        @app.get("/fhir/Group/big")
        def group():
            return jsonify(resourceType="Group", id="big", type="person", actual=True, quantity=1500,
                           member=[{"entity": {"reference": f"Patient/p{i}"}} for i in range(3)])

        @app.get("/fhir/Group/big/$export")
        def kick_off():
            return Response(status=202, headers={"Content-Location": f"http://127.0.0.1:{self.port}/status/1"})

        @app.route("/status/1", methods=["GET", "DELETE"])
        def status():
            if request.method == "DELETE":
                return Response(status=202)
            self.polls += 1
            if self.polls == 1:
                return Response(status=202)  # no Retry-After: the client's own interval
            if self.polls == 2:
                return Response(status=202, headers={"X-Progress": "50% done", "Retry-After": "3"})
            return jsonify(transactionTime="2025-03-01T12:00:00Z", request=f"{self.base}/Group/big/$export",
                           requiresAccessToken=False,
                           output=[{"type": "Patient", "url": f"http://127.0.0.1:{self.port}/files/big.ndjson"}],
                           error=[{"type": "OperationOutcome",
                                   "url": f"http://127.0.0.1:{self.port}/files/errors.ndjson"}])

        @app.get("/files/big.ndjson")
        def big():
            drop, self.drop_next_file = self.drop_next_file, False

            def body():
                for n in range(0, BIG_LINES, 500):
                    if drop and n > BIG_LINES // 2:
                        raise ConnectionError("dropped mid-file")
                    yield LINE * 500
            return Response(body(), mimetype="application/fhir+ndjson")

        @app.get("/files/errors.ndjson")
        def errors():
            outcome = {"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "processing", "details": {"text": "Patient p9 skipped"}}]}
            return Response(json.dumps(outcome) + "\n", mimetype="application/fhir+ndjson")

        @app.get("/fhir/Binary/<rid>")
        def binary(rid):
            if rid == "raw":
                return Response(RAW, mimetype="text/html")
            if rid == "pretty":
                body = {"resourceType": "Binary", "id": "pretty", "contentType": "text/plain", "data": "aGk="}
                return Response(json.dumps(body, indent=2), mimetype="application/fhir+json")
            if rid == "text":
                return Response("not json", mimetype="application/fhir+json")
            return Response(status=404)

        self.served = serve(app, self.port)


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory):
    server = BulkServer()
    keys = generate_keys()
    settings = load_settings({"RADAR_JWKS": json.dumps(keys.as_dict(private=True)), "RADAR_EHRS": json.dumps(
        [{"iss": server.base, "client_id": "chart", "backend_client_id": "radar-backend"}])})
    store = connect(None, tmp_path_factory.mktemp("store"))
    yield server, settings.ehr_for(server.base), keys, store
    server.served.stop()
    store.close()


def test_protocol_edges_and_a_large_file_streamed(bulk_server, tmp_path, caplog):
    server, ehr, keys, store = bulk_server
    caplog.set_level("DEBUG")
    sleeps, lines = [], []
    out = tmp_path / "export"
    with httpx.Client(timeout=30) as http:
        auth = BackendAuth(http, store, ehr, keys)
        auth.token()
        tracemalloc.start()
        try:
            result = bulk.export(http, auth, server.base, out, group="big", poll_seconds=7, progress=lines.append,
                                 sleep=sleeps.append)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # The whole file is on disk, and it never was in memory: the transfer peaked far below its size.
    path = out / "Patient.1.ndjson"
    assert result.files == {"Patient": [path]}
    assert path.stat().st_size == len(LINE) * BIG_LINES
    with open(path) as f:
        assert sum(1 for line in f if line == LINE) == BIG_LINES
    # Holding the body would peak above the file's size; what streaming costs stays well under half
    # of it (the first transfer of a fresh server thread has a one-off ~10 MB, whatever the file).
    assert peak < path.stat().st_size / 2, f"peak {peak} bytes for a {path.stat().st_size}-byte file"
    assert not any(isinstance(v, (bytes, str)) and len(v) > 10_000 for v in vars(result).values())
    # The dropped connection was retried: the file was asked for twice, and no part file is left.
    assert [p for m, p, _ in server.seen if p == "/files/big.ndjson"] == ["/files/big.ndjson"] * 2
    assert not list(out.glob("*.part"))
    # Polling: the own interval without Retry-After, then the EHR's; progress shown; big group warned about.
    assert sleeps[:2] == [7, 3]
    assert "EHR: 50% done" in lines
    assert any("1,500 members" in line and "about 1,000 patients or fewer" in line for line in lines)
    # requiresAccessToken false: the files got no token; the FHIR API did; the job was deleted.
    assert all(not bearer for m, p, bearer in server.seen if p.startswith("/files/"))
    assert all(bearer for m, p, bearer in server.seen if p.startswith(("/status", "/fhir/Group")))
    assert ("DELETE", "/status/1", True) in server.seen
    # The EHR's error file is read into messages, and lives apart from the data.
    assert result.errors == ["error: Patient p9 skipped"]
    assert (out / "errors" / "OperationOutcome.1.ndjson").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["output"][0]["file"] == "Patient.1.ndjson" and manifest["requiresAccessToken"] is False
    assert result.transaction_time == "2025-03-01T12:00:00Z"
    # The token is nowhere: not in the state, the manifest, or the logs.
    for name in ("export-state.json", "manifest.json"):
        assert TOKEN not in (out / name).read_text()
    assert TOKEN not in caplog.text
    # Called again, the finished export is returned without asking the EHR anything.
    seen = len(server.seen)
    with httpx.Client() as http:
        again = bulk.export(http, auth, server.base, out, group="big", sleep=sleeps.append)
    assert again.files == result.files and len(server.seen) == seen


def test_binaries_become_one_ndjson_line_each(bulk_server, tmp_path):
    server, ehr, keys, store = bulk_server
    with httpx.Client(timeout=10) as http:
        transfer = Transfer(http, BackendAuth(http, store, ehr, keys), server.base, sleep=lambda s: None)
        files, errors = complete(transfer, server.base, tmp_path, ["raw", "pretty", "text", "missing"], lambda s: None)
    lines = {b["id"]: b for b in ndjson(files[0])}  # read a few at a time: in any order
    assert set(lines) == {"raw", "pretty"}
    assert base64.b64decode(lines["raw"]["data"]) == RAW and lines["raw"]["contentType"].startswith("text/html")
    assert lines["pretty"]["data"] == "aGk="
    assert sorted(errors) == ["Binary/missing: the EHR answered HTTP 404",
                              "Binary/text: the EHR sent something that is not a FHIR resource"]
    assert not list(tmp_path.glob(".*.part"))


def test_another_export_in_the_same_directory_is_refused(bulk_server, tmp_path):
    (tmp_path / "export-state.json").write_text(json.dumps({"request": {"base": "elsewhere"}}))
    with httpx.Client() as http, pytest.raises(bulk.BulkError, match="holds another export"):
        bulk.export(http, None, BASE, tmp_path, group="g")


def test_bad_group_id_refused_before_any_request(tmp_path):
    with httpx.Client() as http, pytest.raises(bulk.BulkError, match="is not a FHIR Group id"):
        bulk.export(http, None, BASE, tmp_path, group="../admin")


# --- whole exports against the sandbox EHR ------------------------------------------------------

@pytest.fixture(scope="module")
def ehr(tmp_path_factory):
    """The sandbox with Backend Services clients (demo patients; exports take half a second)."""
    s = backend_sandbox(tmp_path_factory.mktemp("bulk"), EXPORT_SECONDS=0.5)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _sandbox_reset(request):
    yield
    if "ehr" in request.fixturenames:
        sandbox = request.getfixturevalue("ehr")
        sandbox.control("DELETE", "faults")
        sandbox.control("POST", "bulk", json={"file_lines": 500, "export_seconds": 0.5})


class Run:
    """One client's view of exports: every request it sent, every wait, every progress line."""

    def __init__(self, sandbox, tenant: str = "epic"):
        self.sandbox, self.tenant = sandbox, tenant
        self.requests: list[tuple[str, str]] = []
        self.sleeps: list[float] = []
        self.lines: list[str] = []
        self.on_line = None
        self.http = httpx.Client(timeout=10, event_hooks={"request": [self._note]})
        self.auth = BackendAuth(self.http, sandbox.store, sandbox.ehr(tenant), sandbox.keys)

    def _note(self, req: httpx.Request) -> None:
        self.requests.append((req.method, req.url.path))

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(min(seconds, 0.1))

    def _progress(self, line: str) -> None:
        self.lines.append(line)
        if self.on_line:
            self.on_line(line)

    def export(self, out: Path, **kw) -> bulk.Export:
        self.requests.clear()
        kw.setdefault("group", "edge")
        return bulk.export(self.http, self.auth, self.sandbox.ehr(self.tenant).iss, out, progress=self._progress,
                           sleep=self._sleep, **kw)

    def paths(self, fragment: str) -> list[str]:
        return [p for _, p in self.requests if fragment in p]


def ndjson(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_group_export_with_notes(ehr, tmp_path, caplog):
    caplog.set_level("DEBUG")
    ehr.control("POST", "bulk", json={"file_lines": 400})
    run = Run(ehr)
    result = run.export(tmp_path, group="rare")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    group = run.http.get(f"{ehr.iss('epic')}/Group/rare", headers=run.auth.headers()).json()
    members = {m["entity"]["reference"].split("/")[1] for m in group["member"]}
    # Every file of the manifest, named by type, holding what the manifest says it holds.
    assert set(result.files) == {"Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport",
                                 "Binary"}
    assert len(result.files["Observation"]) > 1  # split at 400 lines
    for item in manifest["output"]:
        lines = ndjson(tmp_path / item["file"])
        assert len(lines) == item["count"] and {r["resourceType"] for r in lines} == {item["type"]}
    assert {p["id"] for p in ndjson(result.files["Patient"][0])} == members
    observations = [o for path in result.files["Observation"] for o in ndjson(path)]
    assert observations and all(any(c.get("code") == "laboratory" for cat in o["category"] for c in cat["coding"])
                                for o in observations)  # _typeFilter
    # Each note's readable attachment was completed from the FHIR API, streamed into Binary NDJSON.
    binaries = {b["id"]: b for path in result.files["Binary"] for b in ndjson(path)}
    wanted = {d["content"][0]["attachment"]["url"].split("/")[1] for d in ndjson(result.files["DocumentReference"][0])
              if "url" in d["content"][0]["attachment"]}
    assert wanted and wanted <= set(binaries) and all(b["resourceType"] == "Binary" for b in binaries.values())
    assert result.binary_errors == [] and result.errors == []
    # Progress for the operator; the job is deleted at the end.
    assert f"Group/rare: {len(members)} patient(s)" in run.lines
    assert any(line.startswith("EHR: ") and "% complete" in line for line in run.lines)
    status = json.loads((tmp_path / "export-state.json").read_text())["status_url"]
    assert ("DELETE", urlsplit(status).path) in run.requests
    assert run.http.get(status, headers=run.auth.headers()).status_code == 404
    # The bearer went along (requiresAccessToken), but is in no file and no log line.
    token = run.auth.token()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path
    assert token not in caplog.text


def test_all_patients_of_a_v1_tenant(ehr, tmp_path):
    run = Run(ehr, "cerner")
    result = run.export(tmp_path, group=None, types=["Patient", "Condition"], type_filter=(), binaries=False)
    patients = [p for p in ehr.control("GET", "patients").json() if p["tenant"] == "cerner"]
    assert len(ndjson(result.files["Patient"][0])) == len(patients)
    assert set(result.files) == {"Patient", "Condition"}
    assert run.paths("$export") == ["/cerner/fhir/Patient/$export"]
    assert run.auth.granted_scope.split()[0].endswith(".read")


def test_since_is_passed_through(ehr, tmp_path):
    touched = ehr.control("POST", "touch", json={"patient": "edge-busy"}).json()
    instant = datetime.fromisoformat(touched["lastUpdated"].replace("Z", "+00:00")) - timedelta(milliseconds=1)
    since = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    result = Run(ehr).export(tmp_path, since=since, binaries=False)
    exported = [r for paths in result.files.values() for path in paths for r in ndjson(path)]
    assert exported and all(r["meta"]["lastUpdated"] == touched["lastUpdated"] for r in exported)
    assert {r["id"] for r in ndjson(result.files["Patient"][0])} == {"edge-busy"}
    assert json.loads((tmp_path / "manifest.json").read_text())["request"].count("_since=") == 1


def test_interrupted_download_resumes_without_a_second_kick_off(ehr, tmp_path):
    ehr.control("POST", "bulk", json={"file_lines": 60})
    run = Run(ehr)

    def break_files(line: str) -> None:
        if line.startswith("downloaded ") and run.on_line:
            run.on_line = None
            ehr.control("POST", "faults", json={"tenant": "epic", "resource": "bulk-file", "mode": 403})
    run.on_line = break_files
    with pytest.raises(bulk.BulkError) as err:
        run.export(tmp_path, binaries=False)
    assert "HTTP 403" in err.value.message and "run again with the same output directory" in err.value.message
    state = json.loads((tmp_path / "export-state.json").read_text())
    done = {f["url"] for f in state["files"] if f["done"]}
    missing = {urlsplit(f["url"]).path for f in state["files"] if not f["done"]}
    assert done and missing
    ehr.control("DELETE", "faults")
    result = run.export(tmp_path, binaries=False)
    assert run.paths("$export") == []  # no second kick-off
    assert set(run.paths("/bulk/files/")) == missing  # only what was missing
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sum(len(ndjson(tmp_path / i["file"])) for i in manifest["output"]) == sum(i["count"] for i in manifest["output"])
    assert sum(len(v) for v in result.files.values()) == len(state["files"])


def test_pending_export_resumes_by_polling_the_same_job(ehr, tmp_path):
    run = Run(ehr)
    with pytest.raises(bulk.BulkError, match="has not finished the export in the time allowed"):
        run.export(tmp_path, max_wait_seconds=0, binaries=False)
    status_url = json.loads((tmp_path / "export-state.json").read_text())["status_url"]
    assert status_url and run.paths("$export")
    run.export(tmp_path, binaries=False)
    assert run.paths("$export") == [] and urlsplit(status_url).path in run.paths("/bulk/status/")


def test_throttling_and_server_errors_are_retried(ehr, tmp_path):
    for resource, mode, wait in (("$export", 429, 3), ("bulk-status", 503, 4), ("bulk-file", 500, 0)):
        ehr.control("POST", "faults", json={"tenant": "epic", "resource": resource, "mode": mode,
                                            "times": 1 if mode == 429 else 2, "retry_after": wait})
    run = Run(ehr)
    result = run.export(tmp_path, types=["Patient"], type_filter=(), binaries=False)
    assert result.files["Patient"]
    assert run.paths("$export") == ["/epic/fhir/Group/edge/$export"] * 2
    assert run.sleeps.count(3) == 1 and run.sleeps.count(4) == 2  # the EHR's Retry-After on 429 and 503
    assert 2 in run.sleeps  # backoff (1, then 2 s) after the 500s, which say nothing (status polls wait 1 s)


def test_retries_are_bounded(ehr, tmp_path):
    ehr.control("POST", "faults", json={"tenant": "epic", "resource": "bulk-status", "mode": 503})
    run = Run(ehr)
    with pytest.raises(bulk.BulkError, match="export status: the EHR answered HTTP 503"):
        run.export(tmp_path, binaries=False)
    assert len(run.paths("/bulk/status/")) == 5


def test_expired_token_renewed_once_per_request(ehr, tmp_path):
    ehr.control("POST", "bulk", json={"file_lines": 60})
    run = Run(ehr)

    def expire(line: str) -> None:
        if line.startswith("export started"):
            run.on_line = None
            ehr.control("POST", "tokens/expire", json={"tenant": "epic"})
    run.on_line = expire
    run.export(tmp_path, binaries=False)
    assert len(run.paths("/oauth2/token")) == 2


def test_a_token_refused_twice_ends_the_export(ehr, tmp_path):
    ehr.control("POST", "faults", json={"tenant": "epic", "resource": "bulk-file", "mode": 401})
    run = Run(ehr)
    with pytest.raises(bulk.BulkError, match="HTTP 401"):
        run.export(tmp_path, types=["Patient"], type_filter=(), binaries=False)
    assert len(run.paths("/oauth2/token")) == 2 and len(run.paths("/bulk/files/")) == 2


@pytest.mark.parametrize("kw, message", [
    ({"group": "nobody"}, "Group 'nobody' was not found in the EHR"),
    ({"types": ["Medication"]}, "export kick-off: the EHR answered HTTP 400 (Unsupported _type: Medication"),
    ({"since": "yesterday"}, "export kick-off: the EHR answered HTTP 400 (_since must be a FHIR instant"),
])
def test_refusals_are_explained(ehr, tmp_path, kw, message):
    with pytest.raises(bulk.BulkError) as err:
        Run(ehr).export(tmp_path, **kw)
    assert message in err.value.message


def test_a_binary_that_fails_is_listed_not_fatal(ehr, tmp_path):
    # The demo data has one note whose Binary does not exist; the injected fault spoils one more.
    ehr.control("POST", "faults", json={"tenant": "epic", "resource": "Binary", "mode": 403, "times": 1})
    result = Run(ehr).export(tmp_path, types=["Patient", "DocumentReference"], type_filter=())
    missing, refused = sorted(result.binary_errors, key=lambda e: "403" in e)
    assert missing.startswith("Binary/edge-malformed-bin-missing: the EHR answered HTTP 404")
    assert refused.startswith("Binary/") and refused.endswith(": the EHR answered HTTP 403 (Injected fault 403.)")
    assert result.files["Binary"]
    assert json.loads((tmp_path / "manifest.json").read_text())["binary_errors"] == result.binary_errors


def test_a_pending_job_the_ehr_forgot_is_started_again(ehr, tmp_path):
    run = Run(ehr)
    with pytest.raises(bulk.BulkError):
        run.export(tmp_path, max_wait_seconds=0, binaries=False)
    status_url = json.loads((tmp_path / "export-state.json").read_text())["status_url"]
    assert run.http.delete(status_url, headers=run.auth.headers()).status_code == 202  # as if it expired
    result = run.export(tmp_path, binaries=False)
    assert "the EHR no longer knows the pending export; starting a new one" in run.lines
    assert len(run.paths("$export")) == 1 and result.files["Patient"]
    assert json.loads((tmp_path / "export-state.json").read_text())["status_url"] != status_url
