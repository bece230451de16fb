"""The committed sandbox patients as Bundles, and what an EHR would prefetch for them (test data helpers)."""
from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "dev" / "data" / "patients.ndjson.gz"


def bundles() -> dict[str, dict]:
    """Patient id → its Bundle, as the sandbox EHR serves it (every resource with its ``meta.lastUpdated``)."""
    from dev.sandbox.store import LOADED_AT

    with gzip.open(DATA, "rt") as fh:
        out = {b["entry"][0]["resource"]["id"]: b for b in map(json.loads, fh)}
    for bundle in out.values():
        for entry in bundle["entry"]:
            meta = entry["resource"].setdefault("meta", {})
            meta.setdefault("lastUpdated", LOADED_AT)
    return out


BUNDLES = bundles()


def prefetch_for(pid: str, *, inline_notes: bool = True, reports: bool = False) -> dict:
    """What an EHR would prefetch with our templates, from the committed sandbox record.

    ``reports`` adds the DiagnosticReport key; without it the prefetch has the first four keys.
    """
    resources = [e["resource"] for e in BUNDLES[pid]["entry"]]
    binaries = {r["id"]: r for r in resources if r["resourceType"] == "Binary"}

    def search(kind, keep=lambda r: True):
        found = [r for r in resources if r["resourceType"] == kind and keep(r)]
        return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                "entry": [{"fullUrl": f"{kind}/{r['id']}", "resource": r} for r in found]} if found else None

    docs = copy.deepcopy(search("DocumentReference"))
    if docs and inline_notes:
        for entry in docs["entry"]:
            for content in entry["resource"].get("content", []):
                att = content["attachment"]
                ref = (att.get("url") or "").split("Binary/")[-1]
                if ref in binaries:
                    att["data"] = binaries[ref]["data"]
                    att.pop("url", None)

    def is_lab(o):
        return any(c.get("code") == "laboratory" for cat in o.get("category", []) for c in cat.get("coding", []))
    out = {"patient": next(r for r in resources if r["resourceType"] == "Patient"),
           "conditions": search("Condition"), "labs": search("Observation", is_lab), "notes": docs}
    if reports:
        out["reports"] = copy.deepcopy(search("DiagnosticReport"))
        if out["reports"] and inline_notes:
            for entry in out["reports"]["entry"]:
                for att in entry["resource"].get("presentedForm", []):
                    ref = (att.get("url") or "").split("Binary/")[-1]
                    if ref in binaries:
                        att["data"] = binaries[ref]["data"]
                        att.pop("url", None)
    return out
