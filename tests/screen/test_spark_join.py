"""The screen's grouping (``spark.patients``): each patient's resources once, a Binary with every
patient whose note points at it, a Binary no note points at under ``UNBOUND``, bad and skipped input
not among the patients' resources but counted per input partition under ``TALLY``; the items are
what ``sources.keyed`` made of each line."""
from __future__ import annotations

import json

import pytest

from app.screen import sources, spark

pytestmark = pytest.mark.slow


def _note(nid: str, patient: str, binary: str) -> dict:
    return {"resourceType": "DocumentReference", "id": nid, "status": "current",
            "subject": {"reference": f"Patient/{patient}"},
            "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                      "code": "clinical-note"}]}],
            "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{binary}"}}]}


def test_binaries_go_to_every_patient_whose_note_points_at_them(tmp_path, spark_local):
    shared = {"resourceType": "Binary", "id": "shared", "contentType": "text/plain", "data": "aGk="}
    lines = [
        {"resourceType": "Patient", "id": "a", "meta": {"lastUpdated": "2024-01-01T00:00:00Z"}},
        {"resourceType": "Patient", "id": "b"},
        {"resourceType": "Patient", "id": "c"},
        _note("n1", "a", "shared"), _note("n2", "b", "shared"), _note("n3", "b", "own"), _note("n4", "a", "shared"),
        shared, dict(shared), {"resourceType": "Binary", "id": "own", "data": "eW8="},
        {"resourceType": "Binary", "id": "orphan", "data": "eA=="},
        {"resourceType": "Encounter", "id": "e", "subject": {"reference": "Patient/a"}},
    ]
    path = tmp_path / "input.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + "{broken\n")
    grouped, _ = spark.patients(spark_local, [str(path)], partitions=3)
    with spark.pyspark_sockets():
        pairs = grouped.collect()
    tallies = [(pid, group) for pid, group in pairs if pid.startswith(spark.TALLY)]
    pairs = [(pid, group) for pid, group in pairs if not pid.startswith(spark.TALLY)]
    got = {pid: sorted(group) for pid, group in pairs}
    assert len(pairs) == len(got)  # each patient once

    expected: dict[str, list] = {}
    for line in path.read_text().splitlines():
        for item in sources.keyed(line, "input.ndjson"):
            if item[0] == "res":
                expected.setdefault(item[1], []).append(item[2])
    binary = ("~", "Binary", json.dumps(shared))
    for pid in ("a", "b"):  # "shared" twice in the input: twice for each patient, whatever number of notes
        expected[pid] += [binary, binary]
    expected["b"].append(("~", "Binary", json.dumps(lines[9])))
    expected[spark.UNBOUND] = [("~", "Binary", json.dumps(lines[10]))]
    assert got == {pid: sorted(group) for pid, group in expected.items()}
    assert all(type(item) is tuple for group in got.values() for item in group)
    counts, examples = spark.input_counts(tallies)
    assert counts == {("bad", sources.MALFORMED): 1, ("skip", "Encounter"): 1}
    assert examples == [next(i[2] for i in sources.keyed("{broken", "input.ndjson"))]


def test_a_patient_whose_id_looks_like_a_tally_stays_a_patient(tmp_path, spark_local):
    """Patient ids are the input's: one that starts like ``TALLY`` keeps its resources, and the
    partition's counts are still read."""
    pid = spark.TALLY + "000000000"
    lines = [{"resourceType": "Patient", "id": pid},
             {"resourceType": "Encounter", "id": "e", "subject": {"reference": "Patient/x"}}]
    path = tmp_path / "input.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    grouped, _ = spark.patients(spark_local, [str(path)], partitions=1)
    with spark.pyspark_sockets():
        pairs = grouped.collect()
    (group,) = [g for p, g in pairs if p == pid]
    tally, resources = spark.tally_rows(pid, group)
    assert [r[1] for r in resources] == ["Patient"]
    assert spark.input_counts([(pid, tally)])[0] == {("skip", "Encounter"): 1}
