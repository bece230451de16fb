"""Population screening on Spark, measured: the development population (the 297 ordinary records,
plus ordinary records carrying a development rare case's findings, ``population.build``) exported as
shuffled per-type NDJSON files, screened with ``local[2]`` and ``local[1]``, against ``radar rank``
over the same people in one process. Prints flag rates, agreement with ``radar rank`` (the CDS
card's decision), throughput, scaling, per-worker memory at two population sizes, and what a
million patients would take. Asserts only sanity; `make bench`.

BENCH_SCREEN_CASES (default 1500; 0 = all 7,669) rare cases. Note: the screen uses the committed
general-population background, learned from these same 297 ordinary records, so the ordinary
flag rate here is in-sample; bench_population gives the cross-validated one.
"""
from __future__ import annotations

import io
import json
import os
import time

import pytest

from app.batch import rank_stream
from app.pipeline import load_knowledge
from app.screen import sources, spark
from tests.support.exports import write_per_type

from . import population

pytestmark = pytest.mark.skipif(not population.DATA.exists(), reason="../shared/data is not available")


def _screen(master: str, files: list[str], partitions: int) -> tuple[float, spark.Result, list[dict]]:
    start = time.perf_counter()
    session = spark.session(master)
    result = spark.screen(session, files, partitions=partitions)
    lines = list(result.lines())
    return time.perf_counter() - start, result, lines


def test_screen_population(tmp_path):
    cases = int(os.environ.get("BENCH_SCREEN_CASES", "1500"))
    records, truth = population.build(tmp_path / "pop", cases)  # note URLs repaired (population.repaired)
    rare = {t["patient"]: bool(t.get("diagnoses")) for t in truth}
    export = write_per_type(tmp_path / "export", records, files_per_type=4)
    files = sources.expand([str(export)])
    n = len(records)

    kb = load_knowledge()
    out = io.StringIO()
    start = time.perf_counter()
    rank_stream(io.StringIO("".join(json.dumps(r) + "\n" for r in records)), out, kb, top=10)
    rank_s = time.perf_counter() - start
    ranked = {line["patient"]: line for line in map(json.loads, out.getvalue().splitlines())}

    two_s, two, lines = _screen("local[2]", files, partitions=8)
    one_s, one, _ = _screen("local[1]", files, partitions=8)
    small = write_per_type(tmp_path / "small", records[:300], files_per_type=2)
    _, small_result, _ = _screen("local[2]", sources.expand([str(small)]), partitions=2)

    assert len(lines) == n and len({line["patient"] for line in lines}) == n
    agree = sum(line["flagged"] == ranked[line["patient"]]["flagged"] for line in lines)
    only_screen = sum(line["flagged"] and not ranked[line["patient"]]["flagged"] for line in lines)
    ordinary = [line for line in lines if not rare[line["patient"]]]
    sick = [line for line in lines if rare[line["patient"]]]
    flagged_ordinary = sum(line["flagged"] for line in ordinary)
    flagged_sick = sum(line["flagged"] for line in sick)
    # Per patient on one core, Spark's start and the knowledge load included (an upper bound).
    per_patient = one_s / n
    print(f"\nscreen on {n:,} records ({len(ordinary)} ordinary, {len(sick):,} with a rare case's findings; "
          f"{len(files)} shuffled per-type NDJSON files)")
    print(f"  flagged: ordinary {flagged_ordinary}/{len(ordinary)} ({100 * flagged_ordinary / len(ordinary):.1f}%), "
          f"rare {flagged_sick}/{len(sick)} ({100 * flagged_sick / len(sick):.1f}%); "
          f"same decision as radar rank over the same Bundles for {agree}/{n} ({only_screen} flagged by the screen "
          f"only, {n - agree - only_screen} by radar rank only: the export is selected as the chart's searches "
          f"select it, radar rank takes a Bundle whole)")
    print(f"  radar rank (one process): {rank_s:6.1f} s → {n / rank_s:5.1f} patients/s")
    print(f"  local[2]:                 {two_s:6.1f} s → {n / two_s:5.1f} patients/s (Spark start and knowledge loads included)")
    print(f"  local[1]:                 {one_s:6.1f} s → {n / one_s:5.1f} patients/s; 2 cores / 1 core = {one_s / two_s:.2f}×")
    for label, result in (("300 patients", small_result), (f"{n:,} patients", two)):
        rss = [p["max_rss_mb"] for p in result.processes]
        print(f"  worker peak RSS with {label}: {', '.join(f'{r:.0f}' for r in rss)} MB "
              f"({len(rss)} Python workers, knowledge loads per worker {max(p['loads'] for p in result.processes)})")
    million = 1_000_000 * per_patient
    print(f"  1 million patients at {1000 * per_patient:.1f} ms per patient-core: one 16-core node "
          f"≈ {million / 16 / 3600:.1f} h, a 10-node cluster (160 cores) ≈ {million / 160 / 60:.0f} min "
          f"(plus the EHR's export time)")
    assert flagged_sick > flagged_ordinary
