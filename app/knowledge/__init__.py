"""Compiled knowledge (Orphanet, HPO lexicon, loinc2hpo) committed under ``app/knowledge/data``.

``radar build-knowledge`` makes these files from the sources in ``../shared/data``; at run time
nothing outside the repository is read. This layer knows nothing of its users: the ranker that
scores against it is added by ``app.pipeline.load_knowledge``, through the ``Scorer`` interface.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from .hpo import Lexicon, load_lexicon
from .loinc import load as load_loinc
from .orphanet import OrphanetKB
from .orphanet import load as load_orphanet
from .paths import DATA_DIR

__all__ = ["DATA_DIR", "Knowledge", "Scorer", "load_compiled"]


class Scorer(Protocol):
    """What the pipeline and grounding ask of a ranker."""

    background_name: str  # which general-population background P(rare) is judged against, in words

    def assess(self, present: list[str], absent: list[str] = ..., *, documented: list[str] = ..., top: int = ...,
               exclude_orpha: set[str] = ..., exclude_omim: set[str] = ..., evidence_for: int = ...,
               sex: str | None = ..., age_years: float | None = ..., chance: dict[str, float] | None = ...):
        """P(rare), the ranked suggestions with their probabilities, and the findings used."""

    def explain(self, orpha: str, present: list[str], absent: list[str] = ...) -> tuple[list[dict], list[dict]]:
        """(matching findings, findings to look for) of one disease."""


@dataclass(frozen=True)
class Knowledge:
    """Everything extraction and ranking read: HPO lexicon, Orphanet, loinc2hpo and the ranker."""

    lexicon: Lexicon
    orphanet: OrphanetKB
    loinc: dict[str, dict[str, str]]
    ranker: Scorer | None = None


@lru_cache(maxsize=1)
def load_compiled() -> Knowledge:
    """The compiled knowledge files, loaded once per process (no ranker)."""
    return Knowledge(lexicon=load_lexicon(), orphanet=load_orphanet(), loinc=load_loinc())
