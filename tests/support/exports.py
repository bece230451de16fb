"""The sandbox's patients as the screen reads them: Bundles, or a Bulk-export-shaped set of
per-type NDJSON files (shuffled, split, Binaries on their own)."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

PATIENTS = Path(__file__).resolve().parents[2] / "dev" / "data" / "patients.ndjson.gz"


def bundles() -> list[dict]:
    """The sandbox's 69 patients (64 rare-disease records and the edge cases), one Bundle each."""
    with gzip.open(PATIENTS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_per_type(directory: Path, items: list[dict], *, seed: int = 5, files_per_type: int = 3) -> Path:
    """Write the resources of ``items`` (Bundles) as a Bulk export would: per type, shuffled, split."""
    directory.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[dict]] = {}
    for bundle in items:
        for entry in bundle["entry"]:
            by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    rng = random.Random(seed)
    for kind, resources in by_type.items():
        rng.shuffle(resources)
        for n in range(files_per_type):
            part = resources[n::files_per_type]
            if part:
                (directory / f"{kind}.{n + 1}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in part))
    return directory
