"""The card mix (none / info / warning) per development population, as ``app.pipeline.signal`` decides it.

Populations (``population.py``, ``common_problems.py``): the real MIMIC-IV demo inpatients as they are,
copies of them carrying a development rare case's findings, the Synthea general population with lab
reference ranges restored, copies of it carrying rare cases, and ordinary made-up adults and children.
A documented subset, to keep the run to minutes: BENCH_MIX_CASES (default 100, seed 5) rare cases are
mixed into each host population and at most BENCH_MIX_N (default 100) records per population are
scored, a seeded sample (seed 7) where a population is larger; BENCH_MIX_N=0 scores every record. Printed
three times on the same analyses: with the rule before issue 22 item 3 (no candidate needed for a
warning), with the top candidate alone making a warning actionable, and with the default thresholds
(the candidate or a next step, ``app.rank.steps``).

    make bench                                  # with the other benchmarks
    .venv/bin/python -m tests.bench.bench_card_mix   # this one alone
"""
from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from app.config.cds import CdsThresholds
from app.fetch.files import record_from_bundle
from app.pipeline import extract, load_knowledge, reanalyse, signal

from . import common_problems, population
from .scoring import hit

CASES = int(os.environ.get("BENCH_MIX_CASES", "100"))
N = int(os.environ.get("BENCH_MIX_N", "100"))
SEED = 7
LEVELS = ("none", "info", "warning")


def _sample(items: list) -> list:
    return items if not N or len(items) <= N else random.Random(SEED).sample(items, N)


def populations() -> dict[str, list[tuple[dict, dict | None]]]:
    """Each population's (Bundle, truth) pairs (sampled); truth is None for ordinary records."""
    out: dict[str, list] = {"real inpatients": _sample([(b, None) for b in population.mimic_records()])}
    for name, build in (("real + rare", population.mimic_mixed), ("synthetic + rare", population.synthea_labs_mixed)):
        path, truth = build(CASES, 5)
        out[name] = _sample([(b, t) for b, t in zip(population.read_ndjson(path), truth, strict=True) if t["rare"]])
    out["synthetic general"] = _sample([(b, None) for b in population.synthea_labs()])
    out["common adults"] = _sample([(b, None) for b, _ in common_problems.adults()])
    out["common children"] = _sample([(b, None) for b, _ in common_problems.children()])
    return out


def card_mix(analyses: list, thresholds: CdsThresholds) -> Counter:
    """How many of ``analyses`` get no card, an info card, a warning card."""
    mix: Counter = Counter({level: 0 for level in LEVELS})
    for analysis in analyses:
        mix[signal(analysis, thresholds) or "none"] += 1
    return mix


def named(analysed: list[tuple], thresholds: CdsThresholds, orphanet) -> dict[str, str]:
    """Per card level, the share of rare cases whose diagnosis is among the first three candidates (what a
    card lists and its next steps are made of): whether a warning names the right thing more often."""
    out = {}
    for level in ("info", "warning"):
        cases = [(a, t) for a, t in analysed if t is not None and signal(a, thresholds) == level]
        hits = sum(any(hit(s, t["diagnoses"], orphanet) for s in a.suggestions[:3]) for a, t in cases)
        out[level] = f"{100 * hits / len(cases):.0f}% of {len(cases)}" if cases else "-"
    return out


def report(settings: tuple[CdsThresholds, ...] = (CdsThresholds(),)) -> str:
    """The mix per population as a table, for each of ``settings`` on the same analyses; for the
    populations of rare cases, how often each level's candidates include the diagnosis."""
    kb = load_knowledge()
    analysed = {name: [(reanalyse(extract(record_from_bundle(b), kb), kb, top=10), t) for b, t in pairs]
                for name, pairs in populations().items()}
    lines = []
    for thresholds in settings:
        lines += [f"card mix at {thresholds} (cases={CASES}, n<={N or 'all'} per population)",
                  f"{'population':<20} {'n':>4} " + " ".join(f"{lv:>8}" for lv in LEVELS)
                  + "   diagnosis in the first 3: info / warning"]
        for name, pairs in analysed.items():
            mix = card_mix([a for a, _ in pairs], thresholds)
            right = named(pairs, thresholds, kb.orphanet) if any(t for _, t in pairs) else None
            lines.append(f"{name:<20} {len(pairs):>4} " + " ".join(f"{mix[lv]:>8}" for lv in LEVELS)
                         + (f"   {right['info']} / {right['warning']}" if right else ""))
    return "\n".join(lines)


# Before issue 22 item 3 a warning needed no candidate: a threshold no candidate misses gives that rule.
BEFORE = CdsThresholds(warning_candidate=1e-12)
# Item 3's first rule: the top candidate alone (no step reaches a share of 1).
CANDIDATE_ONLY = CdsThresholds(warning_step=1.0)
SETTINGS = (BEFORE, CANDIDATE_ONLY, CdsThresholds())


@pytest.mark.skipif(not population.MIMIC.exists() or not population.SYNTHEA.exists(),
                    reason="../shared/data is not available")
def test_card_mix():
    print("\n" + report(SETTINGS))


if __name__ == "__main__":
    print(report(SETTINGS))
