"""HPO concept recognition on the GSC+ development corpus, and recognizer speed. Prints numbers.

Score: document-level micro precision/recall/F1 over HPO ids. Per abstract, the predicted set
is compared with the gold set (gold ids mapped through alt_id/replaced_by). GSC+ annotates
mentions whatever their context, so the headline variant counts every recognised concept,
negated ones included; the second variant drops family and hypothetical mentions as the app
does, to show what that filtering costs on text that is not about one patient.

Honest measurement: the documents are split deterministically by a hash of their PMID
(:func:`split`) into a tuning half, whose errors may be read when improving the recognizer, and a
held-out half, which is only ever scored; the numbers to quote are the held-out ones.

FastHPOCR was measured the same way: its predictions per document, ``{doc_id: [[start, end,
hpo], ...]}`` written by FastHPOCR's ``HPOAnnotator.annotate(text, longestMatch=True)`` in its own
environment, are scored with ours and their union when ``FASTHPOCR_PREDICTIONS`` names that file
(see app/phenotype/matcher.py for the figures and the decision).

Run with `make bench`; skipped when ../shared/data is absent.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from app.knowledge.hpo import load_lexicon
from app.phenotype.text import MAX_CHARS, get_matcher, recognize

GOLD = Path(__file__).resolve().parents[3] / "shared" / "data" / "gscplus-dev-gold.tsv"
NOTE_BYTES = 5_000_000


def read_gold(path: Path) -> list[tuple[str, str, set[str]]]:
    """``(doc_id, text, gold_hpo_ids)`` per blank-line separated block."""
    lexicon = load_lexicon()
    docs = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = block.strip("\n").split("\n")
        if len(lines) < 2:
            continue
        gold = set()
        for line in lines[2:]:
            hpo = line.split("\t")[3].strip()
            gold.add(lexicon.current(hpo) or hpo)
        docs.append((lines[0].strip(), lines[1], gold))
    return docs


def split(docs) -> dict[str, list]:
    """Tuning and held-out halves by the parity of SHA-256(doc id): fixed, and blind to content."""
    halves: dict[str, list] = {"tuning": [], "held-out": []}
    for doc in docs:
        odd = int(hashlib.sha256(doc[0].encode()).hexdigest(), 16) % 2
        halves["held-out" if odd else "tuning"].append(doc)
    return halves | {"all": list(docs)}


def report(label: str, docs, predict) -> None:
    """One line of P/R/F1 per half (tuning, held-out, all)."""
    cells = []
    for half, part in split(docs).items():
        p, r, f = score(part, predict)
        cells.append(f"{half} P={p:.3f} R={r:.3f} F1={f:.3f}")
    print(f"  {label:24s} " + " | ".join(cells))


def score(docs, predict) -> tuple[float, float, float]:
    """Micro P/R/F1 of per-document id sets."""
    tp = fp = fn = 0
    for _, text, gold in docs:
        pred = predict(text)
        tp += len(pred & gold)
        fp += len(pred - gold)
        fn += len(gold - pred)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def all_concepts(text: str) -> set[str]:
    """Every recognised id, negated included (GSC+ annotates mentions regardless of context)."""
    return {m.hpo for m in recognize(text)}


def patient_concepts(text: str) -> set[str]:
    """What the app keeps as phenotype evidence: not family, not hypothetical (negated kept as absent)."""
    return {m.hpo for m in recognize(text) if not (m.family or m.hypothetical)}


def synthetic_note(size: int, docs) -> str:
    """A long note made of repeated clinical-style sentences and GSC+ text."""
    seed = (
        "History of present illness: 6 year old boy with global developmental delay, hypotonia and "
        "seizures since infancy. No microcephaly. Denies hearing loss. Mother has short stature.\n"
        "Exam: broad forehead, hypertelorism, downslanting palpebral fissures, low-set ears.\n"
    )
    chunk = seed + " ".join(text for _, text, _ in docs[:20]) + "\n\n"
    return (chunk * (size // len(chunk) + 1))[:size]


@pytest.mark.skipif(not GOLD.exists(), reason=f"GSC+ gold not found at {GOLD}")
def test_gscplus():
    """Print P/R/F1 (two variants, per half) and throughput on GSC+ text and a synthetic 5 MB note."""
    start = time.perf_counter()
    get_matcher()
    load_s = time.perf_counter() - start
    docs = read_gold(GOLD)
    halves = split(docs)
    print(f"\nGSC+ dev: {len(docs)} abstracts ({len(halves['tuning'])} tuning, {len(halves['held-out'])} "
          f"held-out), {sum(len(g) for *_, g in docs)} gold (doc, HPO) pairs; lexicon + matcher load {load_s:.2f} s")
    report("all concepts", docs, all_concepts)
    report("patient only", docs, patient_concepts)
    if os.environ.get("FASTHPOCR_PREDICTIONS"):
        other = json.loads(Path(os.environ["FASTHPOCR_PREDICTIONS"]).read_text())
        lexicon, doc_of = load_lexicon(), {text: doc for doc, text, _ in docs}

        def fast(text: str) -> set[str]:
            return {lexicon.current(h) or h for *_, h in other[doc_of[text]]}

        report("FastHPOCR", docs, fast)
        report("union with FastHPOCR", docs, lambda text: fast(text) | all_concepts(text))
    text = " ".join(t for _, t, _ in docs)
    start = time.perf_counter()
    recognize(text)
    secs = time.perf_counter() - start
    print(f"  speed on GSC+ text: {len(text) / secs / 1000:.0f} k chars/s ({len(text)} chars, {secs * 1000:.0f} ms)")
    note = synthetic_note(NOTE_BYTES, docs)
    start = time.perf_counter()
    found = recognize(note)
    secs = time.perf_counter() - start
    print(f"  synthetic {len(note) / 1e6:.0f} MB note: {secs:.2f} s, {len(note) / secs / 1000:.0f} k chars/s, "
          f"{len(found)} mentions (callers truncate at MAX_CHARS={MAX_CHARS})")
