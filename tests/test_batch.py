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
DATA = ROOT / "dev" / "data" / "patients.ndjson.gz"
RADAR = [sys.executable, "-m", "app.cli"]
KEYS = {"patient", "engine", "rare_disease_probability", "flagged", "signal", "phenotypes", "suggestions", "next_steps",
        "background"}
SUGGESTION_KEYS = {"rank", "name", "orpha", "omim", "score", "probability", "url"}
EXPLANATION_KEYS = {"evidence", "tells_apart"}


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


@pytest.mark.slow  # a new Python process loads the knowledge
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
        # rd-001's problem list names a rare diagnosis ("Choanal atresia, bilateral"): its line says what it explains.
        assert set(line) == KEYS | ({"documented"} if line["patient"] == "rd-001" else set()) and line["engine"] == "phenotype"
        assert line["phenotypes"] and all(set(p) == {"hpo", "label", "status", "source"} for p in line["phenotypes"])
        assert all(p["status"] in ("present", "absent") and p["hpo"].startswith("HP:") for p in line["phenotypes"])
        assert 1 <= len(line["suggestions"]) <= 5
        for rank, s in enumerate(line["suggestions"], 1):
            # The first three carry the chart's explanation (issue 22): evidence and what tells them apart.
            assert set(s) == SUGGESTION_KEYS | (EXPLANATION_KEYS if rank <= 3 else set()) and s["rank"] == rank
            assert s["url"].startswith(("https://www.orpha.net/en/disease/detail/", "https://omim.org/entry/"))
            if s["orpha"]:
                assert s["url"] == f"https://www.orpha.net/en/disease/detail/{s['orpha'].split(':')[1]}"
        scores = [s["score"] for s in line["suggestions"]]
        assert scores == sorted(scores, reverse=True)
        # The card's level and what it rests on (issue 22, item 3): the top candidate is always a step.
        assert line["signal"] in (None, "info", "warning") and line["flagged"] == (line["signal"] is not None)
        steps = line["next_steps"]
        assert steps and all(set(st) == {"kind", "text", "probability", "diseases"} for st in steps)
        assert {st["kind"] for st in steps} <= {"candidate", "test", "referral"}
        assert [st["probability"] for st in steps] == sorted((st["probability"] for st in steps), reverse=True)
        top = next(st for st in steps if st["kind"] == "candidate")
        assert top["diseases"] == [line["suggestions"][0]["name"]]
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


SCREENED = ["rd-008", "rd-004", "rd-015", "rd-017", "rd-033", "edge-empty", "edge-manylabs"]


@pytest.fixture(scope="module")
def screened():
    """``radar rank`` lines of a mix: rare-disease patients, ones whose diagnosis is on the problem list, edge cases."""
    result = run(["rank", "-"], stdin="\n".join(bundles(SCREENED)) + "\n")
    assert result.returncode == 0, result.stderr
    return {line["patient"]: line for line in map(json.loads, result.stdout.splitlines())}


def test_probabilities_are_probabilities(screened):
    for pid, line in screened.items():
        p = line["rare_disease_probability"]
        assert isinstance(p, float) and 0.0 <= p <= 1.0 and round(p, 4) == p, pid
        assert isinstance(line["flagged"], bool)
        probabilities = [s["probability"] for s in line["suggestions"]]
        assert all(isinstance(q, float) and 0.0 <= q <= 1.0 and round(q, 4) == q for q in probabilities), pid
        assert probabilities == sorted(probabilities, reverse=True), pid
        # The suggestions share P(rare) out among themselves (the known share is not theirs): rounding aside.
        assert sum(probabilities) <= p + 1e-3 <= 1.0 + 1e-3, pid


def test_flagged_is_the_cds_decision(screened):
    from app.cds.card import decide
    from app.config import CdsThresholds
    from app.fetch.files import record_from_bundle
    from app.pipeline import analyse, load_knowledge, signal

    kb = load_knowledge()
    for pid, raw in zip(SCREENED, bundles(SCREENED), strict=False):
        analysis = analyse(record_from_bundle(json.loads(raw)), kb, top=10)
        line = screened[pid]
        assert line["flagged"] == (decide(analysis, CdsThresholds()) is not None) == (
            signal(analysis, CdsThresholds()) is not None), pid
        assert line["rare_disease_probability"] == round(analysis.rare_probability, 4), pid
        assert line["flagged"] == (line["rare_disease_probability"] >= CdsThresholds().min_probability
                                   and len(line["suggestions"]) > 0), pid


def test_rare_disease_patients_are_flagged_and_the_empty_record_is_not(screened):
    assert screened["rd-008"]["flagged"] and screened["rd-004"]["flagged"]
    assert screened["rd-008"]["rare_disease_probability"] >= 0.9
    empty = screened["edge-empty"]
    assert not empty["flagged"] and empty["rare_disease_probability"] < 0.1  # about the base rate
    # The diagnosis is on the problem list (rd-017: itself; rd-033: MODY, its group): nothing rare left to find.
    for pid in ("rd-017", "rd-033"):
        assert not screened[pid]["flagged"] and screened[pid]["rare_disease_probability"] < 0.05, pid


def test_flagged_follows_the_configured_threshold(screened, monkeypatch):
    # A patient with suggestions whose P(rare) leaves room on both sides of a threshold.
    pid, p = next((pid, line["rare_disease_probability"]) for pid, line in sorted(screened.items())
                  if line["suggestions"] and 0.01 < line["rare_disease_probability"] < 0.99)
    bundle = bundles([pid])[0]
    monkeypatch.setenv("RADAR_CDS_WARNING_PROBABILITY", "1")
    monkeypatch.setenv("RADAR_CDS_MIN_PROBABILITY", f"{min(1.0, p + 0.001):.4f}")
    assert json.loads(run(["rank", "-"], stdin=bundle).stdout)["flagged"] is False
    monkeypatch.setenv("RADAR_CDS_MIN_PROBABILITY", f"{max(0.0001, p - 0.001):.4f}")
    assert json.loads(run(["rank", "-"], stdin=bundle).stdout)["flagged"] is True


def test_bad_threshold_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("RADAR_CDS_MIN_PROBABILITY", "1.5")
    result = run(["rank", "-"], stdin=bundles(["rd-003"])[0])
    assert result.returncode == 2 and "RADAR_CDS_MIN_PROBABILITY" in result.stderr and result.stdout == ""


def test_without_settings_the_default_thresholds_apply():
    from app.batch import rank_stream
    from app.pipeline import load_knowledge

    out = io.StringIO()
    assert rank_stream(io.StringIO(bundles(["rd-008"])[0]), out, load_knowledge(), top=3) == (1, 0)
    line = json.loads(out.getvalue())
    assert set(line) == KEYS and line["flagged"] is True and len(line["suggestions"]) == 3


def test_missing_file_is_a_clear_error():
    result = run(["rank", "/no/such/file.ndjson"])
    assert result.returncode == 2 and "cannot read /no/such/file.ndjson" in result.stderr


@pytest.mark.parametrize("deep", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
                         ids=["brackets", "objects"])
def test_a_deeply_nested_line_is_bad_input_and_the_lines_after_it_are_ranked(deep):
    first, last = bundles(["rd-001", "rd-002"])
    result = run(["rank", "-"], stdin="\n".join([first, deep, last]) + "\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [line.get("patient") for line in lines] == ["rd-001", None, "rd-002"]
    assert lines[1] == {"line": 2, "patient": None, "error": "JSON nested deeper than 100 levels"}


def test_a_broken_first_line_does_not_hide_the_bundles_after_it():
    result = run(["rank", "-"], stdin="{not json\n" + bundles(["rd-003"])[0] + "\n")
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert result.returncode == 0 and [line.get("patient") for line in lines] == [None, "rd-003"]
    assert "invalid JSON" in lines[0]["error"]


def test_a_note_that_fails_validation_is_a_gap_not_a_silent_loss():
    bundle = json.loads(bundles(["rd-008"])[0])
    notes = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert notes
    del notes[0]["status"]
    result = run(["rank", "-"], stdin=json.dumps(bundle) + "\n")
    line = json.loads(result.stdout)
    assert result.returncode == 0 and line["patient"] == "rd-008"
    assert "resource that failed FHIR validation: 1 left out (DocumentReference: required status missing)" \
        in line["gaps"]
