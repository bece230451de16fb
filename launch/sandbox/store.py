"""In-memory state of the sandbox: the patient data (read-only once loaded) and the mutable
session state (launches, codes, tokens, faults, counters), guarded by one lock."""
from __future__ import annotations

import copy
import gzip
import json
import logging
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_PRACTITIONER = {
    "resourceType": "Practitioner",
    "id": "sandbox-practitioner",
    "active": True,
    "name": [{"use": "official", "family": "Sandbox", "given": ["Sam"], "prefix": ["Dr."],
              "text": "Dr. Sam Sandbox"}],
}

_DATE_FIELDS = ("effectiveDateTime", "issued", "date", "recordedDate", "onsetDateTime", "authoredOn")


def read_bundles(path: str | Path) -> list[dict]:
    """Read an ``.ndjson`` or ``.ndjson.gz`` file holding one FHIR Bundle per line."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


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
    """The patient set, indexed by type and id, with each resource's patient. Read-only after loading."""

    def __init__(self, bundles: list[dict]):
        self.resources: dict[str, dict[str, dict]] = {}
        self.patient_of: dict[tuple[str, str], str] = {}
        self.practitioner_of: dict[str, str] = {}
        for bundle in bundles:
            self._add_bundle(bundle)
        if not self.resources.get("Practitioner"):
            self._add(DEFAULT_PRACTITIONER, None)
        self._split_inline_note_data()

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


@dataclass
class Launch:
    """A launch value minted by the EHR: the context it binds, single use, expiring."""

    tenant: str
    patient: str
    encounter: str | None
    practitioner: str
    expires_at: float
    used: bool = False


@dataclass
class Context:
    """The launch context a grant carries: who the user is and which patient/encounter is open."""

    practitioner: str
    patient: str | None = None
    encounter: str | None = None


@dataclass
class Grant:
    """An authorization code, an access token or a refresh token, with what it grants."""

    tenant: str
    client_id: str
    scope: str
    context: Context
    expires_at: float | None
    redirect_uri: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    auth_time: int = 0
    code: str | None = None
    revoked: bool = False
    issued: list[str] = field(default_factory=list)

    def expired(self) -> bool:
        """True once past ``expires_at``."""
        return self.expires_at is not None and time.time() >= self.expires_at

    # authlib's AuthorizationCodeMixin / TokenMixin interface.
    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None

    def check_client(self, client) -> bool:
        return self.client_id == client.client_id


@dataclass
class Fault:
    """An injected failure for one tenant and resource type."""

    mode: object
    seconds: float = 30.0
    times: int | None = None


class State:
    """Everything the sandbox mutates while running, behind one lock."""

    def __init__(self, launch_lifetime: float, latency_ms: float):
        self.lock = threading.Lock()
        self.launch_lifetime = launch_lifetime
        self.latency_ms = latency_ms
        self.launches: dict[str, Launch] = {}
        self.codes: dict[str, Grant] = {}
        self.access: dict[str, Grant] = {}
        self.refresh: dict[str, Grant] = {}
        self.jtis: dict[tuple[str, str], float] = {}
        self.faults: dict[tuple[str, str], Fault] = {}
        self.requests: Counter = Counter()
        self.pages: dict[str, dict] = {}

    def mint_launch(self, tenant: str, patient: str, encounter: str | None, practitioner: str) -> str:
        """Mint a fresh single-use launch value binding this context."""
        value = secrets.token_urlsafe(24)
        now = time.time()
        with self.lock:
            self.launches = {k: v for k, v in self.launches.items() if v.expires_at > now}
            self.launches[value] = Launch(tenant, patient, encounter, practitioner,
                                          now + self.launch_lifetime)
        return value

    def peek_launch(self, value: str, tenant: str) -> Launch | None:
        """The launch if it exists for this tenant, is unused and unexpired; it stays unused."""
        with self.lock:
            launch = self.launches.get(value)
        if launch and launch.tenant == tenant and not launch.used and launch.expires_at > time.time():
            return launch
        return None

    def consume_launch(self, value: str, tenant: str) -> Launch | None:
        """Atomically mark the launch used and return it; None if it was not usable."""
        with self.lock:
            launch = self.launches.get(value)
            if (not launch or launch.tenant != tenant or launch.used
                    or launch.expires_at <= time.time()):
                return None
            launch.used = True
            return launch

    def use_jti(self, client_id: str, jti: str, expires_at: float) -> bool:
        """Record a client assertion's ``jti``; False if it was seen and is still unexpired."""
        now = time.time()
        with self.lock:
            self.jtis = {k: v for k, v in self.jtis.items() if v > now}
            if (client_id, jti) in self.jtis:
                return False
            self.jtis[(client_id, jti)] = expires_at
            return True

    def save_code(self, code: str, grant: Grant) -> None:
        """Store an authorization code."""
        with self.lock:
            self.codes[code] = grant

    def take_code(self, code: str, client_id: str) -> Grant | None:
        """Spend a code: its grant if valid for this client, else None. A replayed code
        revokes the tokens it issued (RFC 6749 §4.1.2)."""
        with self.lock:
            grant = self.codes.get(code)
            if grant is None or grant.client_id != client_id:
                return None
            if grant.revoked:
                for token in grant.issued:
                    for table in (self.access, self.refresh):
                        if token in table:
                            table[token].revoked = True
                return None
            # Spent on first presentation, even if the exchange then fails (e.g. bad PKCE).
            grant.revoked = True
        return None if grant.expired() else grant

    def record_issued(self, code: str, issued: list[str]) -> None:
        """Remember the tokens a code issued, so a replay of the code can revoke them."""
        with self.lock:
            if code in self.codes:
                self.codes[code].issued = issued

    def save_tokens(self, access_token: str, access: Grant,
                    refresh_token: str | None, refresh: Grant | None) -> None:
        """Store a new access token and, if issued, a new refresh token."""
        with self.lock:
            self.access[access_token] = access
            if refresh_token and refresh:
                self.refresh[refresh_token] = refresh

    def access_grant(self, token: str) -> Grant | None:
        """The grant behind a bearer token if it is live."""
        with self.lock:
            grant = self.access.get(token)
        if grant is None or grant.revoked or grant.expired():
            return None
        return grant

    def refresh_grant(self, token: str) -> Grant | None:
        """The grant behind a refresh token if it is live."""
        with self.lock:
            grant = self.refresh.get(token)
        if grant is None or grant.revoked or grant.expired():
            return None
        return grant

    def revoke_refresh(self, token: str) -> None:
        """Revoke one refresh token (after rotation)."""
        with self.lock:
            if token in self.refresh:
                self.refresh[token].revoked = True

    def expire_access(self, tenant: str | None) -> int:
        """Expire every access token (of one tenant, or all); return how many."""
        now = time.time()
        with self.lock:
            grants = [g for g in self.access.values() if tenant in (None, g.tenant)]
            for grant in grants:
                grant.expires_at = now - 1
        return len(grants)

    def revoke_all(self, tenant: str | None) -> int:
        """Revoke every access and refresh token (of one tenant, or all); return how many."""
        with self.lock:
            grants = [g for table in (self.access, self.refresh) for g in table.values()
                      if tenant in (None, g.tenant)]
            for grant in grants:
                grant.revoked = True
        return len(grants)

    def set_fault(self, tenant: str, resource: str, fault: Fault) -> None:
        """Inject a fault (``*`` matches any tenant or resource)."""
        with self.lock:
            self.faults[(tenant, resource)] = fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self.lock:
            self.faults.clear()

    def take_fault(self, tenant: str, resource: str) -> Fault | None:
        """The fault that applies to this request, counting down limited ones."""
        with self.lock:
            for key in ((tenant, resource), (tenant, "*"), ("*", resource), ("*", "*")):
                fault = self.faults.get(key)
                if fault is None:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self.faults[key]
                return fault
        return None

    def count_request(self, tenant: str, resource: str) -> None:
        """Count one FHIR request."""
        with self.lock:
            self.requests[(tenant, resource)] += 1

    def request_counts(self) -> dict[str, dict[str, int]]:
        """Request counts as ``{tenant: {resource: n}}``."""
        with self.lock:
            counts: dict[str, dict[str, int]] = {}
            for (tenant, resource), n in self.requests.items():
                counts.setdefault(tenant, {})[resource] = n
        return counts

    def reset_requests(self) -> None:
        """Zero the request counters."""
        with self.lock:
            self.requests.clear()

    def save_page(self, page: dict) -> str:
        """Remember one page of a search for its ``next`` link; return the opaque page token."""
        token = secrets.token_urlsafe(16)
        now = time.time()
        with self.lock:
            self.pages = {k: v for k, v in self.pages.items() if v["expires_at"] > now}
            self.pages[token] = {**page, "expires_at": now + 3600}
        return token

    def page(self, token: str) -> dict | None:
        """A remembered page, or None when unknown or expired."""
        with self.lock:
            page = self.pages.get(token)
        if page is None or page["expires_at"] <= time.time():
            return None
        return page
