"""The general-population background: counting records and the hierarchical prior (plain data)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from app.rank import background

# A toy ontology as ranker columns: 0 root; 1 and 2 under it; 3 under both 1 and 2; 4 under 1.
PARENTS = [[], [0], [0], [1, 2], [1]]
COL = {"R": 0, "A": 1, "B": 2, "C": 3, "D": 4}
IC = np.array([0.0, 1.0, 1.0, 2.0, 3.0])


def frequencies(data: dict, smoothing: float) -> np.ndarray:
    return background.frequencies(data, background.count_vector(data, COL, len(IC)), PARENTS, IC, smoothing)


def test_count_keeps_closure_counts_and_pairs_seen_twice():
    data = background.count([{"R", "A"}, {"R", "A", "D"}, {"R", "B"}, {"R", "A", "D"}])
    assert data["records"] == 4
    assert data["counts"] == {"A": 3, "B": 1, "D": 2, "R": 4}
    assert data["pairs"]["A"]["D"] == 2 and data["pairs"]["A"]["R"] == 3
    assert "B" not in data["pairs"].get("R", {})  # seen together once only


def test_seen_terms_follow_the_data_and_unseen_ones_get_the_leftover_mass():
    data = {"records": 100, "counts": {"R": 60, "A": 40, "B": 0, "D": 10}}
    p = frequencies(data, 0.25)
    assert p[0] == pytest.approx((60 + 0.125) / 100.25)
    assert p[1] == pytest.approx(0.4, abs=0.01)
    assert p[4] == pytest.approx(0.1, abs=0.01)
    # B was never seen under a root seen 60 times: a small share of the root, not zero.
    assert 0 < p[2] < 0.01
    # C (under A and B) is never more common than either parent.
    assert p[3] <= min(p[1], p[2])
    assert all(p[c] <= p[a] + 1e-12 for c, ps in enumerate(PARENTS) for a in ps)


def test_more_smoothing_leaves_more_mass_to_unseen_findings():
    data = {"records": 100, "counts": {"R": 60, "A": 40}}
    low = frequencies(data, 0.25)
    high = frequencies(data, 4.0)
    assert high[2] > low[2]


def test_an_empty_background_is_the_prior_alone():
    p = frequencies({"records": 0, "counts": {}}, 1.0)
    assert p[0] == pytest.approx(background.ROOT_PRIOR)
    assert p[1] == pytest.approx(background.ROOT_PRIOR * math.exp(-1.0))


def test_pair_table_is_symmetric_by_column():
    table = background.pair_table({"pairs": {"A": {"D": 5, "unknown": 3}}}, COL)
    assert table == {1: {4: 5}, 4: {1: 5}}


def test_the_committed_background_knows_ordinary_findings():
    data = background.load()
    assert data["records"] >= 200
    assert data["counts"]["HP:0000822"] > 0.1 * data["records"]  # hypertension is common
    assert "HP:0001166" not in data["counts"]  # arachnodactyly is not


def test_missing_file_gives_an_empty_background(tmp_path):
    assert background.load(tmp_path / "nope.json.gz") == {"records": 0, "counts": {}, "pairs": {}}


def test_count_vector_places_counts_by_column_and_drops_unknown_terms():
    data = {"counts": {"A": 3, "D": 1, "HP:unknown": 9}}
    assert background.count_vector(data, COL, len(IC)).tolist() == [0.0, 3.0, 0.0, 0.0, 1.0]
