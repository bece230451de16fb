"""A screening population from development data, for the population benchmarks (not a test module).

The general-population records as they are, plus copies of general-population records with a
development rare case's findings added (``../shared/tools/mix_population.py``), the rare cases made
EHR-shaped by the sandbox's generator. Each rare record is labelled "leaky" when its paper is among
the references of its diagnosis's HPO annotations (``phenotype.hpoa``, see ``app.knowledge.hpoa``).
"""
from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
CACHE = ROOT / ".radar" / "cache"


def annotation_references() -> dict[str, set[str]]:
    """Disease id (``OMIM:…``) → the PMIDs its HPO annotations cite."""
    from app.knowledge.hpoa import rows, source_file

    refs: dict[str, set[str]] = {}
    with source_file(DATA, CACHE).open() as fh:
        for fields in rows(fh):
            refs.setdefault(fields[0], set()).update(r.strip() for r in fields[4].split(";"))
    return refs


def leaky(packet: dict, refs: dict[str, set[str]]) -> bool:
    """Whether the case's paper helped build its diagnosis's annotations."""
    return any(r in refs.get(d["id"], ()) for d in packet.get("diagnoses", []) for r in packet.get("references", []))


def build(out: Path, cases: int, seed: int = 5, repair: bool = True) -> tuple[list[dict], list[dict]]:
    """(records, truth) of a mixed population with ``cases`` rare records (0 = every development case);
    ``repair``: point the copied notes at their renamed Binaries (:func:`repaired`)."""
    from launch.synth import phenopacket_to_bundle
    from launch.synth_knowledge import load_knowledge as synth_knowledge

    with gzip.open(DATA / "phenopackets-dev.jsonl.gz", "rt") as fh:
        packets = [json.loads(line) for line in fh if line.strip()]
    if cases and cases < len(packets):
        packets = random.Random(seed).sample(packets, cases)
    refs = annotation_references()
    sk = synth_knowledge(DATA / "hp-2025-01-16.obo.gz", DATA / "loinc2hpo-annotations.tsv")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "rare.ndjson").open("w") as fb, (out / "rare.truth.jsonl").open("w") as ft:
        for i, packet in enumerate(packets):
            pid = f"rc{i:05d}"
            bundle = phenopacket_to_bundle(packet, sk, random.Random(f"pop:{packet['id']}"), patient_id=pid)
            fb.write(json.dumps(bundle) + "\n")
            ft.write(json.dumps({"patient": pid, "diagnoses": [{"id": d["id"]} for d in packet["diagnoses"]],
                                 "leak": leaky(packet, refs)}) + "\n")
    subprocess.run([sys.executable, str(SHARED / "tools" / "mix_population.py"), str(DATA / "synthea-dev.ndjson.gz"),
                    str(out / "rare.ndjson"), str(out / "rare.truth.jsonl"), str(out / "mixed")],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ})
    with (out / "mixed" / "population.ndjson").open() as fh:
        records = [json.loads(line) for line in fh]
    if repair:
        records = [repaired(r) for r in records]
    with (out / "mixed" / "population.truth.jsonl").open() as fh:
        truth = [json.loads(line) for line in fh]
    return records, truth


def repaired(bundle: dict) -> dict:
    """``mix_population.py`` renames a copied rare case's resources (``rd-<id>``) but not the note URLs
    that point at its Binaries, so those notes read as missing; point them at the renamed Binaries
    (as a real record's references would)."""
    ids = {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary"}
    for entry in bundle["entry"]:
        res = entry["resource"]
        for att in [c.get("attachment") or {} for c in res.get("content") or []] + list(res.get("presentedForm") or []):
            url = att.get("url") or ""
            if url.startswith("Binary/") and url[7:] not in ids and f"rd-{url[7:]}" in ids:
                att["url"] = f"Binary/rd-{url[7:]}"
    return bundle


def host_of(truth: dict) -> str:
    """The general-population record a population record is (a copy of): the fold key."""
    return truth["patient"][:24]
