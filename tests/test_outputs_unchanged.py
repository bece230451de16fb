"""The analysis of a fixed set of development records stays what it was (issue 23): the speed work
on the record builder and the middle must not change a single output.

``tests/fixtures/development-records.ndjson.gz`` holds 55 records as the doors deliver them: 8
Synthea general-population records (``synthea-dev``), 3 real MIMIC-IV demo inpatients
(``mimic-demo-dev``, ODbL: MIMIC-IV demo, PhysioNet), 40 development rare cases made EHR-shaped by
``dev.synth`` (phenopacket-store, seed 5) and 4 general-population records carrying one of them
(``mix_population.py``); the test adds one record of malformed resources, so what is left out, and
why, is pinned too. ``tests/fixtures/development-expected.json`` is what the code before issue 23
(commit bec5c42) made of them: per record the probabilities unrounded, the suggestions, whether it is
flagged, the phenotypes and the gaps. Regenerate it only for a change meant to change outputs:
``python -m tests.test_outputs_unchanged --write``.

Both sides are computed with numpy, OpenBLAS and glibc's libm held to their baseline kernels
(:func:`pinned_environment`), in a child process: their CPU-dispatched kernels (AVX2 against
AVX-512 ``exp``, ``log``, ``power`` and ``dgemv``) round the last bits of a probability differently,
so the same code gives 170 differences in the 16th digit between an AVX2 and an AVX-512 machine;
glibc's libm likewise picks FMA variants of ``exp`` and ``log`` where the CPU has FMA.
The comparison stays exact; what it no longer depends on is which CPU the run happened to get.
"""
from __future__ import annotations

import gzip
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import CdsThresholds
from app.fetch.files import record_from_bundle
from app.pipeline import analyse, load_knowledge, signal

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
RECORDS = FIXTURES / "development-records.ndjson.gz"
EXPECTED = FIXTURES / "development-expected.json"


def malformed() -> dict:
    """A Bundle whose resources fail FHIR R4 validation in different ways, beside valid ones."""
    ext = {"url": "u", "valueString": "x"}
    for _ in range(100):
        ext = {"url": "u", "extension": [ext]}
    subject = {"reference": "Patient/bad-1"}
    lab = {"resourceType": "Observation", "status": "final", "subject": subject,
           "category": [{"coding": [{"code": "laboratory"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}], "text": "Glucose"},
           "effectiveDateTime": "2020-01-02T08:00:00Z", "valueQuantity": {"value": 250, "unit": "mg/dL"},
           "interpretation": [{"coding": [{"code": "H"}]}]}
    resources = [
        {"resourceType": "Patient", "id": "bad-1", "gender": "female", "birthDate": "1990-04-01"},
        {"resourceType": "Condition", "id": "c-1", "subject": subject, "code": "not a CodeableConcept"},
        {"resourceType": "Condition", "id": "c-2", "subject": subject, "code": {"text": "Ataxia"},
         "Jane Doe 1970-01-01": "x"},
        {"resourceType": "Condition", "id": "c-3", "subject": subject, "code": {"text": "Seizures"},
         "extension": [ext]},
        {"resourceType": "Condition", "id": "c-4", "subject": subject, "code": {"text": "Short stature"},
         "_recordedDate": {"extension": [{"url": "u", "valueString": "x"}]}, "recordedDate": None},
        {"resourceType": "DocumentReference", "id": "d-1", "subject": subject,
         "content": [{"attachment": {"contentType": "text/plain", "data": "QXRheGlhLg=="}}]},
        {**lab, "id": "o-1"},
        {**lab, "id": "o-2", "valueQuantity": {"value": "250", "unit": "mg/dL"}},
        {**lab, "id": "o-3", "effectiveDateTime": "2020-02-30"},
        {**lab, "id": "o-4", "interpretation": {"coding": [{"code": "H"}]}},
        {**lab, "id": "o-5", "code": {"coding": [{"system": "http://loinc.org", "code": 2345}]}},
        {**lab, "id": "o-6", "status": None},
        {**lab, "id": "o-7", "meta": {"lastUpdated": "yesterday"}},
        {**lab, "id": "o-8", "contained": [{"resourceType": "Patient", "id": "x"}]},
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources] + [3]}


def records() -> list[dict]:
    """The fixed development records, then the malformed one."""
    with gzip.open(RECORDS, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()] + [malformed()]


def outputs(bundles: list[dict]) -> list[dict]:
    """What the middle makes of each Bundle: the fields a change of speed must not change."""
    kb = load_knowledge()
    out = []
    for bundle in bundles:
        record = record_from_bundle(bundle)
        analysis = analyse(record, kb)
        out.append({
            "patient": record.patient_id,
            "rare_probability": analysis.rare_probability,
            "known_probability": analysis.known_probability,
            "findings": analysis.findings,
            "flagged": signal(analysis, CdsThresholds()) is not None,
            "suggestions": [[s.rank, s.name, s.orpha, s.omim, float(s.score), s.probability]
                            for s in analysis.suggestions],
            "phenotypes": [[p.hpo, p.status, p.source, p.origin, p.acute, p.chance] for p in analysis.profile.all],
            "gaps": record.gaps(),
            "warnings": record.warnings,
        })
    return out


# OpenBLAS's kernels for each architecture's baseline (x86-64-v2's SSE4.2 is Nehalem's).
BASELINE_BLAS = {"x86_64": "Nehalem", "AMD64": "Nehalem", "aarch64": "ARMV8", "arm64": "ARMV8"}
HWCAPS = "glibc.cpu.hwcaps"


def dispatched_features() -> list[str]:
    """The numpy kernel groups this process picked beyond the build's baseline (empty when pinned)."""
    from numpy._core import _multiarray_umath as umath

    return [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f) and f not in umath.__cpu_baseline__]


def pinned_environment() -> dict[str, str]:
    """This environment with numpy's, OpenBLAS's and glibc libm's CPU dispatch held to the baseline,
    and one BLAS thread."""
    from numpy._core import _multiarray_umath as umath

    env = {k: v for k, v in os.environ.items() if k != "NPY_ENABLE_CPU_FEATURES"}  # numpy takes one of the two
    env["OPENBLAS_NUM_THREADS"] = "1"
    # Every group the build dispatches to, whatever this process uses: one this machine lacks is only warned about.
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(f for f in umath.__cpu_dispatch__ if f not in umath.__cpu_baseline__)
    blas = BASELINE_BLAS.get(platform.machine())
    if blas:
        env["OPENBLAS_CORETYPE"] = blas
    # glibc's libm picks FMA variants of exp, log and pow where the CPU has FMA (math.exp and numpy's
    # baseline kernels call them): held to the generic ones too, keeping any other glibc tunable.
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t and not t.startswith(HWCAPS + "=")]
    env["GLIBC_TUNABLES"] = ":".join([*tunables, f"{HWCAPS}=-AVX,-AVX2,-FMA,-FMA4,-AVX512F"])
    return env


def pinned_outputs(path: Path) -> dict:
    """:func:`outputs` of :func:`records` computed in a child process under :func:`pinned_environment`,
    with the numpy kernel groups that child still dispatched to."""
    subprocess.run([sys.executable, "-m", "tests.test_outputs_unchanged", "--dump", str(path)], cwd=ROOT,
                   env=pinned_environment(), check=True)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def pinned(tmp_path_factory) -> dict:
    """:func:`pinned_outputs`, computed once for both tests (the child takes seconds)."""
    return pinned_outputs(tmp_path_factory.mktemp("pinned") / "out.json")


def test_the_child_runs_numpy_on_its_baseline_kernels_only(pinned):
    assert pinned["dispatched"] == []


def test_the_analysis_of_the_development_records_is_unchanged(pinned):
    expected = json.loads(EXPECTED.read_text())
    got = pinned["outputs"]  # as saved: tuples as lists
    assert [e["patient"] for e in expected] == [g["patient"] for g in got]
    for want, have in zip(expected, got, strict=True):
        assert have == want, want["patient"]


if __name__ == "__main__" and sys.argv[1:2] == ["--dump"]:
    Path(sys.argv[2]).write_text(json.dumps({"dispatched": dispatched_features(), "outputs": outputs(records())}))
elif __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    dump = EXPECTED.with_suffix(".tmp")
    EXPECTED.write_text(json.dumps(pinned_outputs(dump)["outputs"], indent=1) + "\n")
    dump.unlink()
