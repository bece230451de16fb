"""Orphanet knowledge: compile ORPHApackets into one small JSON, and look disorders up in it.

``build`` reads the ORPHApackets release (one JSON per ORPHAcode, converted from XML, so a
one-element list often arrives as a bare object) and keeps what the ranker and the chart need.
``load`` returns an :class:`OrphanetKB` over the committed ``data/orphanet.json.gz``.
"""
from __future__ import annotations

import gzip
import json
import re
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .paths import DATA_DIR

PACKETS = "orphanet-orphapackets-2025-12.tar.gz"
DEFAULT_PATH = DATA_DIR / "orphanet.json.gz"

FREQUENCIES = {  # Orphanet frequency class -> representative probability
    "Obligate (100%)": 1.0,
    "Very frequent (99-80%)": 0.9,
    "Frequent (79-30%)": 0.55,
    "Occasional (29-5%)": 0.17,
    "Very rare (<4-1%)": 0.025,
    "Excluded (0%)": 0.0,
}
# Relations under which an ICD-10 code can stand for the disorder (E exact, NTBT the
# disorder is narrower than the code); BTNT codes are narrower than the disorder.
ICD_RELATIONS = {"E", "NTBT"}


def _items(value, key: str) -> list:
    """The list under ``key``, whether the XML conversion produced a list, a wrapper or one object."""
    if value is None:
        return []
    if isinstance(value, dict) and key in value:
        value = value[key]
    if not isinstance(value, list):
        value = [value]
    out = []
    for item in value:
        if isinstance(item, dict) and key in item:
            inner = item[key]
            out.extend(inner if isinstance(inner, list) else [inner])
        else:
            out.append(item)
    return out


def _relation(text: str) -> str:
    """``"E (Exact mapping: ...)"`` -> ``"E"``."""
    return (text or "").split(" ", 1)[0]


def _prevalence(packet: dict) -> list[dict]:
    """Prevalence records with a class: type, class, geography."""
    out = []
    for p in _items(packet.get("Prevalences"), "Prevalence"):
        klass = p.get("PrevalenceClass")
        if klass and klass not in ("no data", "Unknown", "Not yet documented"):
            out.append({"type": p.get("PrevalenceType"), "class": klass, "geo": p.get("PrevalenceGeographic")})
    return out


def _values(packet: dict, outer: str, inner: str) -> list[str]:
    """Plain values of an onset or inheritance list, without "no data" placeholders."""
    vals = [v.get("value") if isinstance(v, dict) else v for v in _items(packet.get(outer), inner)]
    return [v for v in vals if v and v not in ("No data available", "Not yet documented")]


def _compile(packet: dict) -> dict:
    """One disorder as the compact record stored in the knowledge file."""
    omim, icd10 = [], []
    for ref in _items(packet.get("ExternalReferences"), "ExternalReference"):
        source = (ref.get("Source") or "").upper().replace("-", "")
        entry = [str(ref.get("Reference")), _relation(ref.get("DisorderMappingRelation"))]
        if source == "OMIM":
            omim.append(entry)
        elif source == "ICD10":
            icd10.append(entry)
    phenotypes = []
    for p in _items(packet.get("Phenotypes"), "Phenotype"):
        if p.get("HPOId"):
            phenotypes.append([p["HPOId"], p.get("HPOFrequency") or ""])
    return {
        "name": packet["Label"],
        "synonyms": [s.get("Synonym") if isinstance(s, dict) else s for s in _items(packet.get("Synonyms"), "Synonym")],
        "type": (packet.get("DisorderType") or {}).get("value"),
        "parents": sorted({str(p["ORPHAcode"]) for p in _items(packet.get("Parents"), "Parent")}),
        "omim": omim,
        "icd10": icd10,
        "prevalence": _prevalence(packet),
        "onset": _values(packet, "AverageAgeOfOnsets", "AverageAgeOfOnset"),
        "inheritance": _values(packet, "TypeOfInheritances", "TypeOfInheritance"),
        "phenotypes": phenotypes,
    }


def build(source_dir: str | Path) -> dict:
    """Compile the ORPHApackets archive in ``source_dir`` into the knowledge dictionary."""
    disorders, versions = {}, set()
    with tarfile.open(Path(source_dir) / PACKETS) as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".json"):
                continue
            packet = json.load(tar.extractfile(member))["Orphapacket"]
            versions.add(packet.get("version", "?"))
            disorders[str(packet["ORPHAcode"])] = _compile(packet)
    source = f"Orphanet ORPHApackets 2025-12 (Orphanet {', '.join(sorted(versions))}); CC BY 4.0"
    return {"source": source, "disorders": dict(sorted(disorders.items(), key=lambda kv: int(kv[0])))}


def main_build(source_dir: str | Path, path: str | Path = DEFAULT_PATH) -> Path:
    """Build the knowledge file from ``source_dir`` and write it (gzipped JSON) to ``path``."""
    data = build(source_dir)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    # mtime=0 keeps the committed file byte-identical across rebuilds.
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as fh:
        fh.write(payload)
    load.cache_clear()
    return path


def bare_orpha(code: str | int) -> str:
    """An ORPHAcode in any spelling (``ORPHA:558``, ``Orphanet_558``, ``558``) → ``"558"``."""
    return re.sub(r"^(ORPHA|Orphanet)[:_]", "", str(code).strip(), flags=re.IGNORECASE)


def _bare_omim(code: str | int) -> str:
    return re.sub(r"^(OMIM|MIM)[:_]", "", str(code).strip(), flags=re.IGNORECASE)


@dataclass
class OrphanetKB:
    """Read-only view of the compiled Orphanet knowledge."""

    source: str
    disorders: dict[str, dict]
    _icd10: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _omim: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for code, d in self.disorders.items():
            for icd, rel in d["icd10"]:
                if rel in ICD_RELATIONS:
                    self._icd10.setdefault(icd.upper(), []).append(code)
            for mim, rel in d["omim"]:
                self._omim.setdefault(mim, []).append((code, rel))

    def disease(self, orpha: str | int) -> dict | None:
        """The compiled record of an ORPHAcode (``"558"``, ``"ORPHA:558"``), or None."""
        return self.disorders.get(bare_orpha(orpha))

    def by_icd10(self, code: str) -> list[str]:
        """ORPHAcodes (bare) for an ICD-10 or ICD-10-CM code.

        ``E75.22`` matches Orphanet's ``E75.2`` (and ``E75``) by prefix: a more specific
        ICD-10-CM code still lies within the Orphanet code when the relation is E or NTBT.
        """
        code = code.strip().upper()
        found: list[str] = []
        while code:
            for orpha in self._icd10.get(code, []):
                if orpha not in found:
                    found.append(orpha)
            code = code[:-1].rstrip(".")
        return found

    def by_omim(self, omim: str | int, relations: set[str] | None = None) -> list[str]:
        """ORPHAcodes cross-referenced to an OMIM number, optionally only under ``relations``."""
        return [c for c, rel in self._omim.get(_bare_omim(omim), []) if relations is None or rel in relations]

    def names(self, orpha: str | int) -> list[str]:
        """Preferred name first, then synonyms (for name grounding)."""
        d = self.disease(orpha)
        return [d["name"], *d["synonyms"]] if d else []

    def all_names(self):
        """Yield ``(ORPHAcode, name)`` for every preferred name and synonym."""
        for code, d in self.disorders.items():
            for name in (d["name"], *d["synonyms"]):
                yield code, name


@lru_cache(maxsize=4)
def load(path: str | Path = DEFAULT_PATH) -> OrphanetKB:
    """Load (once per path) the compiled knowledge file."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    return OrphanetKB(source=data["source"], disorders=data["disorders"])
