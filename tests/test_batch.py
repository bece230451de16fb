"""`radar rank`: FHIR Bundles in, NDJSON out (the README's contract), bad lines reported, run continues.

Run in-process through ``app.cli.main``; one test runs the console entry point as a subprocess."""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "launch" / "data" / "patients.ndjson.gz"
RADAR = [sys.executable, "-m", "app.cli"]


def bundles(ids):
    out = {}
    with gzip.open(DATA, "rt") as fh:
        for line in fh:
            b = json.loads(line)
            pid = b["entry"][0]["resource"]["id"]
            if pid in ids:
                out[pid] = line.strip()
    return [out[i] for i in ids]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(args, stdin=None) -> Result:
    """``radar ARGS`` in this process, with ``stdin`` as standard input; what it printed and returned."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        sys.stdin = saved
    return Result(code, out.getvalue(), err.getvalue())


def test_console_entry_point():
    result = subprocess.run(RADAR + ["rank", "-"], input=bundles(["rd-003"])[0], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["patient"] == "rd-003"


@pytest.fixture(scope="module")
def ndjson(tmp_path_factory):
    path = tmp_path_factory.mktemp("rank") / "in.ndjson"
    lines = bundles(["rd-001", "rd-002"])
    path.write_text("\n".join([lines[0], "{not json", '{"resourceType": "Patient", "id": "x"}',
                               '{"resourceType": "Bundle", "type": "collection", "entry": []}', lines[1]]) + "\n")
    return path


def test_contract_and_order(ndjson):
    result = run(["rank", str(ndjson), "--top", "5"])
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(lines) == 5
    first, last = lines[0], lines[4]
    assert first["patient"] == "rd-001" and last["patient"] == "rd-002"
    for line in (first, last):
        assert set(line) == {"patient", "engine", "phenotypes", "suggestions"} and line["engine"] == "phenotype"
        assert line["phenotypes"] and all(set(p) == {"hpo", "label", "status", "source"} for p in line["phenotypes"])
        assert all(p["status"] in ("present", "absent") and p["hpo"].startswith("HP:") for p in line["phenotypes"])
        assert 1 <= len(line["suggestions"]) <= 5
        for rank, s in enumerate(line["suggestions"], 1):
            assert set(s) == {"rank", "name", "orpha", "omim", "score", "url"} and s["rank"] == rank
            assert s["url"].startswith(("https://www.orpha.net/en/disease/detail/", "https://omim.org/entry/"))
            if s["orpha"]:
                assert s["url"] == f"https://www.orpha.net/en/disease/detail/{s['orpha'].split(':')[1]}"
        scores = [s["score"] for s in line["suggestions"]]
        assert scores == sorted(scores, reverse=True)
    errors = lines[1:4]
    assert [e["line"] for e in errors] == [2, 3, 4]
    assert "invalid JSON" in errors[0]["error"]
    assert errors[1]["error"] == "not a FHIR Bundle" and errors[2]["error"] == "the Bundle has no Patient"


def test_single_pretty_printed_bundle_from_stdin():
    bundle = json.dumps(json.loads(bundles(["rd-003"])[0]), indent=2)
    result = run(["rank", "-"], stdin=bundle)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["patient"] == "rd-003"


def test_nothing_readable_exits_non_zero():
    result = run(["rank", "-"], stdin="garbage\n[]\n")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 2 and "nothing could be read" in result.stderr


def test_empty_record_has_no_suggestions():
    result = run(["rank", "-"], stdin=bundles(["edge-empty"])[0])
    line = json.loads(result.stdout)
    assert result.returncode == 0 and line["phenotypes"] == [] and line["suggestions"] == []


def test_missing_file_is_a_clear_error():
    result = run(["rank", "/no/such/file.ndjson"])
    assert result.returncode == 2 and "cannot read /no/such/file.ndjson" in result.stderr
