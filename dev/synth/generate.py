"""``python -m dev.synth``: read the reference data, write the sandbox's patients and their truth.

The phenopacket patients (``patient``) and the edge cases (``edge``) are put together here, so
neither generator module imports the other's caller.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

from .edge import edge_bundles
from .knowledge import Knowledge, load_knowledge
from .patient import select_packets, synthesize


def build_all(packets: list[dict], knowledge: Knowledge, count: int, seed: int) -> tuple[list[dict], dict]:
    """Build the selected patients and the edge cases; return (bundles, truth)."""
    rng = random.Random(seed)
    chosen = select_packets(packets, count + 1, rng, knowledge)
    spare, chosen = chosen[-1], chosen[:count]
    known = set(rng.sample(range(len(chosen)), min(5, len(chosen))))
    bundles, truth = [], {}
    for index, packet in enumerate(chosen):
        pid = f"rd-{index + 1:03d}"
        bundle, record = synthesize(packet, knowledge, random.Random(f"{seed}:{pid}"), pid, index in known)
        bundles.append(bundle)
        truth[pid] = record
    for bundle, pid, record in edge_bundles(spare, knowledge, seed):
        bundles.append(bundle)
        if record is not None:
            truth[pid] = record
    return bundles, truth


def main(argv: list[str] | None = None) -> None:
    """Command line: read the reference data, write patients.ndjson.gz and truth.json."""
    parser = argparse.ArgumentParser(description="Synthetic rare-disease patients for the sandbox EHR")
    parser.add_argument("--phenopackets", type=Path, required=True)
    parser.add_argument("--hpo", type=Path, required=True)
    parser.add_argument("--loinc2hpo", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    knowledge = load_knowledge(args.hpo, args.loinc2hpo)
    with gzip.open(args.phenopackets, "rt", encoding="utf-8") as fh:
        packets = [json.loads(line) for line in fh if line.strip()]
    bundles, truth = build_all(packets, knowledge, args.count, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes identical across runs.
    with open(args.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        for bundle in bundles:
            fh.write((json.dumps(bundle, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8"))
    args.truth.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(bundles)} patients to {args.out} ({args.out.stat().st_size:,} bytes) and {args.truth}")
