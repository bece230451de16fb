"""The one safe parser of untrusted JSON lines: a bad line is a BadLine with a short reason, never fatal."""
from __future__ import annotations

import io
import json

import pytest

from app.fetch import lines

DEEP_LIST = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


@pytest.mark.parametrize("text", [DEEP_LIST, DEEP_OBJECT, "[" * 100_000], ids=["list", "object", "unclosed"])
def test_deep_nesting_is_a_bad_line_not_a_recursion_error(text):
    with pytest.raises(lines.BadLine, match="nested deeper than 100 levels"):
        lines.parse(text)


def test_brackets_inside_strings_do_not_count_and_fhir_depth_is_fine():
    value = {"resourceType": "Observation", "note": [{"text": "[" * 5000 + '\\"{' * 500}],
             "extension": [{"extension": [{"extension": [{"url": "u", "valueString": "x"}]}]}]}
    assert lines.parse(json.dumps(value)) == value
    assert lines.parse("[" * 100 + "]" * 100) is not None  # exactly the limit


def test_invalid_and_oversized_lines_say_why_without_their_content():
    with pytest.raises(lines.BadLine) as err:
        lines.parse('{"name": "Jane Doe", ')
    assert str(err.value).startswith("invalid JSON (") and "Jane" not in str(err.value)
    with pytest.raises(lines.BadLine, match="line longer than 10 characters"):
        lines.parse('"01234567890"', max_chars=10)


def test_numbered_lines_skip_an_oversized_line_without_holding_it():
    source = io.StringIO("short\n" + "x" * 50 + "\nlast")
    got = list(lines.numbered(source, max_chars=20))
    assert got[0] == (1, "short\n") and got[2] == (3, "last")
    assert got[1][0] == 2 and isinstance(got[1][1], lines.BadLine)


@pytest.mark.parametrize("text", ["[" * 101 + "]" * 101, '{"a":' * 101 + "1" + "}" * 101, "[" * 500, '{"a":[' * 60],
                         ids=["list", "object", "unclosed", "unclosed object"])
def test_a_line_just_past_the_limit_says_so_whether_or_not_it_parses(text):
    with pytest.raises(lines.BadLine, match="nested deeper than 100 levels"):
        lines.parse(text)


def depth(value) -> int:
    """How deep lists and objects nest in a parsed value (0 for a plain value)."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max((depth(c) for c in children), default=0)


@pytest.mark.parametrize("value", [
    {"a": "[[[{{{", "b": ['\\"[', "\\\\", "\\\\\\\"]]]"], "c": {"d": [[["é[", "\u2028}"]]]}},
    [[[[]]], {"x": {"y": "]}]}"}}, "\\", '"', "\\\\[", ""], "plain", 3, [],
    {"resourceType": "Bundle", "entry": [{"resource": {"text": {"div": '<div>a "quoted" [x]</div>'}}}] * 3},
])
def test_the_depth_of_a_valid_line_is_the_nesting_of_its_value(value):
    text = json.dumps(value)
    assert lines._valid_json_depth(text) == depth(value)
    assert lines._valid_json_depth(json.dumps(value, ensure_ascii=False)) == depth(value)


WIDE = 123456789012345678901234567890


@pytest.mark.parametrize("text", [
    f'{{"valueInteger": {WIDE}}}', f'[1, -{WIDE} ]', f"{WIDE}", f'{{"a":\n  {WIDE}\n}}', f'[{2 ** 64}]',
    '{"value": NaN}', "[Infinity, -Infinity]", "[1e400]", '"\\ud800"', '{"a": "\udc80"}',
    '{"a": 1, "a": 2, "b": [0.1, -0.0, 5e-324, 1.7976931348623157e308]}',
    '{"div": "Person seed: 6380558951219250530  Population seed: 1572"}',
    '{"a": "12345678901234567890"}', '[0.12345678901234567890123, 1.5e-1234567890123456789]',
    '{"deep": ' + "[" * 200 + "]" * 200 + "}",
], ids=["object", "list", "bare", "spaced", "u64+1", "nan", "infinity", "overflow", "surrogate-escape",
        "surrogate", "duplicates-floats", "narrative-digits", "string-digits", "fraction-exponent", "deep"])
def test_loads_reads_exactly_what_json_reads(text):
    """orjson reads a 30-digit integer as a float and refuses NaN, 1e400, lone surrogates and deep
    nesting; ``loads`` must give ``json.loads``'s value in every case, types included."""
    expected = json.loads(text)
    got = lines.loads(text)
    assert repr(got) == repr(expected)
    assert json.dumps(got) == json.dumps(expected)


def test_loads_fails_on_what_json_fails_on():
    for text in ['{"a": 1', "[1e400", "x", ""]:
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(text)
        with pytest.raises(json.JSONDecodeError) as got:
            lines.loads(text)
        assert got.value.msg == expected.value.msg
    with pytest.raises(lines.BadLine, match="nested deeper"):  # orjson refuses past 1,024, json recurses
        lines.parse("[" * 1100 + "]" * 1100)


def test_only_integers_where_a_number_stands_send_a_text_to_json():
    assert lines._wide_integer(f'{{"a": {WIDE}}}'.encode())
    assert lines._wide_integer(f"[-{WIDE}]".encode())
    assert lines._wide_integer(f"  {WIDE}  ".encode())
    assert not lines._wide_integer(b'{"div": "Person seed: 6380558951219250530  Population"}')
    assert not lines._wide_integer(b'{"a": 0.0041469869838683445, "b": 1e1234567890123456789}')
    assert not lines._wide_integer(b'{"a": 123456789012345678}')  # 18 digits: a 64-bit integer, orjson exact


def test_parse_reads_the_development_records_as_json_does():
    """Every line of the sandbox's records, and a Bulk export's resource lines, parse to the same value."""
    from tests.support.exports import bundles

    for bundle in bundles()[:20]:
        text = json.dumps(bundle)
        assert lines.parse(text) == json.loads(text)
        for entry in bundle["entry"]:
            line = json.dumps(entry["resource"], ensure_ascii=False)
            assert repr(lines.parse(line)) == repr(json.loads(line))
