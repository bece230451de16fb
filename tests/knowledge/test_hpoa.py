"""OMIM annotation frequencies from phenotype.hpoa (plain lines in, compiled data out)."""
from __future__ import annotations

import pytest

from app.knowledge import hpoa

HEADER = ("#description: test\ndatabase_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\t"
          "frequency\tsex\tmodifier\taspect\tbiocuration\n")


def row(db, hpo, freq="", qualifier="", aspect="P"):
    return f"{db}\tA disease\t{qualifier}\t{hpo}\tPMID:1\tPCS\t\t{freq}\t\t\t{aspect}\tHPO:x\n"


@pytest.mark.parametrize("text, expected", [
    ("HP:0040281", 0.9), ("HP:0040280", 1.0), ("7/9", 7.5 / 10), ("1/1", 0.75), ("45%", 0.45),
    ("", None), ("3/2", None), ("0/0", None), ("often", None),
])
def test_frequency(text, expected):
    assert hpoa.frequency(text) == (pytest.approx(expected) if expected is not None else None)


def test_parse_keeps_omim_phenotype_rows_with_the_largest_estimate():
    lines = (HEADER + row("OMIM:100", "HP:0001250", "1/4") + row("OMIM:100", "HP:0001250", "3/4")
             + row("OMIM:100", "HP:0000006", aspect="I") + row("ORPHA:5", "HP:0001250", "HP:0040281")
             + row("OMIM:100", "HP:0001263", qualifier="NOT") + row("OMIM:200", "HP:0001250")).splitlines(True)
    data = hpoa.parse(lines)
    assert set(data) == {"OMIM:100"}  # no ORPHA rows, no entry without a frequency or an exclusion
    assert data["OMIM:100"]["frequencies"] == {"HP:0001250": pytest.approx(3.5 / 5)}
    assert data["OMIM:100"]["excluded"] == ["HP:0001263"]


def test_the_committed_file_has_frequencies():
    data = hpoa.load()
    assert len(data) > 5000
    assert all(0 < f <= 1 for entry in list(data.values())[:200] for f in entry["frequencies"].values())
