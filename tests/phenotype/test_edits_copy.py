"""Applying the clinician's edits copies the profile as ``deepcopy`` did (issue 23 made it quicker)."""
from __future__ import annotations

from copy import deepcopy

from app.phenotype import Profile
from app.phenotype import edits as edits_mod
from app.phenotype.model import ABSENT, PRESENT, Phenotype


class Names:
    def name(self, hpo):
        return hpo


def profile() -> Profile:
    seizure = Phenotype(hpo="HP:0001250", label="Seizure", status=PRESENT, source="Condition/c1", origin="condition",
                        span=(1, 8), context=("a", "Seizure", "b"), also=["DocumentReference/d1"], chance=0.1)
    ataxia = Phenotype(hpo="HP:0001251", label="Ataxia", status=ABSENT, source="DocumentReference/d2", origin="note")
    return Profile(present=[seizure], absent=[ataxia], age_years=4.5, sex="female", warnings=["w"],
                   known_diseases=[{"orpha": "ORPHA:558", "omim": None, "name": "Marfan syndrome", "source": "c2"}])


def test_the_edited_copy_equals_a_deep_copy_and_shares_nothing_mutable():
    original = profile()
    copied = edits_mod.apply(original, edits_mod.empty(), Names())
    assert copied == deepcopy(original)
    copied.present[0].also.append("Observation/o1")
    copied.present[0].label = "changed"
    copied.known_diseases[0]["name"] = "changed"
    copied.warnings.append("more")
    copied.absent.clear()
    assert original == profile()
