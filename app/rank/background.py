"""The "no rare disease" hypothesis: how often ordinary people's records show each finding (``p0``).

Two layers, one rule (:func:`frequencies`):

- **The shipped default** comes from real populations, never from one generator: the frequency of
  each finding among the persons of a population register (``app.knowledge.frequencies``: FinnGen
  R8, 342,499 persons, 905 HPO terms with their ancestors), and, for a finding no population source
  has seen, ``UNSEEN_FREQUENCY``: an unseen finding is not "rare by default". (A hierarchical
  prior from the share of diseases that carry a term was tried and dropped: over the 369 terms the
  register does count, that share and the population frequency are unrelated, r = -0.11.)
- **A site's own background** (``radar learn-background``, :func:`site`): counts of each finding
  over the site's records, small counts suppressed. Where counts are few the estimate is pulled
  toward the default with ``DEFAULT_WEIGHT`` pseudo-records: ``(n(t) + A * default(t)) / (N + A)``.
  ``pairs`` (terms seen together in at least ``MIN_PAIR`` records) let a documented common
  condition explain the findings it brings (anaemia with chronic kidney disease).

Lab results have their own lower bound per record (``phenotype.labs``: how often an ordinary record
with the same number of results shows the finding), applied by the ranker.
"""
from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..knowledge import frequencies as reference_mod
from ..knowledge.loinc import OUTSIDE_ONE_SIDE

MIN_PAIR = 2  # a pair seen in one record only is too weak to explain anything away
# A finding no population source has seen: at least this frequency in ordinary records (see
# tests/bench/bench_real.py for how it was chosen; a register of diagnoses lists few findings).
UNSEEN_FREQUENCY = 3e-4
DEFAULT_WEIGHT = 1000  # pseudo-records by which a site's counts are pulled toward the default


def count(closures: Iterable[set[str]]) -> dict:
    """The compiled background from each record's finding closure (present terms and their ancestors)."""
    counts: Counter = Counter()
    pairs: Counter = Counter()
    n = 0
    for seen in closures:
        n += 1
        terms = sorted(seen)
        counts.update(terms)
        pairs.update((a, b) for i, a in enumerate(terms) for b in terms[i + 1:])
    kept: dict[str, dict[str, int]] = {}
    for (a, b), k in sorted(pairs.items()):
        if k >= MIN_PAIR:
            kept.setdefault(a, {})[b] = k
    return {"records": n, "counts": dict(sorted(counts.items())), "pairs": kept}


@lru_cache(maxsize=1)
def reference() -> dict:
    """The shipped real-world frequencies (``app.knowledge.frequencies``), loaded once."""
    return reference_mod.load()


def describe(background: dict) -> str:
    """Which background a record was judged against, in words for the chart, the card and the worklist
    (short: it sits on one line of the chart; the sources are in ``reference()["sources"]``)."""
    if not background.get("site"):
        return "shipped default (real-world population frequencies)"
    version = background.get("version")
    out = f"site: {background.get('name') or 'unnamed'}" + (f" {version}" if version else "")
    return f"{out} ({background.get('records') or 0:,} records)"


def count_vector(background: dict, col: dict[str, int], n: int) -> np.ndarray:
    """The background's ``counts`` as one value per column (``col``: HPO id → column)."""
    counts = np.zeros(n)
    for hpo, k in background.get("counts", {}).items():
        if hpo in col:
            counts[col[hpo]] = k
    return counts


def frequencies(background: dict, counts: np.ndarray, ref: np.ndarray, ancestors) -> np.ndarray:
    """P(finding at or below each term | an ordinary person), one value per ranker column.

    ``ref``: the real-world frequencies per column (:func:`reference_vector`, 0 where unknown);
    ``counts``: a site's counts (:func:`count_vector`); ``ancestors``: the ranker's CSR matrix of each
    column's ancestors (itself included). The default is ``max(ref(t), UNSEEN_FREQUENCY)``, raised so
    that no term is rarer than a term below it; with a site's counts over ``N`` records,
    ``(n(t) + DEFAULT_WEIGHT * default(t)) / (N + DEFAULT_WEIGHT)``.
    """
    default = np.maximum(ref, UNSEEN_FREQUENCY)
    below = np.repeat(default, np.diff(ancestors.indptr))  # each column's value, once per ancestor of it
    np.maximum.at(default, ancestors.indices, below)
    n_records = background.get("records", 0)
    if not n_records:
        return default
    return (counts + DEFAULT_WEIGHT * default) / (n_records + DEFAULT_WEIGHT)


def reference_vector(col: dict[str, int], n: int, lab_defined: Iterable[str] = ()) -> np.ndarray:
    """The real-world frequencies (:func:`reference`) as one value per column (0 where unknown),
    at least ``OUTSIDE_ONE_SIDE`` for a finding a laboratory result defines (``lab_defined``: the
    terms loinc2hpo gives for a high or low result): a reference interval holds the central 95 % of
    healthy people, so by construction 2.5 % of them fall beyond each side on one test."""
    ref = np.zeros(n)
    for hpo, f in reference().get("frequencies", {}).items():
        if hpo in col:
            ref[col[hpo]] = f
    for hpo in lab_defined:
        if hpo in col:
            ref[col[hpo]] = max(ref[col[hpo]], OUTSIDE_ONE_SIDE)
    return ref


def lab_defined(loinc: dict[str, dict[str, str]]) -> set[str]:
    """The HPO terms a high or low laboratory result stands for (loinc2hpo's H and L outcomes)."""
    return {hpo for outcomes in loinc.values() for outcome, hpo in outcomes.items() if outcome in ("H", "L")}


def pair_table(background: dict, col: dict[str, int]) -> dict[int, dict[int, int]]:
    """Symmetric co-occurrence counts by ranker column (``pairs`` of the compiled file)."""
    table: dict[int, dict[int, int]] = {}
    for a, row in background.get("pairs", {}).items():
        ca = col.get(a)
        if ca is None:
            continue
        for b, k in row.items():
            cb = col.get(b)
            if cb is not None:
                table.setdefault(ca, {})[cb] = k
                table.setdefault(cb, {})[ca] = k
    return table


def load(path: Path) -> dict:
    """A background file (a site's, ``radar learn-background``); an empty one (the shipped default
    alone) when the file is missing."""
    try:
        with gzip.open(path, "rt") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {"records": 0, "counts": {}, "pairs": {}}


def closure(ont, terms: list[str]) -> set[str]:
    """The terms and all their ancestors (unknown ids dropped): what a record counts towards."""
    out = set()
    for hpo in terms:
        try:
            term = ont.get_hpo_object(hpo)
        except (RuntimeError, ValueError, KeyError):
            continue
        out.add(term.id)
        out.update(p.id for p in term.all_parents)
    return out


SITE_FORMAT = "radar-background"
MIN_COUNT = 11  # the usual small-cell rule: a count below it could point at a person
MIN_RECORDS = 100  # fewer records than this say little about a population, and too much about each person


def site(counts: dict[str, int], pairs: dict[str, dict[str, int]], records: int, *, name: str,
         min_count: int = MIN_COUNT, source: dict | None = None, created: str | None = None) -> dict:
    """A site background (``radar learn-background``) from counts over ``records`` records: counts
    only, every count (and pair) below ``min_count`` dropped, so a missing term reads "fewer than
    ``min_count``"; ``version`` is a hash of the content, so an identical rebuild keeps its version."""
    from datetime import datetime
    from hashlib import sha256

    kept = {t: int(n) for t, n in sorted(counts.items()) if n >= min_count}
    kept_pairs: dict[str, dict[str, int]] = {}
    for a, row in sorted(pairs.items()):
        for b, n in sorted(row.items()):
            if n >= min_count and a in kept and b in kept:
                kept_pairs.setdefault(a, {})[b] = int(n)
    digest = sha256(json.dumps([records, min_count, kept, kept_pairs], sort_keys=True).encode()).hexdigest()[:12]
    return {"format": SITE_FORMAT, "version": digest, "name": name, "site": True,
            "created": created or datetime.now(UTC).date().isoformat(), "records": int(records),
            "min_count": int(min_count), "counts": kept, "pairs": kept_pairs, "source": source or {}}


def write(path: str | Path, data: dict) -> Path:
    """Write a background as gzip JSON, atomically: a temporary file beside ``path``, then a rename,
    so a reader (or a failed build) never sees half a file and the old one stays until the new is whole."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
