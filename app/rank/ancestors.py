"""Common ancestors in the HPO hierarchy, for the ranker's explanations and coverage: pure numpy
over the ranker's closure matrices (CSR, a row per term: its ancestors, or its descendants, itself
included) and the terms' information content, which is never negative and never below an
ancestor's."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RecordView:
    """One record, as the explanations of its suggestions look at it (``Ranker._view``)."""

    cols: list[int]  # the patient's terms, most specific
    ancestors: np.ndarray  # patient term x HPO term: True at the patient term's ancestors (and itself)
    related: np.ndarray  # HPO terms at or above a recorded (present or absent) term
    below: np.ndarray  # HPO terms at or below a recorded term
    terms: np.ndarray | None = None  # HPO terms (sorted) whose ``mica`` is known: the suggestions' annotations
    mica: np.ndarray | None = None  # patient term x ``terms``: :func:`mica`


def _rows(matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the column indices of ``rows`` of a CSR ``matrix``, one after another; each row's size; where
    each row starts among them), gathered at once."""
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    sizes = ends - starts
    firsts = np.cumsum(sizes) - sizes
    return matrix.indices[np.repeat(starts - firsts, sizes) + np.arange(sizes.sum())], sizes, firsts


def shared_ic(desc, ic: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Per term ``t``, the highest IC among ``t``'s ancestors that are in ``shared`` (columns; 0
    without one): each shared term's IC written over its descendants, keeping the maximum."""
    best = np.zeros(len(ic))
    below, sizes, _ = _rows(desc, shared)
    # All at once (issue 23): the same maximum as writing them in rising order, no IC being negative.
    np.maximum.at(best, below, np.repeat(ic[shared], sizes))
    return best


def mica(anc, ic: np.ndarray, ancestors: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Patient term x ``terms``: the IC of their most informative common ancestor (0 without one),
    what :func:`shared_ic` of the patient term's ancestors gives at ``terms`` (``ancestors``: patient
    term x HPO term, True at its ancestors). Only the columns an explanation reads (issue 23: a
    whole row per patient term was most of the ranker's view of a record)."""
    if not len(terms):
        return np.zeros((len(ancestors), 0))
    above, _, firsts = _rows(anc, terms)
    # Every term is its own ancestor, so no group is empty; no IC is negative, so 0 is the floor.
    return np.maximum.reduceat(np.where(ancestors[:, above], ic[above], 0.0), firsts, axis=1)


def mica_at(anc, ic: np.ndarray, view: RecordView, terms: np.ndarray) -> np.ndarray:
    """:func:`mica` of the view's patient terms at ``terms``, from ``view.mica`` when it has them all."""
    if view.terms is not None and len(view.terms) and len(terms):
        at = np.minimum(np.searchsorted(view.terms, terms), len(view.terms) - 1)
        if np.array_equal(view.terms[at], terms):
            return view.mica[:, at]
    return mica(anc, ic, view.ancestors, terms)
