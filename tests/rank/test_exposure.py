"""Diseases that need an exposure (infections, poisonings, complications) enter the prior with the
chance of that exposure, decided from Orphanet's classification, not from a list of names."""
from __future__ import annotations

import math

import numpy as np
import pytest

from app.knowledge import orphanet
from app.rank import entities, posterior


@pytest.fixture(scope="module")
def kb():
    return orphanet.load()


@pytest.mark.parametrize("code, name", [("99826", "Marburg hemorrhagic fever"), ("340", "Hemorrhagic fever-renal syndrome"),
                                        ("31824", "Colchicine poisoning"), ("99829", "Yellow fever")])
def test_infections_and_poisonings_are_acquired(kb, code, name):
    assert kb.disease(code)["name"] == name
    assert entities.acquired(kb, code)


@pytest.mark.parametrize("code", ["558", "90", "586"])  # Marfan, Alport syndrome, cystic fibrosis
def test_constitutional_diseases_are_not(kb, code):
    assert not entities.acquired(kb, code)


def test_an_acquired_disease_carries_the_chance_of_its_exposure_in_the_prior():
    prevalence = np.array([3e-5, 3e-5])
    prior = posterior.log_prior(prevalence, np.array([False, True]))
    assert prior[0] - prior[1] == pytest.approx(-math.log(posterior.EXPOSURE))
    assert np.exp(prior).sum() == pytest.approx(posterior.RARE_SHARE)  # still all rare diseases together
