"""The rare-disease signal judged on real and realistic populations (``real_eval.evaluate``): real MIMIC-IV
demo inpatients (tune / report halves by a hash of the Patient id), rare cases inside their records,
the Synthea general population with adult lab reference ranges restored and rare cases inside it,
and ordinary made-up adults and children with common problems. Every printed figure says whether
it comes from a **real** or a **synthetic** population.

Asserts only sanity; `make bench`. BENCH_REAL_CASES (default 600, seed 5) rare cases per host population.
Builders' outputs are cached under .radar/cache/real (keyed on their inputs); extraction takes minutes.
"""
from __future__ import annotations

import os

import pytest

from . import population

pytestmark = pytest.mark.skipif(not population.MIMIC.exists() or not population.SYNTHEA.exists(),
                                reason="../shared/data is not available")
CASES = int(os.environ.get("BENCH_REAL_CASES", "600"))
SEED = 5


def test_real_populations():
    from .real_eval import evaluate, report

    fig = evaluate(cases=CASES, seed=SEED)
    print("\n" + report(fig))
    inp = fig["real_inpatients"]
    assert inp["all"]["n"] == inp["tune"]["n"] + inp["report"]["n"] == 49
    assert fig["real_rare"]["all"]["ranking"]["all"]["n"] == CASES
    assert fig["synthetic_lab_restore"]["restored"] > 0
    assert fig["common_adults"]["n"] == 200 and fig["common_children"]["n"] == 100
    for key in ("real_rare", "synthetic_rare"):
        a = fig[key]["all"]["auroc"] if key == "real_rare" else fig[key]["auroc"]
        assert 0.0 <= a <= 1.0
