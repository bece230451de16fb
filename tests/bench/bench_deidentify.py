"""De-identification benchmark on the seeded PHI corpus (tests/phi_corpus.py); prints numbers.

Run: ``.venv/bin/python -m pytest -q -s -o python_files='bench_*.py' tests/bench/bench_deidentify.py``
(``BENCH_DEID_SEEDS=1000-1299`` by default: the held-out range; the patterns were tuned on 0–99).

Prints, per Safe Harbor category, planted identifiers removed / planted; overall recall; the share of
planted clinical facts kept verbatim; throughput (notes/s, a fresh Scrubber per note as the app
does); and the first misses. The text is scrubbed as the narrative sends it (whitespace collapsed)
and, for overall recall only, as written (with line breaks).
"""
from __future__ import annotations

import os
import time

from app.case.deidentify import Scrubber
from tests.phi_corpus import corpus, score

SEEDS = os.environ.get("BENCH_DEID_SEEDS", "1000-1299")


def _seeds() -> range:
    lo, _, hi = SEEDS.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def test_deidentification_recall_retention_and_throughput():
    notes = corpus(_seeds())
    sent = {n.seed: " ".join(n.text.split()) for n in notes}
    start = time.perf_counter()
    for n in notes:
        Scrubber(n.patient, n.today).scrub(sent[n.seed])
    rate = len(notes) / (time.perf_counter() - start)
    s = score(notes, lambda n: Scrubber(n.patient, n.today).scrub(sent[n.seed]))
    raw = score(notes, lambda n: Scrubber(n.patient, n.today).scrub(n.text))
    planted = sum(s.planted.values())
    print(f"\nde-identification, seeds {SEEDS}: {len(notes)} notes, {planted} planted identifiers, "
          f"{s.facts} planted clinical facts")
    print(f"{'category':16s} {'removed':>8s} {'planted':>8s} {'recall':>8s}")
    for category, recall in s.by_category().items():
        print(f"{category:16s} {s.removed.get(category, 0):8d} {s.planted[category]:8d} {recall:8.2%}")
    print(f"{'overall':16s} {sum(s.removed.values()):8d} {planted:8d} {s.recall:8.2%}   "
          f"(text with line breaks: {raw.recall:.2%})")
    print(f"clinical facts kept: {s.kept}/{s.facts} = {s.retention:.2%}   (with line breaks: {raw.retention:.2%})")
    print(f"throughput: {rate:.0f} notes/s (mean note {sum(map(len, sent.values())) // len(notes)} characters)")
    for seed, category, text, context in s.misses[:15]:
        print(f"  missed {category} {text!r} (seed {seed}): … {context} …")
    for seed, fact in s.damaged[:15]:
        print(f"  damaged fact {fact!r} (seed {seed})")
    assert planted >= 2000 and s.facts >= 1000
    assert s.recall >= 0.99 and s.retention >= 0.99
