"""The general-population background: the real-world default, the unseen floor, a site's counts (plain data)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from app.rank import background

# A toy ontology as ranker columns: 0 root; 1 and 2 under it; 3 under both 1 and 2; 4 under 1.
PARENTS = [[], [0], [0], [1, 2], [1]]
COL = {"R": 0, "A": 1, "B": 2, "C": 3, "D": 4}
IC = np.array([0.0, 1.0, 1.0, 2.0, 3.0])


# Each column's ancestors, itself included, as the ranker's CSR matrix.
ANCESTORS = sparse.csr_matrix(
    (np.ones(11), ([0, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4], [0, 0, 1, 0, 2, 0, 1, 2, 3, 1, 4])), shape=(5, 5))


def frequencies(data: dict, ref: list[float]) -> np.ndarray:
    return background.frequencies(data, background.count_vector(data, COL, len(IC)), np.array(ref), ANCESTORS)


def test_count_keeps_closure_counts_and_pairs_seen_twice():
    data = background.count([{"R", "A"}, {"R", "A", "D"}, {"R", "B"}, {"R", "A", "D"}])
    assert data["records"] == 4
    assert data["counts"] == {"A": 3, "B": 1, "D": 2, "R": 4}
    assert data["pairs"]["A"]["D"] == 2 and data["pairs"]["A"]["R"] == 3
    assert "B" not in data["pairs"].get("R", {})  # seen together once only


def test_the_default_is_the_real_world_frequency_else_the_unseen_floor():
    p = frequencies({"records": 0, "counts": {}}, [0.0, 0.2, 0.0, 0.0, 0.0])
    assert p[1] == pytest.approx(0.2)
    assert p[2] == p[3] == pytest.approx(background.UNSEEN_FREQUENCY)  # nobody counted them: not rare by default
    assert p[0] == pytest.approx(0.2)  # the root is at least as common as anything below it


def test_no_term_is_rarer_than_a_term_below_it():
    p = frequencies({"records": 0, "counts": {}}, [0.0, 0.0, 0.0, 0.05, 0.0])
    assert p[1] >= p[3] and p[2] >= p[3] and p[0] >= p[3]
    assert all(p[a] >= p[c] - 1e-12 for c, ps in enumerate(PARENTS) for a in ps)


def test_a_site_s_counts_are_pulled_toward_the_default_where_they_are_few():
    ref = [0.5, 0.4, 0.0, 0.0, 0.1]
    small = frequencies({"records": 10, "counts": {"R": 10, "A": 0, "D": 10}}, ref)
    large = frequencies({"records": 100_000, "counts": {"R": 100_000, "A": 0, "D": 100_000}}, ref)
    # Ten records say little: D stays near its default; a hundred thousand records move it to what they show.
    assert small[4] == pytest.approx((10 + background.DEFAULT_WEIGHT * 0.1) / (10 + background.DEFAULT_WEIGHT))
    assert small[4] < 0.2 < 0.9 < large[4]
    assert large[1] < 0.01 < small[1]  # A never seen among many records: uncommon here


def test_the_shipped_default_knows_ordinary_findings_and_says_where_from():
    ref = background.reference()
    assert ref["sources"] and all(src.get("licence") and src.get("name") for src in ref["sources"])
    freq = ref["frequencies"]
    assert freq["HP:0000822"] > 0.1  # hypertension is common
    assert freq["HP:0000739"] > 0.01  # so is anxiety
    assert freq.get("HP:0001166", 0.0) < background.UNSEEN_FREQUENCY  # arachnodactyly is not
    assert background.describe({}).startswith("shipped default")


def test_lab_defined_findings_are_never_rarer_than_one_side_of_a_reference_interval():
    col = {"HP:0002153": 0, "HP:0001166": 1}  # hyperkalaemia (a lab result defines it), arachnodactyly
    ref = background.reference_vector(col, 2, {"HP:0002153"})
    assert ref[0] >= background.OUTSIDE_ONE_SIDE == 0.025
    assert ref[1] < background.OUTSIDE_ONE_SIDE


def test_pair_table_is_symmetric_by_column():
    table = background.pair_table({"pairs": {"A": {"D": 5, "unknown": 3}}}, COL)
    assert table == {1: {4: 5}, 4: {1: 5}}


def test_missing_file_gives_an_empty_background(tmp_path):
    assert background.load(tmp_path / "nope.json.gz") == {"records": 0, "counts": {}, "pairs": {}}


def test_count_vector_places_counts_by_column_and_drops_unknown_terms():
    data = {"counts": {"A": 3, "D": 1, "HP:unknown": 9}}
    assert background.count_vector(data, COL, len(IC)).tolist() == [0.0, 3.0, 0.0, 0.0, 1.0]
