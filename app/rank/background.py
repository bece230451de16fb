"""The "no rare disease" hypothesis: how often ordinary people's records show each finding.

Learned from general-population records (``../shared/data/synthea-dev.ndjson.gz``: people with
hypertension, obesity, sinusitis, prediabetes, ordinary visit notes) by running them through the
same builder and extraction as every patient, so the background knows what *our extraction*
finds in an ordinary record, notes included. The compiled file holds:

- ``counts``: for each HPO term, the number of records with that finding at or below it;
- ``pairs``: for pairs of terms seen together in at least two records, how many records have
  both, so that a finding a documented common condition explains (anaemia with chronic kidney
  disease, headache with sinusitis) weighs less in that record.

Frequencies of terms the population never showed come from a hierarchical prior over the HPO
graph (see :func:`frequencies`), not from a floor.
"""
from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..knowledge.paths import DATA_DIR

DEFAULT_PATH = DATA_DIR / "population.json.gz"
SOURCE = "synthea-dev.ndjson.gz"
MIN_PAIR = 2  # a pair seen in one record only is too weak to explain anything away
ROOT_PRIOR = 0.5  # before any record: an even chance that a person has some recorded finding


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


def describe(background: dict) -> str:
    """Which background a record was judged against, in words for the chart, the card and the worklist."""
    name = background.get("name") or "shipped default"
    version = background.get("version")
    records = background.get("records") or 0
    out = f"{name} {version}" if version else name
    return f"{out} ({records:,} records)" if background.get("site") else out


def count_vector(background: dict, col: dict[str, int], n: int) -> np.ndarray:
    """The background's ``counts`` as one value per column (``col``: HPO id → column)."""
    counts = np.zeros(n)
    for hpo, k in background.get("counts", {}).items():
        if hpo in col:
            counts[col[hpo]] = k
    return counts


def frequencies(background: dict, counts: np.ndarray, parents: list[list[int]], ic: np.ndarray,
                smoothing: float) -> np.ndarray:
    """P(finding at or below each term | an ordinary person), one value per ranker column
    (``counts``: :func:`count_vector`).

    A Pólya-tree-style prior along the ontology: the root's frequency is the share of records with
    any finding, and each term takes the share of its parent's records that reach it,
    ``p(t) = p(parent) * (n(t) + a * s(t)) / (n(parent) + a)``, where ``s(t)`` is the share of the
    parent's diseases that also have ``t`` (from information content) and ``a`` the ``smoothing``
    pseudo-count. A term the population never showed thus gets the part of its parent's mass the
    data leave unexplained, split the way diseases split it; with several parents the smallest
    estimate holds (a finding is never more common than any of its parents). Terms are visited
    parents first (fewer ancestors first).
    """
    n_records = background.get("records", 0)
    p = np.zeros(len(ic))
    depth = _depths(parents)
    for c in np.argsort(depth, kind="stable"):
        if not parents[c]:
            p[c] = (counts[c] + smoothing * ROOT_PRIOR) / (n_records + smoothing)
            continue
        best = 1.0
        for a in parents[c]:
            share = math.exp(min(0.0, ic[a] - ic[c])) if math.isfinite(ic[c]) else 1.0
            best = min(best, p[a] * (counts[c] + smoothing * share) / (counts[a] + smoothing))
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
