"""How the benchmarks score a ranking: AUROC, calibration, hits and ranks, and a phenopacket's demographics."""
from __future__ import annotations

import re

import numpy as np


def auroc(labels, scores) -> float:
    """Mann–Whitney AUROC, ties counted half."""
    from scipy.stats import rankdata

    y = np.asarray(labels, bool)
    r = rankdata(scores)
    n1, n0 = y.sum(), (~y).sum()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def reliability(conf, correct, bins=10) -> tuple[float, list[tuple[float, float, float, int]]]:
    """Expected calibration error and the table (bin low, mean confidence, accuracy, n)."""
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    table, ece = [], 0.0
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=False)):
        m = (conf >= lo) & ((conf < hi) if k < bins - 1 else (conf <= hi))
        if m.any():
            table.append((lo, conf[m].mean(), correct[m].mean(), int(m.sum())))
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return ece, table


def hit(suggestion, diagnoses, orphanet) -> bool:
    """Whether a suggestion is one of the case's diagnoses (OMIM ids, or their Orphanet codes)."""
    omim = {d["id"] for d in diagnoses}
    orpha = {f"ORPHA:{o}" for d in omim for o in orphanet.by_omim(d.split(":")[1])}
    return bool(omim & set(suggestion.omim)) or (suggestion.orpha in orpha)


def rank_of(suggestions, diagnoses, orphanet) -> int | None:
    """The rank of the first suggestion that is a diagnosis of the case, or None."""
    return next((s.rank for s in suggestions if hit(s, diagnoses, orphanet)), None)


def demographics(case) -> tuple[str | None, float | None]:
    """(sex, age in years) of a phenopacket, as the EHR path gives them (``female``/``male``)."""
    sex = {"FEMALE": "female", "MALE": "male"}.get(case.get("sex"))
    m = re.match(r"P(?:(\d+)Y)?(?:(\d+)M)?", case.get("age") or "")
    age = int(m.group(1) or 0) + int(m.group(2) or 0) / 12 if m and (m.group(1) or m.group(2)) else None
    return sex, age
