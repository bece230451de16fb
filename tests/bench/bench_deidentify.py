"""De-identification benchmark: our scrubber before and after issue 20, and maintained libraries; prints numbers.

Run: ``.venv/bin/python -m pytest -q -s -o python_files='bench_*.py' tests/bench/bench_deidentify.py``.

Three measurements, each for every scrubber available: "before" (app/case/deidentify.py at commit
2160e49, imported from git into a temporary package), "after" (the module now), and philter-lite and
Presidio when installed beside the app (:mod:`tests.bench.deid_libraries`; not dependencies):

1. the seeded corpus (tests/phi_corpus.py, ``BENCH_DEID_SEEDS=1000-1299`` by default: the held-out
   range; the patterns were tuned on 0–99): identifiers removed / planted per Safe Harbor category,
   planted clinical facts kept verbatim, and notes per second (a fresh Scrubber per note, as the app
   does; the scrubbers run back to back in one process, so compare them with each other only);
2. the probes (tests/phi_probes.py, ``BENCH_DEID_PROBES=1000-1299``): recall per kind issue 20
   found, and the probes' clinical facts kept;
3. over-scrubbing of real clinical prose: the 68 ID-68 notes (``../shared/data/id68-notes.jsonl.gz``,
   skipped where absent), which carry no identifiers, so every word changed is a false positive.

The text is scrubbed as the narrative sends it (whitespace collapsed).
"""
from __future__ import annotations

import difflib
import gzip
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from app.case.deidentify import Scrubber
from tests.bench.deid_libraries import make_philter, make_presidio
from tests.phi_corpus import corpus, score
from tests.phi_probes import KINDS, probes

SEEDS = os.environ.get("BENCH_DEID_SEEDS", "1000-1299")
PROBE_SEEDS = os.environ.get("BENCH_DEID_PROBES", "1000-1299")
BEFORE = "2160e49"
ROOT = Path(__file__).resolve().parents[2]
REAL_NOTES = ROOT.parent / "shared" / "data" / "id68-notes.jsonl.gz"


def _range(spec: str) -> range:
    lo, _, hi = spec.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def _before():
    """The scrubber module as it was at BEFORE, or None when git cannot show it."""
    pkg = Path(tempfile.mkdtemp(prefix="deid-before-")) / "deid_before"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("deidentify", "identifiers", "dates"):
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:app/case/{name}.py"],
                               capture_output=True, text=True)
        if shown.returncode:
            return None
        (pkg / f"{name}.py").write_text(shown.stdout)
    sys.path.insert(0, str(pkg.parent))
    return importlib.import_module("deid_before.deidentify")


@pytest.fixture(scope="module")
def systems():
    """label → scrub(note-like, text): before, after, and each installed library."""
    out = {}
    old = _before()
    if old is not None:
        out[f"before ({BEFORE})"] = lambda n, text: old.Scrubber(n.patient, n.today).scrub(text)
    out["after"] = lambda n, text: Scrubber(n.patient, n.today, people=n.people).scrub(text)
    for made in (make_philter(), make_presidio()):
        if made is not None:
            label, scrub = made
            out[label] = lambda n, text, scrub=scrub: scrub(text)
    print("\nscrubbers: " + "; ".join(out) + ("" if old else f"; before: git cannot show {BEFORE}"))
    return out


def _run(systems: dict, notes) -> dict:
    """label → (outputs by seed, notes per second)."""
    sent = {n.seed: " ".join(n.text.split()) for n in notes}
    out = {}
    for label, scrub in systems.items():
        start = time.perf_counter()
        done = {n.seed: scrub(n, sent[n.seed]) for n in notes}
        out[label] = (done, len(notes) / (time.perf_counter() - start))
    return out


def _table(title: str, scores: dict, rates: dict | None = None) -> None:
    labels = list(scores)
    print(f"\n{title}")
    print(f"{'':18s}" + "".join(f"{i + 1:>10d}" for i in range(len(labels))) + "   (columns: "
          + "; ".join(f"{i + 1} = {label}" for i, label in enumerate(labels)) + ")")
    first = next(iter(scores.values()))
    for category in sorted(first.planted):
        print(f"{category:18s}" + "".join(f"{s.removed.get(category, 0) / first.planted[category]:10.1%}"
                                          for s in scores.values()) + f"   of {first.planted[category]}")
    print(f"{'all identifiers':18s}" + "".join(f"{s.recall:10.2%}" for s in scores.values()))
    print(f"{'facts kept':18s}" + "".join(f"{s.retention:10.2%}" for s in scores.values()) + f"   of {first.facts}")
    if rates:
        print(f"{'notes/s':18s}" + "".join(f"{rates[label]:10.1f}" for label in labels))


def test_seeded_corpus(systems):
    notes = corpus(_range(SEEDS))
    runs = _run(systems, notes)
    scores = {label: score(notes, lambda n, d=done: d[n.seed]) for label, (done, _) in runs.items()}
    _table(f"seeded corpus, seeds {SEEDS}: {len(notes)} notes, {sum(scores['after'].planted.values())} identifiers "
           f"(mean note {sum(len(n.text) for n in notes) // len(notes)} characters)", scores,
           {label: rate for label, (_, rate) in runs.items()})
    after = scores["after"]
    for seed, category, text, context in after.misses[:10]:
        print(f"  after missed {category} {text!r} (seed {seed}): … {context} …")
    assert after.recall >= 0.99 and after.retention >= 0.99


def test_probes_of_issue_20(systems):
    notes = probes(_range(PROBE_SEEDS))
    runs = _run(systems, notes)
    scores = {label: score(notes, lambda n, d=done: d[n.seed]) for label, (done, _) in runs.items()}
    _table(f"probes, seeds {PROBE_SEEDS}: {len(notes)} notes, one identifier of each kind per note", scores)
    after = scores["after"]
    for seed, category, text, context in after.misses[:10]:
        print(f"  after missed {category} {text!r} (seed {seed}): … {context} …")
    assert set(after.planted) == set(KINDS)
    assert min(after.by_category().values()) >= 0.95 and after.retention >= 0.99


TOKEN = re.compile(r"\w+|[^\w\s]")


def test_overscrubbing_of_real_clinical_notes(systems):
    if not REAL_NOTES.exists():
        pytest.skip(f"{REAL_NOTES} not present")
    from datetime import date

    from tests.phi_corpus import Note

    rows = [json.loads(line) for line in gzip.open(REAL_NOTES, "rt")]
    notes = [Note(seed=i, text=r["text"], patient={}, today=date(2026, 11, 1)) for i, r in enumerate(rows)]
    runs = _run(systems, notes)
    print(f"\nover-scrubbing, {len(notes)} real notes (ID-68; no identifiers in them): words changed")
    for label, (done, rate) in runs.items():
        lost, words, examples = 0, 0, []
        for n in notes:
            a, b = TOKEN.findall(" ".join(n.text.split())), TOKEN.findall(done[n.seed])
            blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
            gone = len(a) - sum(bl.size for bl in blocks)
            lost, words = lost + gone, words + len(a)
            kept = {i for bl in blocks for i in range(bl.a, bl.a + bl.size)}
            examples += [a[i] for i in range(len(a)) if i not in kept][:3]
        print(f"  {label:60s} {lost:5d} of {words} ({lost / words:.2%}); {rate:.1f} notes/s; e.g. {examples[:12]}")
        if label == "after":
            assert lost / words <= 0.001
