"""Issue 23, measured: ``radar rank`` and ``radar screen`` per patient, the code before the speed work
against this tree, side by side in one run on the same records; the outputs compared; the profile's
top entries; what a million patients take. Prints numbers, asserts only that both trees gave the
same results. ``make bench``, or ``.venv/bin/python -m pytest tests/bench/bench_scale.py -s``.

Population: ``population.build`` with BENCH_SCALE_CASES (default 291) development rare cases mixed
into the 297 Synthea general-population records: 588 records, as the issue profiled. The old tree
is ``git archive`` of BENCH_SCALE_OLD (default bec5c42, the last commit before issue 23's changes),
run with this venv. Each tree runs in its own process: knowledge loaded and warmed up, ten records
ranked untimed, then every record ranked and timed (CPU seconds of the process and wall seconds),
alternately old, new, old, new; the lower of each is kept. The screen runs ``local[1]`` (and the
new tree ``local[2]`` too) in one Spark session per tree: the population once to start the Python
workers and load their knowledge, then twice, alternately, the population and twice as many
patients (each record a second time under another Patient id), the faster run of each kept; the
difference of the two over the population's size is the marginal cost of a patient, what a large
screen pays, without the stages' fixed costs. Beside the wall time, the CPU time of the whole
machine in the same runs (``/proc/stat``: the Python workers, the JVM's task threads, its garbage
collector and compiler), so the marginal core-milliseconds per patient: the cost a many-core node
pays per patient, which ``local[1]``'s wall time understates (its JVM works on the second core).
BENCH_SCALE_SCREEN=0 skips it.
The machine is shared: wall seconds carry other work's noise, CPU seconds less so.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support.exports import write_per_type

from . import population

pytestmark = pytest.mark.skipif(not population.DATA.exists(), reason="../shared/data is not available")
OLD = os.environ.get("BENCH_SCALE_OLD", "bec5c42")
CASES = int(os.environ.get("BENCH_SCALE_CASES", "291"))

RANK = r"""
import gc, io, json, resource, sys, time
from app import pipeline
from app.batch import rank_stream
from app.pipeline import load_knowledge, warm_up
records, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
kb = load_knowledge()
warm_up(kb)
if hasattr(pipeline, "BATCH_GC_THRESHOLDS"):  # as the tree's `radar rank` sets it up (app.cli.cmd_rank)
    gc.set_threshold(*pipeline.BATCH_GC_THRESHOLDS)
lines = open(records).readlines()
rank_stream(io.StringIO("".join(lines[:10])), io.StringIO(), kb)
start = (time.process_time(), time.perf_counter())
sink = open(out, "w")
rank_stream(io.StringIO("".join(lines)), sink, kb)
sink.close()
cpu, wall = time.process_time() - start[0], time.perf_counter() - start[1]
print(json.dumps({"n": len(lines), "cpu": cpu, "wall": wall, "startup": start[1] - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SCREEN = r"""
import json, os, sys, time
from app.screen import sources, spark
def machine_cpu():  # seconds of CPU the whole machine spent (user, nice, system, irq, softirq)
    v = [int(x) for x in open("/proc/stat").readline().split()[1:8]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")
master, exports = sys.argv[1], sys.argv[2:]
session = spark.session(master)
runs = []
# The first run starts the Python workers and loads their knowledge; then population and double, twice.
for export in [exports[0], *exports, *exports]:
    t, c = time.perf_counter(), machine_cpu()
    result = spark.screen(session, sources.expand([export]))
    lines = list(result.lines())
    runs.append({"export": export, "wall": time.perf_counter() - t, "cpu": machine_cpu() - c,
                 "patients": len(lines), "rss_mb": [p["max_rss_mb"] for p in result.processes],
                 "loads": max(p["loads"] for p in result.processes)})
print(json.dumps(runs))
"""

PROFILE = r"""
import cProfile, io, pstats, sys
from app.batch import rank_stream
from app.pipeline import load_knowledge, warm_up
kb = load_knowledge()
warm_up(kb)
lines = open(sys.argv[1]).readlines()[:int(sys.argv[2])]
profile = cProfile.Profile()
profile.enable()
rank_stream(io.StringIO("".join(lines)), io.StringIO(), kb)
profile.disable()
stats = pstats.Stats(profile, stream=sys.stdout)
stats.sort_stats("cumulative").print_stats(r"app/", 18)
"""


def _run(tree: Path, script: str, *args: str, timeout: int = 1800) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("RADAR_BACKGROUND", None)
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _old_tree(tmp: Path) -> Path:
    tree = tmp / "old"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(population.ROOT), "archive", OLD], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _renamed(bundle: dict) -> dict:
    """The same record under another Patient id (its references follow), for a population twice as large."""
    pid = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return json.loads(json.dumps(bundle).replace(f'"Patient/{pid}"', f'"Patient/{pid}-2"')
                      .replace(f'"id": "{pid}"', f'"id": "{pid}-2"'))


def _same(old: Path, new: Path) -> int:
    """Lines whose suggestions, probabilities, flag or gaps differ."""
    keys = ("rank", "name", "orpha", "omim", "score", "probability")
    differ = 0
    for a, b in zip(*(map(json.loads, p.read_text().splitlines()) for p in (old, new)), strict=True):
        same = all(a.get(k) == b.get(k) for k in ("patient", "rare_disease_probability", "flagged", "gaps")) and \
            [[s[k] for k in keys] for s in a["suggestions"]] == [[s[k] for k in keys] for s in b["suggestions"]]
        differ += not same
    return differ


def test_scale(tmp_path):
    records, _ = population.build(tmp_path / "pop", CASES)
    path = tmp_path / "population.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    n = len(records)
    trees = {"old": _old_tree(tmp_path), "new": population.ROOT}
    rank: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(2):
        for name, tree in trees.items():
            rank[name].append(json.loads(_run(tree, RANK, str(path), str(tmp_path / f"{name}.ndjson"))))
    assert _same(tmp_path / "old.ndjson", tmp_path / "new.ndjson") == 0
    best = {name: min(runs, key=lambda r: r["cpu"]) for name, runs in rank.items()}
    print(f"\nradar rank over {n} records ({n - CASES} Synthea general-population, {CASES} carrying a development "
          f"rare case's findings); old = {OLD}, new = this tree; identical outputs on all {n}")
    for name in ("old", "new"):
        r = best[name]
        cpus = ", ".join(f"{x['cpu']:.1f}" for x in rank[name])
        print(f"  {name}: {1000 * r['cpu'] / n:5.1f} ms CPU, {1000 * r['wall'] / n:5.1f} ms wall per patient; "
              f"start-up {r['startup']:.1f} s; peak RSS {r['rss_mb']:.0f} MB "
              f"(CPU per run: {cpus} s)")
    print(f"  new / old per patient: CPU {best['new']['cpu'] / best['old']['cpu']:.2f}, "
          f"wall {best['new']['wall'] / best['old']['wall']:.2f}")

    if os.environ.get("BENCH_SCALE_SCREEN", "1") != "0":
        export = write_per_type(tmp_path / "export", records, files_per_type=4)
        double = write_per_type(tmp_path / "double", records + [_renamed(r) for r in records], files_per_type=8)
        screens = {("old", "local[1]"): [export, double], ("new", "local[1]"): [export, double],
                   ("new", "local[2]"): [export, double]}
        for (name, master), exports in screens.items():
            screens[(name, master)] = json.loads(_run(trees[name], SCREEN, master, *map(str, exports)))
        print(f"radar screen (Spark, default partitions) over the same {n} patients as per-type NDJSON, then {2 * n} "
              f"(each twice, under another id): per patient with the Python workers up and their knowledge loaded, "
              f"and the marginal cost, (T({2 * n}) - T({n})) / {n}:")
        marginal, core_ms = {}, {}
        for (name, master), runs in screens.items():
            cold = runs[0]
            warm = min((r for r in runs[1:] if r["patients"] == n), key=lambda r: r["wall"])
            twice = min((r for r in runs[1:] if r["patients"] == 2 * n), key=lambda r: r["wall"])
            marginal[(name, master)] = (twice["wall"] - warm["wall"]) / n
            core_ms[(name, master)] = (twice["cpu"] - warm["cpu"]) / n
            walls = ", ".join(f"{r['wall']:.1f}" for r in runs[1:])
            rss = ", ".join(f"{x:.0f}" for x in twice["rss_mb"])
            print(f"  {name} {master}: {1000 * warm['wall'] / n:5.1f} ms per patient over {n} ({cold['wall']:.1f} s first "
                  f"run; then {walls} s), {1000 * twice['wall'] / (2 * n):5.1f} over {2 * n}; marginal "
                  f"{1000 * marginal[(name, master)]:5.1f} ms wall, {1000 * core_ms[(name, master)]:5.1f} core-ms of the "
                  f"machine; worker peak RSS {rss} MB; knowledge loads per worker {twice['loads']}")
        best = {key: min(r["wall"] for r in runs[1:] if r["patients"] == n) for key, runs in screens.items()}
        ratio = best[("new", "local[1]")] / best[("old", "local[1]")]
        one, two = marginal[("new", "local[1]")], marginal[("new", "local[2]")]
        cost = max(core_ms[("new", "local[1]")], core_ms[("new", "local[2]")])
        print(f"  new / old per patient on 1 core: {ratio:.2f} over {n}, "
              f"{marginal[('new', 'local[1]')] / marginal[('old', 'local[1]')]:.2f} marginal wall, "
              f"{core_ms[('new', 'local[1]')] / core_ms[('old', 'local[1]')]:.2f} marginal machine CPU; 2 cores / 1 core "
              f"{one / two:.2f}x marginal wall (2-core machine shared with other work)")
        print(f"  1 million patients at the larger marginal machine CPU, {1000 * cost:.1f} core-ms per patient: one "
              f"16-core node {1e6 * cost / 16 / 60:.0f} min, a 10-node cluster (160 cores) {1e6 * cost / 160 / 60:.1f} min, "
              f"if cores scale linearly (at local[1]'s marginal wall, {1000 * one:.1f} ms: {1e6 * one / 16 / 60:.0f} min "
              f"on 16 cores); plus the EHR's Bulk export")

    print("profile of the new tree, radar rank over the first 150 records (cumulative, app/ only):")
    print(_run(trees["new"], PROFILE, str(path), "150"))
