"""The rare-disease signal judged as a screen: P(rare) on a population of ordinary records and
ordinary records carrying a development rare case's findings (``population.build``). Prints the
AUROC of P(rare), the share of ordinary and of rare-disease records flagged at the default
threshold (the CDS card's decision), calibration (reliability table and expected calibration error
of the top suggestion; P(rare) after adjusting for this population's rare share), ranking inside
ordinary records, and what the signal adds to a ranking's time. All views also on the no-leak
subset (cases whose paper did not feed the annotations).

Honesty: the ordinary records act as a site's own background (``radar learn-background``), learned
5-fold on top of the shipped real-world default — each record is scored against counts from the other
folds' ordinary records, never from its own host record. ``bench_real.py`` scores the same kind of
population against the shipped default alone, and real records beside it.
Asserts only sanity; `make bench`. BENCH_POPULATION_CASES (default 1500, 0 = all 7,669) rare cases.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np
import pytest

from app.config.cds import CdsThresholds
from app.fetch.files import record_from_bundle
from app.knowledge.ontology import ontology
from app.phenotype import extract
from app.pipeline import load_knowledge, reanalyse, signal
from app.rank import background as background_mod

from . import population
from .scoring import auroc, hit, rank_of, reliability

FOLDS = 5
# mix_population.py leaves the copied notes' Binary URLs pointing at the old ids (population.repaired);
# 0 measures the population as the tool writes it, with those notes unreadable.
REPAIR = os.environ.get("BENCH_POPULATION_REPAIR", "1") == "1"
pytestmark = pytest.mark.skipif(not population.DATA.exists(), reason="../shared/data is not available")


def test_population_screen(tmp_path):
    from app.rank.posterior import RARE_SHARE

    n_cases = int(os.environ.get("BENCH_POPULATION_CASES", "1500"))
    records, truth = population.build(tmp_path, n_cases, repair=REPAIR)
    kb = load_knowledge()
    ont = ontology()
    profiles = [extract(record_from_bundle(r), kb) for r in records]
    hosts = sorted({population.host_of(t) for t in truth if not t["rare"]})
    fold_of = {h: i % FOLDS for i, h in enumerate(hosts)}
    folds = [fold_of[population.host_of(t)] for t in truth]
    thresholds = CdsThresholds()
    ranker = kb.ranker
    committed = {}  # the shipped default (real-world frequencies); the folds add site-like counts
    rows = []
    try:
        for f in range(FOLDS):
            train = [background_mod.closure(ont, [p.hpo for p in prof.weighed])
                     for prof, t, k in zip(profiles, truth, folds, strict=False) if not t["rare"] and k != f]
            ranker.set_background(background_mod.count(train))
            for prof, t, k in zip(profiles, truth, folds, strict=False):
                if k == f:
                    a = reanalyse(prof, kb, top=10)
                    rows.append((t, a, signal(a, thresholds) is not None))
    finally:
        ranker.set_background(committed)

    rare = np.array([t["rare"] for t, _, _ in rows])
    leak = np.array([bool(t.get("leak")) for t, _, _ in rows])
    p_rare = np.array([a.rare_probability for _, a, _ in rows])
    flagged = np.array([f for _, _, f in rows])
    nl = ~rare | ~leak
    print(f"\npopulation: {int((~rare).sum())} ordinary records + {int(rare.sum())} with a rare case's findings "
          f"({int((rare & ~leak).sum())} no-leak); background 5-fold by host record; copied notes' Binary URLs "
          f"repaired (BENCH_POPULATION_REPAIR={int(REPAIR)})")
    print(f"  AUROC of P(rare): all {auroc(rare, p_rare):.4f}   no-leak {auroc(rare[nl], p_rare[nl]):.4f}")
    print(f"  flagged at P(rare) >= {thresholds.min_probability}: ordinary {100 * flagged[~rare].mean():.2f}% "
          f"({int(flagged[~rare].sum())}/{int((~rare).sum())})   rare {100 * flagged[rare].mean():.1f}%   "
          f"rare no-leak {100 * flagged[rare & ~leak].mean():.1f}%")
    ordinary_p = np.sort(p_rare[~rare])
    print(f"  ordinary P(rare): median {np.median(ordinary_p):.3f}, 99th percentile {np.quantile(ordinary_p, 0.99):.3f}, "
          f"max {ordinary_p[-1]:.3f}")
    # P(rare) itself cannot be checked for calibration here: this population's ordinary records carry
    # no rare disease and its rare records all carry their findings, while in a real population
    # about RARE_SHARE of people with bland records do have one. Its ranking (AUROC) is checked above.
    print(f"  P(rare) of a record with no findings: {RARE_SHARE:.2f} (the population base rate)")

    top_conf, top_ok, ranks, sub_leak = [], [], [], []
    for t, a, _ in rows:
        if t["rare"] and a.suggestions:
            top_conf.append(a.suggestions[0].probability)
            top_ok.append(hit(a.suggestions[0], t["diagnoses"], kb.orphanet))
            sub_leak.append(bool(t.get("leak")))
        if t["rare"]:
            ranks.append((rank_of(a.suggestions, t["diagnoses"], kb.orphanet), bool(t.get("leak"))))
    top_conf, top_ok, sub_leak = np.array(top_conf), np.array(top_ok), np.array(sub_leak)
    for name, m in (("all", np.ones(len(top_conf), bool)), ("no-leak", ~sub_leak)):
        ece, table = reliability(top_conf[m], top_ok[m])
        print(f"  top suggestion, {name}: ECE {ece:.3f}  (mean probability {top_conf[m].mean():.3f}, "
              f"right {top_ok[m].mean():.3f}, n={int(m.sum())})")
        print("    " + "  ".join(f"[{lo:.1f}: {c:.2f}→{acc:.2f} n={n}]" for lo, c, acc, n in table))
    for name, keep in (("all", lambda lk: True), ("no-leak", lambda lk: not lk)):
        rs = [r for r, lk in ranks if keep(lk)]
        top = {k: 100 * sum(1 for r in rs if r is not None and r <= k) / len(rs) for k in (1, 3, 10)}
        print(f"  rare records ranked inside ordinary records, {name}: top-1 {top[1]:.1f}%  top-3 {top[3]:.1f}%  "
              f"top-10 {top[10]:.1f}%  (n={len(rs)})")
    _timing(ranker, [a for t, a, _ in rows if t["rare"]][:400])
    assert auroc(rare, p_rare) > 0.5


def _timing(ranker, analyses):
    """p50 of a full assessment against the ranking alone (term scores summed, sorted, top 10 built)."""
    full, plain = [], []
    for a in analyses:
        present = [p.hpo for p in a.profile.present]
        documented = [p.hpo for p in a.profile.present if p.origin == "condition"]
        cols = ranker._query_cols(present)
        if not cols:
            continue
        ranker.assess(present, documented=documented)  # warm both caches alike
        t0 = time.perf_counter()
        total = np.zeros(len(ranker._entities))
        for q in cols:
            total += ranker._cached_term_scores(q)
        order = np.lexsort((np.arange(len(total)), -total))[:10]
        view = ranker._view(cols, set())
        [ranker._suggestion(k + 1, ranker._entities[i], 1.0, view) for k, i in enumerate(order)]
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ranker.assess(present, documented=documented)
        full.append(time.perf_counter() - t0)
    p50_full, p50_plain = statistics.median(full), statistics.median(plain)
    print(f"  time per record (warm term caches): ranking alone p50 {1000 * p50_plain:.1f} ms, with P(rare), "
          f"probabilities and bars p50 {1000 * p50_full:.1f} ms → adds {1000 * (p50_full - p50_plain):.1f} ms")
