"""``radar build-knowledge``: compile the committed knowledge files from the shared sources."""
from __future__ import annotations

from pathlib import Path

from .paths import DEFAULT_SOURCE


def build_all(source_dir: Path = DEFAULT_SOURCE) -> list[Path]:
    """Rebuild every knowledge file from ``source_dir``; returns the files written."""
    from . import frequencies, hpo, hpoa, icd, loinc, orphanet

    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise FileNotFoundError(f"knowledge sources not found at {source_dir}")
    return [hpo.main_build(source_dir), orphanet.main_build(source_dir), loinc.main_build(source_dir),
            hpoa.main_build(source_dir), icd.main_build(source_dir), frequencies.main_build(source_dir)]
