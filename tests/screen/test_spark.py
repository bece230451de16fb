"""The screen on a real local Spark: every patient once, the same decision as the CDS card and
`radar rank`, the same result whatever shape the input has, bad input counted, knowledge loaded
once per executor process."""
from __future__ import annotations

import io
import json

import pytest

from app.batch import rank_stream
from app.pipeline import load_knowledge
from app.screen import sources, spark, worklist
from app.screen.progress import Bar
from app.screen.progress import line as progress_line
from tests.support.exports import PATIENTS, bundles, write_per_type

# Slow: each test runs a local Spark job (make check leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def from_bundles():
    from app.screen.spark import session

    result = spark.screen(session("local[2]"), [str(PATIENTS)], partitions=3)
    return result, list(result.lines())


def test_every_patient_once_in_worklist_order(from_bundles):
    result, lines = from_bundles
    ids = [b["entry"][0]["resource"]["id"] for b in bundles()]
    assert sorted(line["patient"] for line in lines) == sorted(ids)
    assert result.patients == len(ids) == 69
    assert lines == sorted(lines, key=worklist.sort_key)
    empty = next(line for line in lines if line["patient"] == "edge-empty")
    assert empty["findings"] == 0 and empty["flagged"] is False and empty["suggestions"] == []


def test_the_decision_is_the_cds_cards_and_radar_ranks(from_bundles):
    _, lines = from_bundles
    out = io.StringIO()
    with PATIENTS.open("rb") as raw:
        import gzip

        rank_stream(io.StringIO(gzip.decompress(raw.read()).decode()), out, load_knowledge(), top=10)
    ranked = {line["patient"]: line for line in map(json.loads, out.getvalue().splitlines())}
    for line in lines:
        want = ranked[line["patient"]]
        assert (line["flagged"], line["rare_disease_probability"]) == (want["flagged"], want["rare_disease_probability"])
        assert [s["name"] for s in line["suggestions"]] == [s["name"] for s in want["suggestions"][:worklist.TOP]]
    flagged = [line for line in lines if line["flagged"]]
    assert 50 <= len(flagged) < len(lines)  # most sandbox patients carry a rare disease; the edge cases do not


def test_worklist_lines_hold_the_contract(from_bundles):
    _, lines = from_bundles
    top = lines[0]
    assert set(top) >= {"patient", "rare_disease_probability", "flagged", "signal", "findings", "suggestions", "evidence"}
    assert top["signal"] == "warning" and 1 <= len(top["suggestions"]) <= worklist.TOP
    assert set(top["suggestions"][0]) == {"rank", "name", "orpha", "omim", "probability", "url"}
    sources_of = {e["source"].split("/")[0] for line in lines for e in line["evidence"]}
    assert sources_of <= {"Condition", "Observation", "DocumentReference", "DiagnosticReport"}
    assert all(e["hpo"].startswith("HP:") and e["label"] for line in lines for e in line["evidence"])


def test_the_gaps_of_a_record_are_on_its_line_and_counted_as_bad_input(from_bundles):
    result, lines = from_bundles
    malformed = next(line for line in lines if line["patient"] == "edge-malformed")
    assert any("could not be read" in g for g in malformed["gaps"])
    assert result.bad_input == {sources.UNREADABLE_ATTACHMENT: 3}
    assert result.skipped == {"Practitioner": 68, "Encounter": 68}


def test_knowledge_is_loaded_once_per_executor_process(from_bundles):
    result, _ = from_bundles
    assert result.processes and all(p["loads"] == 1 for p in result.processes)
    assert sum(p["patients"] for p in result.processes) == 69
    assert sum(p["tasks"] for p in result.processes) == 3


def test_per_type_shuffled_export_files_give_the_same_worklist_and_bad_input_is_counted(tmp_path, spark_local,
                                                                                       from_bundles):
    _, expected = from_bundles
    export = write_per_type(tmp_path / "export", bundles())
    with (export / "Condition.9.ndjson").open("w") as fh:
        fh.write("{broken\n")
        fh.write(json.dumps({"resourceType": "Condition", "id": "lost"}) + "\n")  # no subject
        fh.write(json.dumps({"resourceType": "Condition", "id": "ghost-c", "subject": {"reference": "Patient/ghost"},
                             "category": [{"coding": [{"code": "problem-list-item"}]}]}) + "\n")
    (export / "Binary.9.ndjson").write_text(json.dumps({"resourceType": "Binary", "id": "orphan", "data": "aGk="}) + "\n")
    drawn = io.StringIO()
    result = spark.screen(spark_local, sources.expand([str(export)]), partitions=4,
                          progress=Bar(drawn, every=0.05, force=True))
    assert list(result.lines()) == expected
    assert "\r[" in drawn.getvalue() and " patients " in drawn.getvalue() and drawn.getvalue().endswith("\n")
    assert result.bad_input == {sources.UNREADABLE_ATTACHMENT: 3, sources.MALFORMED: 1, sources.NO_PATIENT: 1,
                                sources.NO_PATIENT_RESOURCE: 1, sources.UNBOUND_BINARY: 1}
    assert any(e.startswith("Condition.9.ndjson: invalid JSON") for e in result.bad_examples)


def test_an_incremental_export_on_top_of_a_base_wins_with_its_newer_versions(tmp_path, spark_local):
    chosen = [b for b in bundles() if b["entry"][0]["resource"]["id"] in ("rd-001", "rd-002")]
    base = write_per_type(tmp_path / "base", chosen)
    conditions = [e["resource"] for e in chosen[0]["entry"] if e["resource"]["resourceType"] == "Condition"]
    newer = [dict(c, verificationStatus={"coding": [{"code": "entered-in-error"}]},
                  meta={"lastUpdated": "2099-01-01T00:00:00Z"}) for c in conditions]
    (tmp_path / "increment").mkdir()
    (tmp_path / "increment" / "Condition.1.ndjson").write_text("".join(json.dumps(c) + "\n" for c in newer))
    before = {line["patient"]: line for line in spark.screen(spark_local, sources.expand([str(base)])).lines()}
    after = {line["patient"]: line for line in
             spark.screen(spark_local, sources.expand([str(base), str(tmp_path / "increment")])).lines()}
    assert after["rd-002"] == before["rd-002"]
    assert not any(e["source"].startswith("Condition/") for e in after["rd-001"]["evidence"])
    assert after["rd-001"] != before["rd-001"]


def test_the_progress_line_says_patients_rate_share_and_time_left():
    assert progress_line(0, 0.0, 0, 0).startswith("[........................]")
    half = progress_line(500, 10.0, 4, 8)
    assert "      500 patients" in half and "50/s" in half and "4/8 tasks" in half and "~10 s left" in half
    assert "left" not in progress_line(1000, 20.0, 8, 8)
    assert "~2 min left" in progress_line(10, 60.0, 1, 3)
