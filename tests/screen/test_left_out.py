"""Bad input never ends the screen and never vanishes: what the builder leaves out reaches the
bad-input summary per patient (``worklist.screen``) and per task (``spark._screen_partition``), run
in this process; one Spark screen shows both with a nested-bracket line."""
from __future__ import annotations

import json

import pytest

from app.config import CdsThresholds
from app.fetch.build import INVALID, NOT_A_RESOURCE
from app.pipeline import load_knowledge
from app.screen import sources, spark, worklist
from tests.support.exports import bundles, write_per_type

# Slow: local Spark jobs (make check leaves it out).
pytestmark = pytest.mark.slow

PATIENT = {"resourceType": "Patient", "id": "p1"}
NOTE = {"resourceType": "DocumentReference", "id": "d1", "subject": {"reference": "Patient/p1"},
        "category": [{"coding": [{"code": "clinical-note"}]}],
        "content": [{"attachment": {"contentType": "text/plain", "data": "QXRheGlhLg=="}}]}  # no status


def items(*resources):
    return [(sources.order(r, str(n)), r["resourceType"], json.dumps(r)) for n, r in enumerate(resources)]


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def test_a_resource_that_fails_validation_is_named_on_the_line_and_counted(kb):
    result = worklist.screen("p1", items(PATIENT, NOTE), kb, CdsThresholds())
    assert result.left_out == {INVALID: {"DocumentReference: required status missing": 1}}
    assert "resource that failed FHIR validation: 1 left out (DocumentReference: required status missing)" \
        in result.line["gaps"]


def test_the_partition_reports_each_left_out_resource_as_bad_input(kb):
    out = list(spark._screen_partition(iter([("p1", items(PATIENT, NOTE, dict(NOTE, id="d2")))]), (0.5, 0.8), 5))
    bad = [i for i in out if i[0] == "bad"]
    assert bad == [("bad", INVALID, "patient p1: DocumentReference: required status missing")] * 2
    assert [i[0] for i in out].count("line") == 1


def test_a_bundle_line_counts_its_entries_that_are_not_resources():
    bundle = {"resourceType": "Bundle", "entry": [{"resource": PATIENT}, {"fullUrl": "urn:uuid:1"}, 7]}
    got = sources.keyed(json.dumps(bundle), "b.ndjson")
    assert [i[:2] for i in got if i[0] == "res"] == [("res", "p1")]
    assert [i for i in got if i[0] == "bad"] == [("bad", NOT_A_RESOURCE, "b.ndjson: no resource"),
                                                 ("bad", NOT_A_RESOURCE, "b.ndjson: not an object")]


def test_a_nested_bracket_line_and_an_invalid_note_are_counted_and_the_screen_goes_on(tmp_path, spark_local):
    chosen = [b for b in bundles() if b["entry"][0]["resource"]["id"] in ("rd-001", "rd-002")]
    export = write_per_type(tmp_path / "export", chosen)
    with (export / "Condition.9.ndjson").open("w") as fh:
        fh.write("[" * 100_000 + "]" * 100_000 + "\n")
        fh.write('{"a":' * 100_000 + "1" + "}" * 100_000 + "\n")
    note = dict(NOTE, subject={"reference": "Patient/rd-001"})
    (export / "DocumentReference.9.ndjson").write_text(json.dumps(note) + "\n")
    result = spark.screen(spark_local, sources.expand([str(export)]), partitions=2)
    lines = list(result.lines())
    assert sorted(line["patient"] for line in lines) == ["rd-001", "rd-002"]
    assert result.bad_input == {sources.MALFORMED: 2, INVALID: 1}
    assert "Condition.9.ndjson: JSON nested deeper than 100 levels" in result.bad_examples
    assert "patient rd-001: DocumentReference: required status missing" in result.bad_examples
    rd1 = next(line for line in lines if line["patient"] == "rd-001")
    assert "resource that failed FHIR validation: 1 left out (DocumentReference: required status missing)" \
        in rd1["gaps"]
