"""The "no rare disease" hypothesis: how often ordinary people's records show each finding (``p0``).

Two layers, one rule (:func:`frequencies`):

- **The shipped default** comes from real populations, never from one generator: the frequency of
  each finding among the persons of a population register (``app.knowledge.frequencies``: FinnGen
  R8, 342,499 persons, 905 HPO terms with their ancestors), and, for a finding no population source
  has seen, a hierarchical prior over the HPO graph (the share of diseases that carry the term, as
  :func:`_prior` says) that never goes below ``UNSEEN_FREQUENCY``. An unseen finding is thus not
  "rare by default": 1 in ``1 / UNSEEN_FREQUENCY`` ordinary records may show it.
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
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..knowledge import frequencies as reference_mod
from ..knowledge.paths import DATA_DIR

DEFAULT_PATH = DATA_DIR / "population.json.gz"
SOURCE = "synthea-dev.ndjson.gz"
MIN_PAIR = 2  # a pair seen in one record only is too weak to explain anything away
ROOT_PRIOR = 0.5  # before any record: an even chance that a person has some recorded finding
# A finding no population source has seen: at least this frequency in ordinary records (see
# tests/bench/bench_real.py for how it was chosen; a register of diagnoses lists few findings).
UNSEEN_FREQUENCY = 1e-3
SHARPNESS = 1.0
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


def reference() -> dict:
    """The shipped real-world frequencies (``app.knowledge.frequencies``), loaded once."""
    global _REFERENCE
    if _REFERENCE is None:
        _REFERENCE = reference_mod.load()
    return _REFERENCE


_REFERENCE: dict | None = None


def describe(background: dict) -> str:
    """Which background a record was judged against, in words for the chart, the card and the worklist."""
    if not background.get("site"):
        names = ", ".join(src.get("name", "?") for src in reference().get("sources", [])) or "none"
        return f"shipped default (real-world frequencies: {names})"
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


def frequencies(background: dict, counts: np.ndarray, parents: list[list[int]], ic: np.ndarray,
                smoothing: float, ref: np.ndarray | None = None) -> np.ndarray:
    """P(finding at or below each term | an ordinary person), one value per ranker column
    (``counts``: :func:`count_vector`; ``ref``: the real-world frequencies per column, 0 where unknown).

    The default is ``max(ref(t), prior(t), UNSEEN_FREQUENCY)`` (:func:`_prior`); with a site's
    counts over ``N`` records, ``(n(t) + DEFAULT_WEIGHT * default(t)) / (N + DEFAULT_WEIGHT)``.
    Both keep a term no more frequent than its parents (the reference takes the maximum over a
    term's descendants, counts are closures).
    """
    default = np.maximum(_prior(parents, ic, smoothing), UNSEEN_FREQUENCY)
    if ref is not None:
        default = np.maximum(default, ref)
    n_records = background.get("records", 0)
    if not n_records:
        return default
    return (counts + DEFAULT_WEIGHT * default) / (n_records + DEFAULT_WEIGHT)


def reference_vector(col: dict[str, int], n: int) -> np.ndarray:
    """The real-world frequencies (:func:`reference`) as one value per column (0 where unknown)."""
    ref = np.zeros(n)
    for hpo, f in reference().get("frequencies", {}).items():
        if hpo in col:
            ref[col[hpo]] = f
    return ref


def _prior(parents: list[list[int]], ic: np.ndarray, smoothing: float) -> np.ndarray:
    """The hierarchical prior before any record: the root has ``ROOT_PRIOR``, and each term the share
    of its parent's mass that the diseases give it, ``p(t) = p(parent) * s(t)``, ``s(t) =
    exp(IC(parent) - IC(t))`` (the share of the parent's diseases that also have ``t``); with several
    parents the smallest estimate holds. Terms are visited parents first."""
    p = np.zeros(len(ic))
    depth = _depths(parents)
    for c in np.argsort(depth, kind="stable"):
        if not parents[c]:
            p[c] = ROOT_PRIOR
            continue
        best = 1.0
        for a in parents[c]:
            share = math.exp(SHARPNESS * min(0.0, ic[a] - ic[c])) if math.isfinite(ic[c]) else 1.0
            best = min(best, p[a] * share)
        p[c] = best
    return p


def _depths(parents: list[list[int]]) -> np.ndarray:
    """Longest path from a root, per column (a parent is always shallower than its child)."""
    depth = np.full(len(parents), -1)

    def visit(c: int) -> int:
        stack = [c]
        while stack:
            top = stack[-1]
            pending = [a for a in parents[top] if depth[a] < 0]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depth[top] = 1 + max((depth[a] for a in parents[top]), default=-1)
        return depth[c]

    for c in range(len(parents)):
        if depth[c] < 0:
            visit(c)
    return depth


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


def load(path: Path = DEFAULT_PATH) -> dict:
    """The compiled background; an empty one (prior only) when the file is missing."""
    try:
        with gzip.open(path, "rt") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {"records": 0, "counts": {}, "pairs": {}}


def build(source: Path) -> dict:
    """Run every record of ``source`` (NDJSON of Bundles) through the builder and extraction; count."""
    from ..fetch.files import record_from_bundle
    from ..knowledge import load_compiled
    from ..knowledge.ontology import ontology
    from ..phenotype import extract

    kb, ont = load_compiled(), ontology()
    opener = gzip.open if str(source).endswith(".gz") else open
    closures = []
    with opener(source, "rt") as fh:
        for line in fh:
            if line.strip():
                profile = extract(record_from_bundle(json.loads(line)), kb)
                closures.append(closure(ont, [p.hpo for p in profile.present]))
    data = count(closures)
    data["source"] = Path(source).name
    return data


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


def main_build(source_dir: str | Path, path: str | Path = DEFAULT_PATH) -> Path:
    """Build the background from ``source_dir`` (``radar build-knowledge``) and write it."""
    data = build(Path(source_dir) / SOURCE)
    path = Path(path)
    payload = json.dumps(data, separators=(",", ":")).encode()
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as fh:  # byte-identical rebuilds
        fh.write(payload)
    return path


SITE_FORMAT = "radar-background"
MIN_COUNT = 11  # the usual small-cell rule: a count below it could point at a person
MIN_RECORDS = 100  # fewer records than this say little about a population, and too much about each person


def site(counts: dict[str, int], pairs: dict[str, dict[str, int]], records: int, *, name: str,
         min_count: int = MIN_COUNT, source: dict | None = None, created: str | None = None) -> dict:
    """A site background (``radar learn-background``) from counts over ``records`` records: counts
    only, every count (and pair) below ``min_count`` dropped, so a missing term reads "fewer than
    ``min_count``"; ``version`` is a hash of the content, so an identical rebuild keeps its version."""
    from datetime import datetime, timezone
    from hashlib import sha256

    kept = {t: int(n) for t, n in sorted(counts.items()) if n >= min_count}
    kept_pairs: dict[str, dict[str, int]] = {}
    for a, row in sorted(pairs.items()):
        for b, n in sorted(row.items()):
            if n >= min_count and a in kept and b in kept:
                kept_pairs.setdefault(a, {})[b] = int(n)
    digest = sha256(json.dumps([records, min_count, kept, kept_pairs], sort_keys=True).encode()).hexdigest()[:12]
    return {"format": SITE_FORMAT, "version": digest, "name": name, "site": True,
            "created": created or datetime.now(timezone.utc).date().isoformat(), "records": int(records),
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
