"""Pure helpers over FHIR dicts: nothing invented, missing values stay missing."""
from datetime import date

import pytest

from app import record as rec
from app.fetch.notes import clean, excerpt, pick_attachment, to_text

LOINC = "http://loinc.org"


def obs(value=None, unit="mg/dL", low=None, high=None, flag=None, status="final", **extra):
    o = {"resourceType": "Observation", "id": "o1", "status": status,
         "code": {"coding": [{"system": LOINC, "code": "2345-7", "display": "Glucose"}]},
         "effectiveDateTime": "2026-01-02T10:00:00Z", **extra}
    if value is not None:
        o["valueQuantity"] = {"value": value, "unit": unit}
    if low is not None or high is not None:
        o["referenceRange"] = [{**({"low": {"value": low, "unit": unit}} if low is not None else {}),
                                **({"high": {"value": high, "unit": unit}} if high is not None else {})}]
    if flag:
        o["interpretation"] = [{"coding": [{"system": rec.INTERPRETATION_SYSTEM, "code": flag}]}]
    return o


def test_coded_flag_wins():
    assert rec.interpretation(obs(90, low=70, high=100, flag="H")) == "H"


def test_flag_computed_from_range_when_missing():
    assert rec.interpretation(obs(150, low=70, high=100)) == "H"
    assert rec.interpretation(obs(50, low=70, high=100)) == "L"
    assert rec.interpretation(obs(80, low=70, high=100)) == "N"
    assert rec.interpretation(obs(150, high=100)) == "H"


def test_no_flag_without_range_or_value():
    assert rec.interpretation(obs(150)) is None
    assert rec.interpretation(obs(None, low=70, high=100)) is None


def test_abnormal_labs_keep_value_unit_range_and_mark_computed_flags():
    rows = rec.abnormal_labs([obs(150, low=70, high=100), obs(80, low=70, high=100, id="o2"),
                              obs(30, flag="LL", id="o3"), obs(300, status="entered-in-error", id="o4")])
    assert [r["ref"] for r in rows] == ["Observation/o1", "Observation/o3"]
    first = rows[0]
    assert first["value"] == "150 mg/dL" and first["range"] == "70–100 mg/dL" and first["flag_computed"]
    assert rows[1]["range"] is None and not rows[1]["flag_computed"]


def test_lab_value_never_invents_a_unit():
    o = obs(5.1)
    o["valueQuantity"] = {"value": 5.1}
    assert rec.lab_value(o) == "5.1"
    assert rec.lab_value(obs(None)) is None


def test_banner_missing_values_are_none():
    b = rec.banner({"resourceType": "Patient", "id": "p"}, date(2026, 11, 25))
    assert b == {"name": None, "gender": None, "birth_date": None, "age": None, "mrn": None}


def test_banner_name_age_mrn():
    p = {"name": [{"use": "usual", "given": ["Al"]}, {"use": "official", "given": ["Alice", "B"], "family": "Smith"}],
         "birthDate": "2010-12-01", "gender": "female",
         "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": "123"}]}
    b = rec.banner(p, date(2026, 11, 25))
    assert b["name"] == "Alice B Smith" and b["age"] == 15 and b["mrn"] == "123"


def test_problems_skip_entered_in_error_and_describe_codes():
    cs = [{"id": "c1", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1", "display": "Ataxia"}]},
           "category": [{"coding": [{"code": "problem-list-item"}]}]},
          {"id": "c2", "code": {"text": "short stature"}, "verificationStatus": {"coding": [{"code": "entered-in-error"}]}},
          {"id": "c3", "code": {"text": "short stature"}}]
    rows = rec.problems(cs)
    assert [r["text"] for r in rows] == ["Ataxia", "short stature"]
    assert rows[0]["code"] == "SNOMED 1" and rows[0]["category"] == "problem list item" and rows[1]["code"] is None


def test_record_round_trip():
    r = rec.PatientRecord(patient_id="p", notes=[rec.Note(ref="DocumentReference/1", kind="note", title="t", date=None,
                                                           content_type="text/plain", text="x")])
    assert rec.PatientRecord.from_dict(r.to_dict()) == r


def test_note_conversions():
    html = b"<html><head><style>p{}</style></head><body><p>Has <b>ataxia</b>.</p><script>alert(1)</script></body></html>"
    assert to_text("text/html; charset=utf-8", html) == "Has ataxia."
    assert to_text("text/rtf", rb"{\rtf1\ansi\pard No seizures.\par}") == "No seizures."
    assert to_text("text/plain", "caf\u00e9  au   lait".encode()) == "café au lait"


def test_pick_attachment_prefers_html_then_plain_then_rtf():
    a = [{"contentType": "text/rtf"}, {"contentType": "text/html"}]
    assert pick_attachment(a)["contentType"] == "text/html"
    assert pick_attachment([{"contentType": "application/pdf"}]) is None


def test_excerpt_and_clean():
    assert clean("a \t b\r\n\r\n\r\n\r\nc") == "a b\n\nc"
    assert excerpt("word " * 100, 20).endswith("…") and len(excerpt("word " * 100, 20)) <= 22


def test_deeply_nested_html_is_unreadable_not_silently_empty():
    from app.fetch.notes import Unreadable, to_text_capped

    deep = "<div>" * 1000 + "Progressive ataxia since age 4." + "</div>" * 1000
    with pytest.raises(Unreadable, match="could not be extracted"):
        to_text_capped("text/html", deep.encode())
    assert to_text_capped("text/html", b"<html><body></body></html>") == ("", False)


def test_huge_html_is_shortened_and_says_so():
    from app.fetch.notes import MAX_CONVERTED_CHARS, to_text_capped

    rows = "<tr><td>Hb</td><td>9.2</td></tr>" * (MAX_CONVERTED_CHARS["text/html"] // 20)
    text, shortened = to_text_capped("text/html", f"<table>{rows}</table>".encode())
    assert shortened and "Hb" in text
    assert to_text_capped("text/plain", b"x" * 5_000_000) == ("x" * 5_000_000, False)


def test_converted_text_is_cached_by_content():
    from app.fetch import notes

    data = b"<p>Short stature and <b>ptosis</b>.</p>"
    first = notes.converted("text/html", data)
    key_count = len(notes._converted)
    assert notes.converted("text/html", data) == first == ("Short stature and ptosis.", False)
    assert len(notes._converted) == key_count


def test_abnormal_without_direction_takes_it_from_the_reference_range():
    # HL7 "A" (or "AA") says abnormal, not which way: the value against the range says it.
    assert rec.interpretation(obs(150, low=70, high=100, flag="A")) == "H"
    assert rec.interpretation(obs(50, low=70, high=100, flag="AA")) == "L"
    # No range to say it: "abnormal" stays directionless, nothing is made up.
    assert rec.interpretation(obs(150, flag="A")) == "A"


def test_interpretation_written_as_words_is_read():
    words = obs(150, low=70, high=100)
    words["interpretation"] = [{"text": "abnormal"}]
    assert rec.interpretation(words) == "H"
    high = obs(90)
    high["interpretation"] = [{"text": "High"}]
    assert rec.interpretation(high) == "H"
    both = obs(150, low=70, high=100)  # an export writing "A" with its own word beside it
    both["interpretation"] = [{"coding": [{"system": rec.INTERPRETATION_SYSTEM, "code": "A"}], "text": "abnormal"}]
    assert rec.interpretation(both) == "H"
