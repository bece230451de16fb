"""A boy with Marfan syndrome on his problem list, analysed with the real knowledge base: the card's and
the chart panel's tests of what a documented diagnosis explains share these findings and this analysis."""
from __future__ import annotations

from app.phenotype import Phenotype, Profile
from app.pipeline import reanalyse

MARFAN = ["HP:0001166", "HP:0001083", "HP:0002616", "HP:0000768"]  # arachnodactyly, ectopia lentis, aortic root, pectus
NOT_MARFAN = ["HP:0002521", "HP:0001263", "HP:0002071"]  # hypsarrhythmia, developmental delay, extrapyramidal signs
DOCUMENTED = [{"orpha": "ORPHA:558", "omim": None, "name": "Marfan syndrome", "source": "Condition/dx"}]


def analysed(kb, terms):
    """The analysis of a 4-year-old boy with ``terms`` found in notes and Marfan syndrome documented."""
    present = [Phenotype(hpo=t, label=kb.lexicon.name(t) or t, status="present", source=f"Observation/{i}",
                         origin="note") for i, t in enumerate(terms)]
    return reanalyse(Profile(present=present, known_diseases=DOCUMENTED, sex="male", age_years=4.0), kb)
