"""Synthetic rare-disease patients for the sandbox EHR (``dev/data/``), generated from phenopackets.

``knowledge`` (HPO, loinc2hpo, the lab table) and ``text`` (names, note wording) feed ``chart`` (one
patient's FHIR resources); ``patient`` turns a phenopacket into a Bundle and its truth, ``edge`` makes
the edge cases on top of ``chart``, and ``generate`` (``python -m dev.synth``) writes them all.
"""
from .chart import TODAY, duration_days
from .generate import build_all, main
from .patient import new_chart, phenopacket_to_bundle, synthesize

__all__ = ["TODAY", "build_all", "duration_days", "main", "new_chart", "phenopacket_to_bundle", "synthesize"]
