"""ConText's triggers on ASCII text (most notes) are matched by ASCII-only patterns, a third faster
(``context._COMPILED_ASCII``); they must find exactly the spans the Unicode patterns find."""
from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from app.phenotype import context
from tests.support.exports import bundles

REAL_NOTES = Path(__file__).resolve().parents[3] / "shared" / "data" / "id68-notes.jsonl.gz"


def _notes() -> list[str]:
    texts = []
    for bundle in bundles():
        for entry in bundle["entry"]:
            res = entry["resource"]
            for content in res.get("content") or []:
                data = (content.get("attachment") or {}).get("data")
                if data:
                    texts.append(base64.b64decode(data).decode("utf-8", "replace"))
    if REAL_NOTES.exists():
        with gzip.open(REAL_NOTES, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    return texts


def test_the_trigger_patterns_are_ascii_so_ascii_folding_is_exact():
    assert all(p.pattern.isascii() for p in context._COMPILED.values())
    assert context._COMPILED_ASCII.keys() == context._COMPILED.keys()


@pytest.mark.parametrize("name", sorted(context._COMPILED))
def test_ascii_patterns_find_the_same_spans_on_ascii_notes(name):
    texts = [t for t in _notes() if t.isascii()]
    texts += ["No FEVER. Family History: MOTHER reports seizures; ruled OUT.", "Denies pain; NOT only rash, but HAS ataxia."]
    assert len(texts) > 20
    for text in texts:
        unicode = [m.span() for m in context._COMPILED[name].finditer(text)]
        ascii_only = [m.span() for m in context._COMPILED_ASCII[name].finditer(text)]
        assert ascii_only == unicode


def test_a_text_with_non_ascii_letters_keeps_the_unicode_patterns(monkeypatch):
    """"ſ" (long s) folds to "s" only in Unicode mode: "ſuspected" is a hypothetical trigger, "denieſ"
    a negation. Such a text must be read with the Unicode patterns, as before."""
    text = "ſuspected ſeizure; denieſ fever, hiſtory of aſthma. Family hiſtory: mother"
    unicode, ascii_only = context._COMPILED, context._COMPILED_ASCII
    got = context.Context(text).triggers
    monkeypatch.setattr(context, "_COMPILED_ASCII", unicode)  # the Unicode patterns for every text
    assert got == context.Context(text).triggers
    assert got["neg_pre"] and got["hyp_pre"] and got["hist_pre"]
    monkeypatch.setattr(context, "_COMPILED", ascii_only)  # the ASCII patterns for every text
    monkeypatch.setattr(context, "_COMPILED_ASCII", ascii_only)
    assert context.Context(text).triggers != got  # ASCII folding would read it otherwise
