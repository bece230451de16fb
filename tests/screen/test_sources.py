"""Screening input, pure: lines → items keyed by patient, with bad input counted, never fatal."""
import json

import pytest

from app.fetch.build import NOT_A_RESOURCE
from app.screen import sources

PROBLEM = [{"coding": [{"code": "problem-list-item"}]}]
LAB = [{"coding": [{"code": "laboratory"}]}]
NOTE = [{"coding": [{"code": "clinical-note"}]}]


def items(resource, origin="f.ndjson"):
    return sources.keyed(json.dumps(resource), origin)


def test_a_resource_is_keyed_by_its_subject_relative_or_absolute():
    rel = items({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}, "category": PROBLEM})
    ab = items({"resourceType": "Observation", "id": "o1", "category": LAB,
                "subject": {"reference": "https://ehr.example/fhir/Patient/p2/_history/3"}})
    assert [(i[0], i[1], i[2][1]) for i in rel] == [("res", "p1", "Condition")]
    assert [(i[0], i[1]) for i in ab] == [("res", "p2")]
    assert json.loads(rel[0][2][2])["id"] == "c1"


def test_a_patient_is_keyed_by_its_id_and_a_patient_without_id_is_bad():
    assert items({"resourceType": "Patient", "id": "p1"})[0][:2] == ("res", "p1")
    assert items({"resourceType": "Patient"})[0][:2] == ("bad", sources.NO_PATIENT)


def test_a_note_names_the_binaries_it_points_at_and_a_binary_waits_for_the_join():
    doc = {"resourceType": "DocumentReference", "id": "d1", "subject": {"reference": "Patient/p1"}, "category": NOTE,
           "content": [{"attachment": {"url": "Binary/b1"}}, {"attachment": {"url": "https://ehr/fhir/Binary/b2"}},
                       {"attachment": {"url": "https://elsewhere.example/doc.pdf"}}]}
    got = items(doc)
    assert [i[:3] for i in got if i[0] == "ref"] == [("ref", "b1", "p1"), ("ref", "b2", "p1")]
    report = {"resourceType": "DiagnosticReport", "id": "r1", "subject": {"reference": "Patient/p1"},
              "presentedForm": [{"url": "Binary/b3"}]}
    assert [i[1] for i in items(report) if i[0] == "ref"] == ["b3"]
    assert items({"resourceType": "Binary", "id": "b1", "data": "aGk="})[0][:2] == ("bin", "b1")


@pytest.mark.parametrize("line, kind", [
    ("{not json", sources.MALFORMED),
    ("[1, 2]", sources.MALFORMED),
    ('{"id": "x"}', sources.MALFORMED),
    ('{"resourceType": "Condition", "id": "c"}', sources.NO_PATIENT),
    ('{"resourceType": "Observation", "subject": {"reference": "Group/g"}}', sources.NO_PATIENT),
    ('{"resourceType": "Binary"}', sources.MALFORMED),
])
def test_bad_lines_become_bad_items_with_an_example(line, kind):
    got = sources.keyed(line, "Condition.3.ndjson")
    assert len(got) == 1 and got[0][:2] == ("bad", kind)
    assert got[0][2].startswith("Condition.3.ndjson: ")


def test_unused_types_are_skipped_by_name_and_blank_lines_are_nothing():
    assert items({"resourceType": "Encounter", "id": "e"}) == [("skip", "Encounter", "")]
    assert sources.keyed("   \n") == []


def test_a_bundle_gives_its_resources_to_its_one_patient():
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p9"}},
        {"resource": {"resourceType": "Condition", "id": "c"}},  # no subject: the Bundle's patient
        {"resource": {"resourceType": "Binary", "id": "b", "data": "aGk="}},
        {"resource": {"resourceType": "OperationOutcome"}},
        "not an entry"]}
    got = items(bundle)
    assert [(i[0], i[1], i[2][1]) for i in got if i[0] == "res"] == [
        ("res", "p9", "Patient"), ("res", "p9", "Condition"), ("res", "p9", "Binary")]
    # Nothing goes unsaid: the server's message is skipped by name, an entry that is not one is bad input.
    assert [i for i in got if i[0] != "res"] == [("bad", NOT_A_RESOURCE, "f.ndjson: not an object"),
                                                ("skip", "OperationOutcome", "")]


@pytest.mark.parametrize("patients", [0, 2])
def test_a_bundle_without_exactly_one_patient_is_bad(patients):
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": f"p{i}"}}
                                                  for i in range(patients)]}
    assert [i[:2] for i in items(bundle)] == [("bad", sources.BAD_BUNDLE)]


def test_a_resource_of_another_patient_inside_a_bundle_is_bad_not_moved():
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}},
        {"resource": {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p2"}}}]}
    assert [i[:2] for i in items(bundle)] == [("res", "p1"), ("bad", sources.NO_PATIENT)]


def test_order_puts_the_newest_version_first_and_missing_dates_last():
    new = sources.order({"meta": {"lastUpdated": "2026-11-30T10:00:00Z"}}, "b")
    old = sources.order({"meta": {"lastUpdated": "2026-01-01T10:00:00Z"}}, "a")
    undated = sources.order({}, "a")
    assert sorted([undated, old, new]) == [new, old, undated]


def test_expand_reads_directories_recursively_in_order_and_refuses_what_is_not_there(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/Patient.1.ndjson", "Condition.1.ndjson.gz", "notes.txt", "x.jsonl"):
        (tmp_path / name).write_text("")
    assert [p.rsplit("/", 1)[1] for p in sources.expand([str(tmp_path)])] == [
        "Condition.1.ndjson.gz", "Patient.1.ndjson", "x.jsonl"]
    assert sources.expand(["s3a://bucket/export/"]) == ["s3a://bucket/export/"]
    with pytest.raises(sources.InputError, match="no such file"):
        sources.expand([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(sources.InputError, match="no .ndjson"):
        sources.expand([str(tmp_path / "empty")])


def test_export_resources_outside_the_charts_searches_are_skipped_but_a_bundle_is_taken_whole():
    subject = {"reference": "Patient/p1"}
    vital = {"resourceType": "Observation", "id": "v", "subject": subject,
             "category": [{"coding": [{"code": "vital-signs"}]}]}
    lab = dict(vital, id="l", category=[{"coding": [{"code": "laboratory"}]}])
    uncategorised = {"resourceType": "Condition", "id": "c", "subject": subject}
    problem = dict(uncategorised, category=[{"coding": [{"code": "problem-list-item"}]}])
    letter = {"resourceType": "DocumentReference", "id": "d", "subject": subject,
              "category": [{"coding": [{"code": "correspondence"}]}], "content": [{"attachment": {"url": "Binary/b"}}]}
    assert items(vital) == [("skip", "Observation outside the chart's categories", "")]
    assert items(uncategorised) == [("skip", "Condition outside the chart's categories", "")]
    assert items(letter) == [("skip", "DocumentReference outside the chart's categories", "")]
    assert items(lab)[0][:2] == items(problem)[0][:2] == ("res", "p1")
    report = {"resourceType": "DiagnosticReport", "id": "r", "subject": subject}
    assert items(report)[0][:2] == ("res", "p1")  # the chart reads every report
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}},
                                                  {"resource": vital}, {"resource": uncategorised}]}
    assert [i[0] for i in items(bundle)] == ["res", "res", "res"]


def test_unreadable_files_are_set_apart_by_name(tmp_path):
    import gzip

    good = tmp_path / "Patient.1.ndjson.gz"
    with gzip.open(good, "wt") as fh:
        fh.write("{}\n")
    broken = tmp_path / "Condition.1.ndjson.gz"
    broken.write_bytes(b"this is not gzip")
    plain = tmp_path / "Observation.1.ndjson"
    plain.write_text("")
    ok, bad = sources.readable([str(good), str(broken), str(plain), "s3a://bucket/x.ndjson"])
    assert ok == [str(good), str(plain), "s3a://bucket/x.ndjson"]
    assert bad == ["Condition.1.ndjson.gz: BadGzipFile"]


@pytest.mark.parametrize("line", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
                         ids=["brackets", "objects"])
def test_a_deeply_nested_line_is_malformed_input_not_the_end_of_the_screen(line):
    got = sources.keyed(line, "Condition.1.ndjson")
    assert got == [("bad", sources.MALFORMED, "Condition.1.ndjson: JSON nested deeper than 100 levels")]
