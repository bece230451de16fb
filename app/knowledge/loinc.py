"""loinc2hpo: a LOINC code plus a result outcome (H, L, POS, …) → an HPO term."""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
from functools import lru_cache
from pathlib import Path

from .paths import DATA_DIR

FILE = DATA_DIR / "loinc2hpo.json.gz"
SOURCE = "loinc2hpo-annotations.tsv"


# A reference interval holds the central 95 % of healthy people (CLSI EP28-A3c), so one result of
# an ordinary person falls beyond each side of it with this probability.
OUTSIDE_ONE_SIDE = 0.025


def build(source_dir: Path) -> dict:
    """Compile the loinc2hpo annotation table into ``{"loinc": {code: {outcome: hpo}}}`` with its source."""
    path = Path(source_dir) / SOURCE
    table: dict[str, dict[str, str]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            code, outcome, hpo = row["loincId"].strip(), row["outcome"].strip(), row["hpoTermId"].strip()
            if code and outcome and hpo.startswith("HP:"):
                table.setdefault(code, {})[outcome] = hpo
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return {"source": f"TheJacksonLaboratory/loinc2hpoAnnotation {SOURCE} (sha256 {digest}); "
                      "includes LOINC content, see loinc2hpo-LICENSE.md", "loinc": table}


def main_build(source_dir: Path) -> Path:
    """Write the compiled table; returns its path."""
    FILE.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(build(source_dir), separators=(",", ":"), sort_keys=True)
    # mtime=0: the same sources give the same bytes.
    with open(FILE, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write(text.encode("utf-8"))
    return FILE


@lru_cache(maxsize=1)
def load(path: Path = FILE) -> dict[str, dict[str, str]]:
    """``{loinc code: {outcome: HPO id}}`` from the committed file."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["loinc"]
