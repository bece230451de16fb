"""Compiled knowledge (Orphanet, HPO lexicon, loinc2hpo) committed under ``app/knowledge/data``.

``radar build-knowledge`` makes these files from the sources in ``../shared/data``; at run time
nothing outside the repository is read.
"""
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Knowledge:
    """Everything extraction and ranking read: HPO lexicon, Orphanet, loinc2hpo and the ranker."""

    lexicon: object
    orphanet: object
    loinc: dict
    ranker: object


@lru_cache(maxsize=1)
def load_knowledge() -> Knowledge:
    """Load all knowledge once per process (gunicorn loads it in the master, before forking)."""
    from ..rank.ranker import Ranker
    from . import hpo, loinc, orphanet

    return Knowledge(lexicon=hpo.load_lexicon(), orphanet=orphanet.load(), loinc=loinc.load(),
                     ranker=Ranker.load())


def warm_up(kb: Knowledge) -> None:
    """Build the lazily made indexes (text matcher, disease-name indexes) now, so that under
    gunicorn they are made once in the master and shared by the forked workers, and no
    clinician or CDS call pays for them."""
    from ..inference.grounding import name_index
    from ..phenotype.coded import _omim_names, _orpha_names
    from ..phenotype.text import get_matcher

    get_matcher(kb.lexicon)
    _orpha_names(kb.orphanet)
    _omim_names()
    name_index(kb.orphanet)
