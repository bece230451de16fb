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
