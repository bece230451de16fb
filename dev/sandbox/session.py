"""The sandbox's mutable session state (launches, codes, tokens, assertion jtis, faults, counters,
paging sessions), guarded by one lock."""
from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


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
    """The launch context a grant carries: who the user is and which patient/encounter is open.
    A backend services token (client_credentials) has neither user nor patient."""

    practitioner: str | None
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
    """An injected failure for one tenant and resource type (or Bulk endpoint: ``$export``,
    ``bulk-status``, ``bulk-file``); 429 and 503 answers carry ``Retry-After: retry_after``."""

    mode: object
    seconds: float = 30.0
    times: int | None = None
    retry_after: int = 1


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
