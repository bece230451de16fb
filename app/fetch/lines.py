"""One safe parser for lines of untrusted JSON (NDJSON of resources or Bundles, a Bundle file).

Python's ``json`` recurses once per nesting level: a line of 100,000 ``[`` ends in a
RecursionError, which is not a ``ValueError`` and used to end a whole screen or ``radar rank``.
Here a line is refused when it is longer than ``MAX_CHARS`` (before ``json.loads``) or nested
deeper than ``MAX_DEPTH`` (FHIR resources nest a few tens of levels; the builder and the FHIR
models recurse on them too), so every reader counts it as bad input and goes on.

:func:`loads` parses with orjson where orjson gives exactly ``json.loads``'s value (issue 23),
measured on the development screening population (588 records: 107,538 resource lines of a Bulk
export, or 588 Bundles; CPU ms per patient, one process, gc off): ``json.loads`` 2.3 on the lines
and 2.0 on the Bundles; orjson 3.13 1.3 and 1.4; the check below 0.3 and 0.1. orjson differs from
``json`` in two ways only: it refuses what ``json`` reads (NaN, Infinity, a number beyond a double,
a lone surrogate, nesting past 1,024), and then ``json`` reads it as before; and it reads an
integer beyond 64 bits as a float without a word, so a text that may hold one (a run of 19 digits
where a JSON number can stand) is read by ``json``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import IO

import numpy as np
import orjson

# A Binary holding a 20 MiB attachment (notes.MAX_ATTACHMENT_BYTES) is about 27 MiB of base64.
MAX_CHARS = 64 * 1024 * 1024
MAX_DEPTH = 100
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_CHUNK = 1024 * 1024
_QUOTE = ord('"')
_ESCAPE = re.compile(rb"\\.", re.S)
_BRACKET_STEP = np.zeros(256, dtype=np.int32)
_BRACKET_STEP[list(b"[{")] = 1
_BRACKET_STEP[list(b"]}")] = -1
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
# For ``_wide_integer``: digits as "d", every other byte as a space (which the search skips over).
_DIGIT_MARKS = bytes(ord("d") if chr(b) in "0123456789" else ord(" ") for b in range(256))
_LONG_RUN = b"d" * 19
_DIGITS = re.compile(rb"[0-9]*")
_BLANKS = re.compile(rb"[ \t\r\n]*")
_WHITESPACE = frozenset(b" \t\r\n")
_MINUS = ord("-")
_BEFORE_NUMBER, _AFTER_NUMBER = frozenset(b"[:,"), frozenset(b",]}")


class BadLine(ValueError):
    """A line that is not usable JSON; the message is a short reason without any of its content."""


def parse(text: str, *, max_chars: int = MAX_CHARS, max_depth: int = MAX_DEPTH) -> object:
    """The JSON value of ``text``, or BadLine: too long, nested too deeply, or invalid JSON."""
    if len(text) > max_chars:
        raise BadLine(f"line longer than {_size(max_chars)}")
    deeper = BadLine(f"JSON nested deeper than {max_depth} levels")
    # Counting brackets outside strings costs more than parsing a Bundle (a regex over every string
    # of it): parse first and measure the nesting of what was parsed, which for valid JSON is the
    # same number. The text is scanned only when it does not parse, to give the same reason as before.
    try:
        value = loads(text)
    except json.JSONDecodeError as exc:
        raise (deeper if too_deep(text, max_depth) else BadLine(f"invalid JSON ({exc.msg})")) from None
    except RecursionError:  # a deep stack at the caller: still bad input, never the end of the run
        raise (deeper if too_deep(text, max_depth) else BadLine("JSON nested too deeply")) from None
    if _may_nest_deeper(text, max_depth) and _valid_json_depth(text) > max_depth:
        raise deeper
    return value


def loads(text: str) -> object:
    """``json.loads(text)``, the same value, faster: orjson where it reads the text exactly as
    ``json`` does (the module docstring), ``json`` for the rest and for its errors."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which only ``json`` reads
        return json.loads(text)
    if not _wide_integer(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _wide_integer(raw: bytes) -> bool:
    """Whether the JSON text ``raw`` may hold an integer of 19 digits or more, which orjson reads as
    a float (beyond 64 bits) where ``json`` keeps it exact. A run of that many digits counts when it
    stands where a JSON number stands: after ``[``, ``:``, ``,`` or the start (a minus sign and
    whitespace between), and before ``,``, ``]``, ``}`` or the end. A run inside a string that
    happens to look so (``"seed: 1234567890123456789 ,"``) counts too, which only costs speed;
    one inside a string otherwise (a narrative's "Person seed: 6380558951219250530  Population")
    or a float's fraction or exponent does not."""
    marks = raw.translate(_DIGIT_MARKS)
    start = marks.find(_LONG_RUN)  # the leftmost: the byte before it is no digit
    while start >= 0:
        end = _DIGITS.match(raw, start).end()
        before = start - 1
        if before >= 0 and raw[before] == _MINUS:
            before -= 1
        while before >= 0 and raw[before] in _WHITESPACE:
            before -= 1
        after = _BLANKS.match(raw, end).end()
        if (before < 0 or raw[before] in _BEFORE_NUMBER) and (after == len(raw) or raw[after] in _AFTER_NUMBER):
            return True
        start = marks.find(_LONG_RUN, end)
    return False


def _may_nest_deeper(text: str, max_depth: int) -> bool:
    """Whether ``text`` opens more than ``max_depth`` brackets in all, so that it may nest deeper."""
    return text.count("[") + text.count("{") > max_depth


def too_deep(text: str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``text`` opens more than ``max_depth`` brackets at once, counted outside strings."""
    if not _may_nest_deeper(text, max_depth):  # the common case, without a scan
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_STEP[c] for c in brackets), default=0) > max_depth


def _valid_json_depth(text: str) -> int:
    """How deep the brackets of a *valid* JSON text nest, strings left out, at C speed: in valid JSON
    every backslash starts an escape whose second character is ASCII, so once each backslash is
    taken out with the character after it, quotes alternate opening and closing and a bracket after
    an odd number of them is inside a string. Faster than walking the parsed value (issue 23: 0.2 s
    against 0.5 s for the 588 records of the development screening population; escapes taken out
    by one regex pass and the steps read from a table, 1.3 -> 0.65 ms a record)."""
    raw = text.encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = _ESCAPE.sub(b"", raw)
    marks = np.frombuffer(raw.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    if not marks.size:
        return 0
    steps = _BRACKET_STEP[marks]
    steps[np.bitwise_xor.accumulate(marks == _QUOTE)] = 0  # inside a string (the opening quote's own step is 0)
    return int(np.cumsum(steps, dtype=np.int32).max())


def numbered(source: IO[str], max_chars: int = MAX_CHARS) -> Iterator[tuple[int, str | BadLine]]:
    """(line number, text) of each line of ``source``, or a BadLine for one longer than
    ``max_chars``, which is skipped without ever being held whole in memory."""
    number = 0
    while True:
        line = source.readline(max_chars + 1)
        if not line:
            return
        number += 1
        if len(line) > max_chars and not line.endswith("\n"):
            while (rest := source.readline(_CHUNK)) and not rest.endswith("\n"):
                pass
            yield number, BadLine(f"line longer than {_size(max_chars)}")
            continue
        yield number, line


def _size(chars: int) -> str:
    return f"{chars // (1024 * 1024)} MiB" if chars >= 1024 * 1024 else f"{chars:,} characters"
