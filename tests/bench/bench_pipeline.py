"""The whole EHR path on development cases: phenopacket → EHR-shaped FHIR Bundle (the sandbox's
generator) → PatientRecord → phenotype extraction → ranking. Prints top-1/3/10, how much of the
true phenotype the extraction recovered, and throughput. Asserts nothing.

`make bench`; BENCH_PIPELINE_CASES (default 0 = all 7,669, about 3 min) sets a sample size. The same
cases ranked on their own HPO terms (no EHR in between) show what extraction costs.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import time
from pathlib import Path

import pytest

from app.fetch.files import record_from_bundle
from app.knowledge.ontology import ontology
from app.phenotype import ancestors
from app.pipeline import analyse, load_knowledge

from .scoring import demographics

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def hit_rank(suggestions, diagnoses, orphanet) -> int | None:
    wanted_omim = set(diagnoses)
    wanted_orpha = {f"ORPHA:{o}" for d in diagnoses for o in orphanet.by_omim(d.split(":")[1])}
    for s in suggestions:
        if wanted_omim & set(s.omim) or (s.orpha and s.orpha in wanted_orpha):
            return s.rank
    return None


def recovered(profile, observed) -> float:
    """Share of the case's observed terms found exactly or as an ancestor/descendant (a looser or finer term)."""
    got = {p.hpo for p in profile.present}
    if not observed:
        return 1.0
    ok = sum(1 for h in observed if h in got or any(h in ancestors(g) or g in ancestors(h) for g in got))
    return ok / len(observed)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_pipeline_on_dev_cases():
    from dev.synth import phenopacket_to_bundle
    from dev.synth.knowledge import load_knowledge as synth_knowledge

    n = int(os.environ.get("BENCH_PIPELINE_CASES", "0"))
    with gzip.open(SHARED / "phenopackets-dev.jsonl.gz", "rt") as fh:
        packets = [json.loads(line) for line in fh if line.strip()]
    rng = random.Random(11)
    if n:
        packets = rng.sample(packets, min(n, len(packets)))
    sk = synth_knowledge(SHARED / "hp-2025-01-16.obo.gz", SHARED / "loinc2hpo-annotations.tsv")
    bundles = [phenopacket_to_bundle(p, sk, random.Random(f"bench:{p['id']}"), patient_id=f"b{i}")
               for i, p in enumerate(packets)]
    t0 = time.perf_counter()
    kb = load_knowledge()
    load_s = time.perf_counter() - t0
    from .population import annotation_references, leaky

    refs = annotation_references()
    omim_known = {str(d.id) for d in ontology().omim_diseases}
    ranks, recall, times, rankable, no_leak, perfect = [], [], [], 0, [], []
    for packet, bundle in zip(packets, bundles, strict=False):
        start = time.perf_counter()
        analysis = analyse(record_from_bundle(bundle), kb, top=10)
        times.append(time.perf_counter() - start)
        recall.append(recovered(analysis.profile, [o["id"] for o in packet["observed"]]))
        diagnoses = [d["id"] for d in packet["diagnoses"]]
        r = hit_rank(analysis.suggestions, diagnoses, kb.orphanet)
        ranks.append(r)
        sex, age = demographics(packet)
        own = kb.ranker.assess([o["id"] for o in packet["observed"]], [o["id"] for o in packet["excluded"]],
                               top=10, sex=sex, age_years=age, evidence_for=0)
        perfect.append(hit_rank(own.suggestions, diagnoses, kb.orphanet))
        known = any(d.split(":")[1] in omim_known for d in diagnoses)
        rankable += known
        if not leaky(packet, refs):
            no_leak.append((r, known, perfect[-1]))
    total = len(packets)

    def top(k, denom, rs=ranks):
        return 100 * sum(1 for r in rs if r is not None and r <= k) / denom

    times.sort()
    print(f"\nwhole EHR path on {total} dev phenopackets{' (seed 11)' if n else ''}, knowledge load {load_s:.2f} s")
    print(f"  all cases         top-1 {top(1, total):5.1f}%  top-3 {top(3, total):5.1f}%  top-10 {top(10, total):5.1f}%")
    print(f"  rankable ({rankable:>4}) top-1 {top(1, rankable):5.1f}%  top-3 {top(3, rankable):5.1f}%  "
          f"top-10 {top(10, rankable):5.1f}%   (diagnosis present in hpo3's OMIM set)")
    print(f"  the case's own terms (no EHR) top-1 {top(1, total, perfect):5.1f}%  top-3 {top(3, total, perfect):5.1f}%  "
          f"top-10 {top(10, total, perfect):5.1f}%   (what extraction costs)")
    for name, nl in (("no-leak", [r for r, _, _ in no_leak]), ("no-leak rankable", [r for r, k, _ in no_leak if k]),
                     ("no-leak, own terms", [p for _, _, p in no_leak])):
        print(f"  {name + f' ({len(nl)})':17s} top-1 {top(1, len(nl), nl):5.1f}%  "
              f"top-3 {top(3, len(nl), nl):5.1f}%  top-10 {top(10, len(nl), nl):5.1f}%")
    print("  (no-leak: the case's paper is not among its diagnosis's annotation references)")
    print(f"  observed terms recovered by extraction: {100 * sum(recall) / total:.1f}% (exact or close relative)")
    print(f"  per patient (bundle → profile → top-10): p50 {1000 * times[len(times) // 2]:.1f} ms, "
          f"p95 {1000 * times[int(len(times) * 0.95)]:.1f} ms → {len(times) / sum(times):.0f} patients/s")


def test_radar_rank_throughput():
    """`radar rank` on the committed sandbox patients (69 Bundles, edge cases included), after start-up."""
    import io

    from app.batch import rank_stream

    with gzip.open(Path(__file__).resolve().parents[2] / "dev" / "data" / "patients.ndjson.gz", "rt") as fh:
        data = fh.read()
    kb = load_knowledge()
    out = io.StringIO()
    start = time.perf_counter()
    ok, failed = rank_stream(io.StringIO(data), out, kb, top=10)
    seconds = time.perf_counter() - start
    print(f"\nradar rank: {ok} patients ({failed} errors) in {seconds:.2f} s → {ok / seconds:.0f} patients/s "
          f"(includes a 5 MB note and a 3,000-lab record)")
