"""The Bulk Data client against a hostile or broken EHR (tests/hostile_bulk.py on loopback): the token
stays on the FHIR server's origin, files come only from hosts the admin allowed, and every limit
(bytes, lines, Binary size, read timeout, deadline, back-off) ends the run with a message naming it.
Time is the injected clock: nothing here waits for real, and nothing asserts on wall-clock time."""
from __future__ import annotations

import json
import time

import httpx
import pytest
from flask import Response

from app.config import BulkLimits, ConfigError, load_settings
from app.fetch import bulk
from app.fetch.bulk_binary import attachment_ids
from app.smart.backend import BackendAuth
from app.smart.keys import generate_keys
from app.store import connect
from tests.hostile_bulk import PATIENT, TOKEN, Clock, HostileBulk, binary, drip, endless, giant_line, gzip_bomb, ndjson, redirect

MIB = 1 << 20
NOTE = {"resourceType": "DocumentReference", "id": "n-{}", "status": "current",
        "subject": {"reference": "Patient/hb-1"},
        "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/{}"}}]}
DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError, not ValueError


def note(rid: str) -> dict:
    return json.loads(json.dumps(NOTE).replace("{}", rid))


@pytest.fixture(scope="module")
def keys():
    return generate_keys()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = connect(None, tmp_path_factory.mktemp("store"))
    yield s
    s.close()


@pytest.fixture
def ehr():
    server = HostileBulk()
    yield server
    server.stop()


@pytest.fixture
def other():
    """A second server: another origin (an attacker's, or the EHR's storage)."""
    server = HostileBulk()
    yield server
    server.stop()


def export(server: HostileBulk, out, keys, store, *, clock: Clock | None = None, http: httpx.Client | None = None,
           **kw) -> bulk.Export:
    settings = load_settings({"RADAR_JWKS": json.dumps(keys.as_dict(private=True)), "RADAR_EHRS": json.dumps(
        [{"iss": server.base, "client_id": "chart", "backend_client_id": "radar-backend"}])})
    clock = clock or Clock()
    kw.setdefault("binaries", False)
    client = http or httpx.Client(timeout=10)
    try:
        auth = BackendAuth(client, store, settings.ehr_for(server.base), keys)
        return bulk.export(client, auth, server.base, out, group="g", poll_seconds=5, sleep=clock.sleep,
                           clock=clock, **kw)
    finally:
        if http is None:
            client.close()


# --- the token stays home (item 1) --------------------------------------------------------------

@pytest.mark.parametrize("where", ["another port", "another host name", "another scheme"])
def test_a_status_url_elsewhere_gets_no_token_and_stops_the_run(ehr, other, keys, store, tmp_path, where):
    ehr.content_location = {"another port": f"{other.origin}/status/1",
                            "another host name": f"http://localhost:{ehr.port}/status/1",
                            "another scheme": f"https://127.0.0.1:{ehr.port}/status/1"}[where]
    with pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path, keys, store)
    assert "status URL (Content-Location) is on another server" in err.value.message
    assert "the token is not sent there" in err.value.message and TOKEN not in err.value.message
    # No poll and no DELETE went anywhere: not to the other server, not under the other host name.
    assert other.seen == [] and not ehr.requests_to("/status/")
    assert all(s.host == f"127.0.0.1:{ehr.port}" for s in ehr.seen)
    state = tmp_path / "export-state.json"
    assert not state.exists() or json.loads(state.read_text())["status_url"] is None  # nothing to resume from


def test_a_redirect_elsewhere_is_not_followed_even_by_a_client_that_follows(ehr, other, keys, store, tmp_path):
    ehr.bodies["Patient.ndjson"] = redirect(f"{other.origin}/files/Patient.ndjson")
    with httpx.Client(timeout=10, follow_redirects=True) as http, pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path, keys, store, http=http)
    assert "redirected to 127.0.0.1:" in err.value.message and "bulk_file_hosts" in err.value.message
    assert other.seen == []


def test_a_redirect_to_the_ehrs_storage_is_followed_without_the_token(ehr, other, keys, store, tmp_path):
    ehr.bodies["Patient.ndjson"] = redirect(f"{other.origin}/files/Patient.ndjson", 307)
    result = export(ehr, tmp_path, keys, store, file_hosts=[other.origin])
    assert result.files["Patient"][0].read_bytes() == (json.dumps(PATIENT) + "\n").encode()
    assert [s.bearer for s in other.seen] == [False]
    assert all(s.bearer for s in ehr.requests_to("/fhir/files/"))


def test_a_binary_redirected_elsewhere_is_listed_not_read(ehr, other, keys, store, tmp_path):
    ehr.output.append(("DocumentReference", f"{ehr.base}/files/notes.ndjson"))
    ehr.bodies["notes.ndjson"] = ndjson([note("moved"), note("fine")])
    ehr.binaries = {"moved": redirect(f"{other.origin}/fhir/Binary/moved"), "fine": binary(10)}
    result = export(ehr, tmp_path, keys, store, binaries=True)
    assert len(result.files["Binary"]) == 1
    assert len(result.binary_errors) == 1 and result.binary_errors[0].startswith("Binary/moved: redirected to")
    assert other.seen == []


# --- files without a token come from allowed hosts only (item 10) --------------------------------

def test_files_without_a_token_come_only_from_the_ehr_or_its_allowed_storage(ehr, other, keys, store, tmp_path):
    ehr.requires_token = False
    ehr.output = [("Patient", f"{ehr.base}/files/Patient.ndjson"), ("Patient", f"{other.origin}/files/Patient.ndjson")]
    with pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path / "refused", keys, store)
    assert "is neither the FHIR server nor a storage host allowed for this EHR" in err.value.message
    assert "1 file(s) downloaded and kept, 1 still to download" in err.value.message
    assert other.seen == []  # an internal service is never asked
    result = export(ehr, tmp_path / "allowed", keys, store, file_hosts=[other.origin])
    assert len(result.files["Patient"]) == 2
    assert [s.bearer for s in other.seen] == [False]


def test_requires_access_token_other_than_false_keeps_the_token_required(ehr, other, keys, store, tmp_path):
    ehr.requires_token = "false"  # a string: not the JSON false the spec means
    ehr.output = [("Patient", f"{other.origin}/files/Patient.ndjson")]
    with pytest.raises(bulk.BulkError, match="on another server .* the token is not sent there"):
        export(ehr, tmp_path, keys, store, file_hosts=[other.origin])
    assert other.seen == []


def test_bulk_file_hosts_in_the_registry():
    base = {"iss": "https://ehr.example/fhir", "client_id": "c"}

    def hosts(value):
        return load_settings({"RADAR_EHRS": json.dumps([{**base, "bulk_file_hosts": value}])}).ehrs[
            "https://ehr.example/fhir"].bulk_file_hosts
    assert hosts(["https://Files.Example:8443/", "http://s3.example"]) == ("https://files.example:8443",
                                                                          "http://s3.example")
    assert load_settings({"RADAR_EHRS": json.dumps([base])}).ehrs["https://ehr.example/fhir"].bulk_file_hosts == ()
    for bad in ("https://files.example", ["files.example"], ["https://files.example/bucket"], ["ftp://x"],
                ["https://user@files.example"]):
        with pytest.raises(ConfigError, match=r"RADAR_EHRS\[0\]\.bulk_file_hosts"):
            hosts(bad)


# --- limits on what the EHR sends (item 6) -------------------------------------------------------

def test_an_endless_file_stops_at_the_file_limit_and_the_rest_is_kept(ehr, keys, store, tmp_path):
    ehr.output.append(("Observation", f"{ehr.base}/files/endless.ndjson"))
    ehr.bodies["endless.ndjson"] = endless(64 * MIB)
    with pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path, keys, store, limits=BulkLimits(file_bytes=MIB))
    assert err.value.message == (
        "file Observation.1.ndjson: larger than allowed for one file (1 MiB, RADAR_BULK_MAX_FILE_MB); not kept; "
        "1 file(s) downloaded and kept, 1 still to download: run again with the same output directory to resume")
    assert (tmp_path / "Patient.1.ndjson").exists()
    assert not (tmp_path / "Observation.1.ndjson").exists() and not list(tmp_path.glob("*.part"))
    state = json.loads((tmp_path / "export-state.json").read_text())
    assert [f["done"] for f in state["files"]] == [True, False]


def test_a_gzip_bomb_is_cut_at_the_file_limit_after_decompression(ehr, keys, store, tmp_path):
    ehr.bodies["Patient.ndjson"] = gzip_bomb(64 * MIB)
    with pytest.raises(bulk.BulkError, match=r"larger than allowed for one file \(1 MiB, RADAR_BULK_MAX_FILE_MB\)"):
        export(ehr, tmp_path, keys, store, limits=BulkLimits(file_bytes=MIB))
    assert sum(p.stat().st_size for p in tmp_path.rglob("*.ndjson*")) == 0


def test_a_gzip_file_within_the_limits_is_decompressed(ehr, keys, store, tmp_path):
    ehr.bodies["Patient.ndjson"] = gzip_bomb(3 * MIB)
    result = export(ehr, tmp_path, keys, store, limits=BulkLimits(file_bytes=4 * MIB))
    with open(result.files["Patient"][0]) as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == 3 * MIB // len(json.dumps(PATIENT) + "\n") and lines[0] == PATIENT


def test_the_export_as_a_whole_is_capped(ehr, keys, store, tmp_path):
    ehr.output = [("Patient", f"{ehr.base}/files/a.ndjson"), ("Patient", f"{ehr.base}/files/b.ndjson")]
    ehr.bodies.update({"a.ndjson": endless(600 << 10), "b.ndjson": endless(600 << 10)})
    with pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path, keys, store, limits=BulkLimits(export_bytes=MIB))
    assert "the export is larger than allowed in all (1 MiB, RADAR_BULK_MAX_EXPORT_MB)" in err.value.message
    assert "run again with the same output directory to resume" in err.value.message


def test_a_giant_line_is_refused(ehr, keys, store, tmp_path):
    ehr.bodies["Patient.ndjson"] = giant_line(4 * MIB)
    with pytest.raises(bulk.BulkError, match=r"a line is longer than allowed \(1 MiB, RADAR_BULK_MAX_LINE_MB\)"):
        export(ehr, tmp_path, keys, store, limits=BulkLimits(line_bytes=MIB))
    assert not list(tmp_path.glob("Patient.*"))


def test_a_huge_binary_is_listed_and_the_others_kept(ehr, keys, store, tmp_path):
    ehr.output.append(("DocumentReference", f"{ehr.base}/files/notes.ndjson"))
    ehr.bodies["notes.ndjson"] = ndjson([note("huge"), note("small")])
    ehr.binaries = {"huge": binary(8 * MIB), "small": binary(1000)}
    result = export(ehr, tmp_path, keys, store, binaries=True, limits=BulkLimits(binary_bytes=MIB))
    assert result.binary_errors == [
        "Binary/huge: larger than allowed for one attachment (1 MiB, RADAR_BULK_MAX_BINARY_MB); not read"]
    with open(result.files["Binary"][0]) as f:
        assert [json.loads(line)["id"] for line in f] == ["small"]
    assert not list(tmp_path.glob(".*.part"))


def test_a_slow_drip_ends_with_the_runs_deadline(ehr, keys, store, tmp_path):
    clock = Clock()
    ehr.bodies["Patient.ndjson"] = drip(clock, 30, 2000)  # each byte "takes" 30 s: 2000 bytes are ~17 h
    with pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path, keys, store, clock=clock, limits=BulkLimits(deadline=600))
    assert "the export has taken longer than allowed (600 s, RADAR_BULK_DEADLINE)" in err.value.message
    assert "run again with the same output directory to resume" in err.value.message
    assert not list(tmp_path.glob("*.part"))


def test_a_silent_server_meets_the_read_timeout(ehr, keys, store, tmp_path):
    def stall():
        yield b""
        time.sleep(1.5)
        yield (json.dumps(PATIENT) + "\n").encode()
    ehr.bodies["Patient.ndjson"] = lambda: Response(stall(), mimetype="application/fhir+ndjson")
    with pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path, keys, store, limits=BulkLimits(read_timeout=0.2))
    assert "no answer from the EHR after 5 tries (ReadTimeout: nothing came for 0.2 s, RADAR_BULK_READ_TIMEOUT)" \
        in err.value.message


def test_retry_after_is_capped_by_the_longest_backoff(ehr, keys, store, tmp_path):
    clock = Clock()
    ehr.polls = [(503, {"Retry-After": "99999"})] * 3 + [(202, {"Retry-After": "99999"})] * 2
    export(ehr, tmp_path, keys, store, clock=clock)
    longest = BulkLimits().max_backoff
    assert clock.sleeps == [longest] * 5  # the 503s retried, the 202s polled again: each after the longest wait


def test_throttling_with_retry_after_zero_backs_off_exponentially(ehr, keys, store, tmp_path):
    clock = Clock()
    ehr.polls = [(429, {"Retry-After": "0"})] * 400
    with pytest.raises(bulk.BulkError, match=r"has not finished the export in the time allowed \(21600 s, "
                                             r"RADAR_BULK_DEADLINE\); run again with the same output directory"):
        export(ehr, tmp_path, keys, store, clock=clock)
    polls = ehr.requests_to("/status/")
    assert len(polls) <= 25, f"{len(polls)} status requests in {BulkLimits().deadline:g} s of throttling"
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[0] >= BulkLimits().min_backoff
    assert clock.sleeps[-1] == BulkLimits().max_backoff


def test_a_manifest_with_too_many_files_is_refused(ehr, keys, store, tmp_path):
    ehr.output = [("Patient", f"{ehr.base}/files/p{i}.ndjson") for i in range(bulk.MAX_FILES + 1)]
    with pytest.raises(bulk.BulkError, match="the manifest lists 10,001 files, more than the 10,000"):
        export(ehr, tmp_path, keys, store)
    assert not ehr.requests_to("/fhir/files/")


@pytest.mark.parametrize("extra, message", [
    ({"error": 5}, "the manifest's error is not a list"),
    ({"error": [{"type": "../../etc", "url": "x"}]}, "the manifest's error[0] has no usable type and url"),
    ({"output": [{"type": "Patient", "url": "file:///etc/passwd"}]}, "neither the FHIR server nor a storage host"),
])
def test_manifest_fields_an_attacker_chose(ehr, keys, store, tmp_path, extra, message):
    ehr.requires_token = False
    ehr.manifest_extra = extra
    with pytest.raises(bulk.BulkError) as err:
        export(ehr, tmp_path, keys, store)
    assert message in err.value.message


def test_an_oversized_answer_is_not_read_into_memory(ehr, keys, store, tmp_path):
    ehr.manifest_extra = {"padding": "x" * (17 * MIB)}
    with pytest.raises(bulk.BulkError, match="export status: the EHR's answer is larger than 16 MiB; not read"):
        export(ehr, tmp_path, keys, store)


def test_an_unknown_content_encoding_is_refused(ehr, keys, store, tmp_path):
    ehr.bodies["Patient.ndjson"] = lambda: Response(b"\x00\x01", headers={"Content-Encoding": "br"})
    with pytest.raises(bulk.BulkError, match="an encoding the client does not read \\('br'\\)"):
        export(ehr, tmp_path, keys, store)


def test_error_files_nested_past_the_limit_or_with_control_characters(ehr, keys, store, tmp_path):
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "processing", "details": {"text": "p9 \x1b[31mskipped\x07"}},
                         {"severity": {"x": 1}, "diagnostics": "odd severity"}, {"details": "not an object"}]}
    ehr.error = [("OperationOutcome", f"{ehr.base}/files/errors.ndjson")]
    ehr.bodies["errors.ndjson"] = lambda: Response(DEEP + "\n" + json.dumps(outcome) + "\n")
    result = export(ehr, tmp_path, keys, store)
    assert result.errors == ["error: p9 [31mskipped", "error: odd severity"]


def test_attachment_ids_skip_a_line_nested_past_the_limit(tmp_path):
    path = tmp_path / "DocumentReference.1.ndjson"
    path.write_text(DEEP + "\n" + json.dumps(note("b1")) + "\n")
    assert attachment_ids([path], "https://ehr.example/fhir", []) == ["b1"]


# --- the limits' settings ------------------------------------------------------------------------

def test_limits_default_without_configuration_and_from_the_environment():
    assert load_settings({}).bulk == BulkLimits()
    limits = load_settings({"RADAR_BULK_MAX_FILE_MB": "10", "RADAR_BULK_MAX_EXPORT_MB": "100",
                            "RADAR_BULK_MAX_LINE_MB": "2", "RADAR_BULK_MAX_BINARY_MB": "3",
                            "RADAR_BULK_READ_TIMEOUT": "30", "RADAR_BULK_DEADLINE": "3600",
                            "RADAR_BULK_MIN_BACKOFF": "2", "RADAR_BULK_MAX_BACKOFF": "600"}).bulk
    assert limits == BulkLimits(file_bytes=10 * MIB, export_bytes=100 * MIB, line_bytes=2 * MIB,
                                binary_bytes=3 * MIB, read_timeout=30, deadline=3600, min_backoff=2, max_backoff=600)


@pytest.mark.parametrize("env, message", [
    ({"RADAR_BULK_MAX_FILE_MB": "0"}, "RADAR_BULK_MAX_FILE_MB: 0 is out of range"),
    ({"RADAR_BULK_MAX_LINE_MB": "lots"}, "RADAR_BULK_MAX_LINE_MB: 'lots' is not a whole number"),
    ({"RADAR_BULK_DEADLINE": "0"}, "RADAR_BULK_DEADLINE: 0 is out of range"),
    ({"RADAR_BULK_READ_TIMEOUT": "nan"}, "RADAR_BULK_READ_TIMEOUT: nan is out of range"),
    ({"RADAR_BULK_MIN_BACKOFF": "60", "RADAR_BULK_MAX_BACKOFF": "30"},
     "RADAR_BULK_MIN_BACKOFF: 60 s is more than RADAR_BULK_MAX_BACKOFF (30 s)"),
])
def test_limits_that_make_no_sense_are_refused(env, message):
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert message in str(err.value)
