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


def rare_cases(out: Path, cases: int, seed: int = 5) -> None:
    """Write ``out/rare.ndjson`` (EHR-shaped rare-case Bundles, Patient ``rc00000``…) and ``out/rare.truth.jsonl``
    ({patient, diagnoses, leak}) for ``cases`` development phenopackets sampled with ``seed`` (0 = all)."""
    from dev.synth import phenopacket_to_bundle
    from dev.synth.knowledge import load_knowledge as synth_knowledge

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


def mix(general: Path, out: Path) -> None:
    """Run ``mix_population.py`` on ``general`` (NDJSON of Bundles, Patient first) and ``out/rare.*``
    into ``out/mixed`` (``population.ndjson``, ``population.truth.jsonl``, ``bulk/``)."""
    subprocess.run([sys.executable, str(SHARED / "tools" / "mix_population.py"), str(general),
                    str(out / "rare.ndjson"), str(out / "rare.truth.jsonl"), str(out / "mixed")],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ})


def build(out: Path, cases: int, seed: int = 5, repair: bool = True) -> tuple[list[dict], list[dict]]:
    """(records, truth) of a mixed population with ``cases`` rare records (0 = every development case);
    ``repair``: point the copied notes at their renamed Binaries (:func:`repaired`)."""
    rare_cases(out, cases, seed)
    mix(DATA / "synthea-dev.ndjson.gz", out)
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


# --- Real and realistic populations (tests/bench/bench_real.py, tests/bench/real_eval.py) -------------------

MIMIC = DATA / "mimic-demo-dev.ndjson.gz"
SYNTHEA = DATA / "synthea-dev.ndjson.gz"
HALVES = ("tune", "report")
_HERE = Path(__file__).resolve().parent


def half(patient_id: str) -> str:
    """``"tune"`` or ``"report"``: a stable split of real patients by sha256 of ``"radar-half:" + Patient id``
    (even/odd). Salted: the unsalted sha256(id) is even for all 49 development MIMIC patients (it is what
    chose the development half of the demo), so it would put them all in one half (23 tune / 26 report salted)."""
    import hashlib

    return HALVES[int(hashlib.sha256(f"radar-half:{patient_id}".encode()).hexdigest(), 16) % 2]


def read_ndjson(path: Path):
    """The JSON lines of ``path`` (``.gz`` or plain), one at a time."""
    with (gzip.open(path, "rt") if str(path).endswith(".gz") else open(path)) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def patient_first(bundle: dict) -> dict:
    """``bundle`` with its Patient entry first (``mix_population.py`` takes the first entry as the person)."""
    entries = bundle["entry"]
    if entries and entries[0]["resource"]["resourceType"] == "Patient":
        return bundle
    return {**bundle, "entry": sorted(entries, key=lambda e: e["resource"]["resourceType"] != "Patient")}


def patient_id(bundle: dict) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def mimic_records() -> list[dict]:
    """The 49 real MIMIC-IV demo inpatients (development half), Patient first."""
    return [patient_first(b) for b in read_ndjson(MIMIC)]


def cache_dir(name: str, **params) -> Path:
    """``.radar/cache/real/<name>-<key>``: the key hashes the inputs (data files' size and mtime, the builders'
    and generators' source, ``params``), so a changed input builds anew and an unchanged one is reused."""
    import hashlib

    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for f in (MIMIC, SYNTHEA, DATA / "phenopackets-dev.jsonl.gz", SHARED / "tools" / "mix_population.py"):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for f in [_HERE / "population.py", _HERE / "lab_ranges.py", _HERE / "common_problems.py",
              *sorted((ROOT / "dev" / "synth").glob("*.py"))]:
        if f.exists():
            h.update(f.read_bytes())
    return CACHE / "real" / f"{name}-{h.hexdigest()[:16]}"


def _cached_rare(cases: int, seed: int) -> Path:
    """The rare-case Bundles and truth (:func:`rare_cases`), cached."""
    out = cache_dir("rare", cases=cases, seed=seed)
    if not (out / "done").exists():
        rare_cases(out, cases, seed)
        (out / "done").write_text("ok\n")
    return out


def _cached_mix(name: str, general_lines, cases: int, seed: int) -> tuple[Path, list[dict]]:
    """Mix the rare cases into the general Bundles ``general_lines()`` (an iterable of Bundles), cached.
    Returns (population.ndjson path, truth with ``host`` = the general record's Patient id)."""
    import shutil

    out = cache_dir(name, cases=cases, seed=seed)
    if not (out / "done").exists():
        rare = _cached_rare(cases, seed)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "general.ndjson").open("w") as fh:
            for b in general_lines():
                fh.write(json.dumps(patient_first(b)) + "\n")
        for f in ("rare.ndjson", "rare.truth.jsonl"):
            shutil.copyfile(rare / f, out / f)
        mix(out / "general.ndjson", out)
        shutil.rmtree(out / "mixed" / "bulk", ignore_errors=True)  # the per-type layout is not used here
        with (out / "mixed" / "population.ndjson").open() as fi, (out / "population.ndjson").open("w") as fo:
            for line in fi:
                fo.write(json.dumps(repaired(json.loads(line))) + "\n")
        hosts = [patient_id(b) for b in read_ndjson(out / "general.ndjson")]
        by_prefix = {h[:24]: h for h in hosts}
        with (out / "truth.jsonl").open("w") as fh:
            for t in read_ndjson(out / "mixed" / "population.truth.jsonl"):
                t["host"] = t["patient"] if not t["rare"] else by_prefix[t["patient"].rsplit("-x", 1)[0]]
                t["half"] = half(t["host"])
                fh.write(json.dumps(t) + "\n")
        os.remove(out / "mixed" / "population.ndjson")
        (out / "done").write_text("ok\n")
    return out / "population.ndjson", list(read_ndjson(out / "truth.jsonl"))


def mimic_mixed(cases: int, seed: int = 5) -> tuple[Path, list[dict]]:
    """Real inpatients as they are plus copies of them carrying a development rare case's findings
    (``mix_population.py`` with the MIMIC file as the general input). Truth lines as the tool writes them
    ({patient, rare, diagnoses, leak, case}) plus ``host`` (the real patient's id) and ``half`` (the host's
    half, :func:`half`). Records in the returned NDJSON file, in the truth's order."""
    return _cached_mix("mimic-mixed", mimic_records, cases, seed)


def synthea_labs(stats: dict | None = None) -> list[dict]:
    """The 297 Synthea general-population records with adult reference ranges and H/L/N interpretations
    restored on their labs (``lab_ranges.restore``); ``stats`` receives the counts."""
    from . import lab_ranges

    stats = stats if stats is not None else {}
    return [lab_ranges.restore(patient_first(b), stats) for b in read_ndjson(SYNTHEA)]


def synthea_labs_mixed(cases: int, seed: int = 5) -> tuple[Path, list[dict]]:
    """:func:`synthea_labs` as they are plus copies carrying a development rare case's findings (cached)."""
    return _cached_mix("synthea-labs-mixed", synthea_labs, cases, seed)
