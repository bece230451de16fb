"""The sandbox's patient data: every resource indexed by type and id with its patient, the
Groups over the patients, and ``meta.lastUpdated`` on every resource (which ``touch`` moves
forward, so an incremental Bulk export has something to find). The mutable session state lives
in ``session.py``."""
from __future__ import annotations

import copy
import gzip
import json
import logging
import threading
from datetime import UTC, date, datetime
from pathlib import Path

log = logging.getLogger(__name__)

LOADED_AT = "2026-01-01T00:00:00Z"  # meta.lastUpdated of every resource as loaded

DEFAULT_PRACTITIONER = {
    "resourceType": "Practitioner",
    "id": "sandbox-practitioner",
    "active": True,
    "name": [{"use": "official", "family": "Sandbox", "given": ["Sam"], "prefix": ["Dr."],
              "text": "Dr. Sam Sandbox"}],
}

# Group id → (name, which patient ids belong to it).
GROUPS = {
    "all": ("All patients", lambda pid: True),
    "rare": ("Rare-disease cases (rd-*)", lambda pid: pid.startswith("rd-")),
    "edge": ("Edge cases (edge-*)", lambda pid: pid.startswith("edge-")),
}

_DATE_FIELDS = ("effectiveDateTime", "issued", "date", "recordedDate", "onsetDateTime", "authoredOn")


def read_bundles(path: str | Path) -> list[dict]:
    """Read an ``.ndjson`` or ``.ndjson.gz`` file holding one FHIR Bundle per line."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def now_instant() -> str:
    """The current time as a FHIR instant in UTC, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_instant(value: str) -> datetime | None:
    """A FHIR instant (a date-time with seconds and a time zone) as an aware datetime; None when
    ``value`` is not one."""
    if not isinstance(value, str) or len(value) < 20 or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def last_updated(resource: dict) -> datetime | None:
    """A resource's ``meta.lastUpdated``, parsed."""
    return parse_instant((resource.get("meta") or {}).get("lastUpdated"))


def display_name(patient: dict) -> str:
    """A human-readable name for a Patient or Practitioner (``text`` or given + family)."""
    for name in patient.get("name", []):
        if name.get("text"):
            return name["text"]
        parts = [*name.get("given", []), name.get("family", "")]
        if any(parts):
            return " ".join(p for p in parts if p)
    return patient.get("id", "?")


def age(patient: dict, today: date | None = None) -> int | None:
    """Age in whole years from ``birthDate``, or None when unknown."""
    born = patient.get("birthDate")
    if not born or len(born) < 10:
        return None
    today = today or date.today()
    b = date.fromisoformat(born[:10])
    return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def sort_key(resource: dict) -> str:
    """Newest-first sort key: the resource's clinical date, or the empty string."""
    for name in _DATE_FIELDS:
        if isinstance(resource.get(name), str):
            return resource[name]
    period = resource.get("effectivePeriod") or resource.get("period") or {}
    return period.get("start", "")


class PatientData:
    """The patient set, indexed by type and id, with each resource's patient. Only ``touch``
    changes it after loading (it replaces ``meta`` dicts whole, so readers never see half an update)."""

    def __init__(self, bundles: list[dict]):
        self.resources: dict[str, dict[str, dict]] = {}
        self.patient_of: dict[tuple[str, str], str] = {}
        self.practitioner_of: dict[str, str] = {}
        self._touch_lock = threading.Lock()
        for bundle in bundles:
            self._add_bundle(bundle)
        if not self.resources.get("Practitioner"):
            self._add(copy.deepcopy(DEFAULT_PRACTITIONER), None)
        self._split_inline_note_data()
        self._add_groups()
        self._stamp(LOADED_AT)

    def _stamp(self, instant: str) -> None:
        """Give every resource without one a ``meta.lastUpdated`` (``LOADED_AT``: fixed, so that test
        data can carry the same; ``touch`` moves it to now)."""
        for table in self.resources.values():
            for resource in table.values():
                meta = resource.get("meta") or {}
                if not parse_instant(meta.get("lastUpdated")):
                    resource["meta"] = {**meta, "lastUpdated": instant}

    def _add_groups(self) -> None:
        ids = list(self.resources.get("Patient", {}))
        for gid, (name, belongs) in GROUPS.items():
            members = [pid for pid in ids if belongs(pid)]
            group = {"resourceType": "Group", "id": gid, "type": "person", "actual": True,
                     "name": name, "quantity": len(members)}
            if members:
                group["member"] = [{"entity": {"reference": f"Patient/{pid}"}} for pid in members]
            self._add(group, None)

    def members(self, group_id: str) -> list[str] | None:
        """The patient ids of a Group, in load order; None when there is no such Group."""
        group = self.get("Group", group_id)
        if group is None:
            return None
        return [m["entity"]["reference"].split("/", 1)[1] for m in group.get("member", [])]

    def owned(self, types: set[str], patients: set[str]):
        """``(type, resource)`` of every resource of ``types`` belonging to one of ``patients``,
        patient by patient in load order (one pass over the index)."""
        for (rtype, rid), pid in self.patient_of.items():
            if rtype in types and pid in patients:
                yield rtype, self.resources[rtype][rid]

    def touch(self, patient_id: str) -> tuple[str, int]:
        """Mark every resource of one patient (the Patient included) as changed now; return the
        new ``lastUpdated`` and how many resources it was set on."""
        with self._touch_lock:
            instant = now_instant()
            keys = [key for key, pid in self.patient_of.items() if pid == patient_id]
            for rtype, rid in keys:
                resource = self.resources[rtype][rid]
                resource["meta"] = {**(resource.get("meta") or {}), "lastUpdated": instant}
        return instant, len(keys)

    def _add(self, resource: dict, patient_id: str | None) -> None:
        rtype, rid = resource["resourceType"], resource["id"]
        self.resources.setdefault(rtype, {})[rid] = resource
        if patient_id:
            self.patient_of[(rtype, rid)] = patient_id

    def _add_bundle(self, bundle: dict) -> None:
        resources = [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
        patients = [r for r in resources if r.get("resourceType") == "Patient"]
        # Each bundle holds one patient, so everything in it is that patient's data.
        patient_id = patients[0]["id"] if patients else None
        for resource in resources:
            if resource.get("resourceType") == "Practitioner":
                self._add(resource, None)
                if patient_id:
                    self.practitioner_of.setdefault(patient_id, resource["id"])
            else:
                self._add(resource, patient_id)

    def _split_inline_note_data(self) -> None:
        """Give every inline note attachment a Binary twin, so flavours that never inline
        (Epic) can point to ``Binary/<id>`` instead."""
        for doc in list(self.resources.get("DocumentReference", {}).values()):
            for n, content in enumerate(doc.get("content", [])):
                att = content.get("attachment", {})
                if "data" in att and "url" not in att:
                    binary = {"resourceType": "Binary", "id": f"{doc['id']}-att{n}",
                              "contentType": att.get("contentType", "application/octet-stream"),
                              "data": att["data"]}
                    self._add(binary, self.patient_of.get(("DocumentReference", doc["id"])))

    @property
    def patients(self) -> list[dict]:
        """All Patient resources, in load order."""
        return list(self.resources.get("Patient", {}).values())

    @property
    def default_practitioner(self) -> str:
        """The id of the Practitioner who is the signed-in user of every launch."""
        return next(iter(self.resources["Practitioner"]))

    def practitioner_for(self, patient_id: str) -> str:
        """The user of a launch for this patient: the patient's own clinician when the data has one."""
        return self.practitioner_of.get(patient_id, self.default_practitioner)

    def get(self, rtype: str, rid: str) -> dict | None:
        """One resource by type and id, or None."""
        return self.resources.get(rtype, {}).get(rid)

    def of_patient(self, rtype: str, patient_id: str) -> list[dict]:
        """All resources of one type that belong to one patient, newest first."""
        found = [r for (t, rid), pid in self.patient_of.items()
                 if t == rtype and pid == patient_id
                 for r in [self.resources[t][rid]]]
        return sorted(found, key=sort_key, reverse=True)

    def latest_encounter(self, patient_id: str) -> str | None:
        """The id of the patient's most recent Encounter, or None."""
        encounters = self.of_patient("Encounter", patient_id)
        return encounters[0]["id"] if encounters else None

    def note_for_flavour(self, doc: dict, inline: bool) -> dict:
        """A DocumentReference as a flavour serves it: inline data kept, or replaced by ``Binary/`` urls."""
        if inline:
            return doc
        doc = copy.deepcopy(doc)
        for n, content in enumerate(doc.get("content", [])):
            att = content.get("attachment", {})
            if "data" in att and "url" not in att:
                att["url"] = f"Binary/{doc['id']}-att{n}"
                del att["data"]
        return doc
