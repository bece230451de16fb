"""What the chart, the card and ``radar rank`` say about one suggestion: how each finding weighs for
the disease against the general population, and what tells it apart from the next candidate.

Against the population (LIRICAL's per-finding likelihood ratio): ``P(finding | disease) /
P(finding | an ordinary person)``, the ratio the posterior multiplies (``posterior.log_lr``, with
``p0`` from ``background.frequencies`` and the record's own floors, as the ranker weighs it), so a
disease's own features raise it and a finding it does not explain leaves it near ×1. A finding
the disease is known not to have (Orphanet's "Excluded (0%)", or a term below one) lowers it,
with LIRICAL's ratio for a present finding the disease excludes (``EXCLUDED_LR``). The ranking does
not count exclusions (issue 22 left the ranking and P(rare) as they were): the bar says what the
knowledge says about the finding.

Against the next candidate: the ratio of the two diseases' bars for each finding, ``P(finding |
this) / P(finding | the other)``; the findings furthest from 1 are what tells them apart (the
posterior's share also weighs the priors, the coverage and the other candidates).

Constants:
- ``EXCLUDED_LR`` 1/1000: LIRICAL's ``EXCLUDED_IN_DISEASE_BUT_PRESENT_IN_QUERY_PROBABILITY``.
- ``CONTRAST_MAX`` 3 findings and ``CONTRAST_MIN_LR`` 2 (a finding at least twice as likely under
  one disease as under the other): display choices.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..knowledge.diseases import orpha_code

EXCLUDED_LR = 1e-3
CONTRAST_MAX = 3
CONTRAST_MIN_LR = 2.0


def excluded(disease_excluded: set[int], cols: list[int], ancestors: Callable[[int], np.ndarray]) -> np.ndarray:
    """Per query column, whether the disease is known not to have it: the term or one of its ancestors
    is among the disease's excluded columns."""
    if not disease_excluded:
        return np.zeros(len(cols), bool)
    return np.array([bool(disease_excluded.intersection(ancestors(q).tolist())) for q in cols], bool)


def weights(log_lrs: np.ndarray, excluded_mask: np.ndarray) -> np.ndarray:
    """Each finding's natural-log LR for one disease against the population (``log_lrs``: the ranker's
    per-finding row for it), ``log EXCLUDED_LR`` where the disease excludes the finding."""
    return np.where(excluded_mask, math.log(EXCLUDED_LR), log_lrs)


def _item(hpo: str, label: str, log_lr: float) -> dict:
    return {"hpo": hpo, "label": label, "log10_lr": round(float(log_lr) / math.log(10), 3)}


def bars(log_w: np.ndarray, excluded_mask: np.ndarray, cols: list[int], ids: list[str], labels: list[str]) -> list[dict]:
    """The evidence of a suggestion: ``{"hpo", "label", "log10_lr", "excluded"}`` per finding, in the
    record's order (``log_w``: :func:`weights`)."""
    return [_item(ids[q], labels[q], w) | {"excluded": bool(x)} for q, w, x in zip(cols, log_w, excluded_mask, strict=True)]


def contrast(mine: np.ndarray, theirs: np.ndarray, cols: list[int], ids: list[str], labels: list[str]) -> list[dict]:
    """The findings that tell one disease apart from another (``mine``, ``theirs``: their :func:`weights`),
    furthest from 1 first: ``log10_lr`` > 0 favours this disease, < 0 the other; at most
    ``CONTRAST_MAX``, each at least ``CONTRAST_MIN_LR`` either way."""
    ratio = np.asarray(mine) - np.asarray(theirs)
    order = sorted(range(len(cols)), key=lambda k: (-abs(ratio[k]), ids[cols[k]]))
    keep = [k for k in order if abs(ratio[k]) >= math.log(CONTRAST_MIN_LR)][:CONTRAST_MAX]
    return [_item(ids[cols[k]], labels[cols[k]], ratio[k]) for k in keep]


def annotate(shown: list, chosen: list[int], lrs: np.ndarray, cols: list[int], entities: list, group: np.ndarray,
             ancestors: Callable[[int], np.ndarray], ids: list[str], labels: list[str]) -> None:
    """Set each ``shown`` suggestion's ``evidence`` (:func:`bars`) and ``contrast`` (the best-ranked other
    candidate among ``chosen``, the ranked entity indices, and :func:`contrast` against it); ``lrs``:
    findings x diseases, the ranker's natural-log LRs against the population; ``group``: one id per
    disease (``entities.groups``), so a disease is never told apart from its own OMIM entries."""
    considered = chosen[:len(shown) + 1]
    w = {}
    for i in considered:
        x = excluded(entities[i].excluded, cols, ancestors)
        w[i] = (weights(lrs[:, i], x), x)
    for s, i in zip(shown, chosen, strict=False):
        s.evidence = bars(*w[i], cols, ids, labels)
        rival = next((j for j in considered if group[j] != group[i]), None)
        if rival is not None:
            e = entities[rival]
            s.contrast = {"name": e.name, "orpha": orpha_code(e.orpha), "omim": list(e.omim),
                          "findings": contrast(w[i][0], w[rival][0], cols, ids, labels)}
