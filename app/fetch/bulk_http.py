"""HTTP for the Bulk Data client: bounded retries with backoff, ``Retry-After``, one re-authentication
on 401, and response bodies streamed straight to disk."""
from __future__ import annotations

import email.utils
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import httpx

from ..smart.client import SmartError

TRIES = 5  # per request: a flaky EHR gets four more chances, a dead one fails within minutes
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# OperationOutcome issue codes under "transient" (FHIR R4 IssueType): the request may succeed later.
TRANSIENT_CODES = frozenset({"transient", "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled"})
MAX_RETRY_WAIT = 3600.0
CHUNK = 1 << 16


class BulkError(Exception):
    """The export cannot go on; ``message`` is safe to print (no tokens, no patient data)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date); None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def backoff(attempt: int) -> float:
    """Exponential backoff before retry ``attempt`` (1-based): 1, 2, 4, 8 … seconds, at most a minute."""
    return float(min(60, 2 ** (attempt - 1)))


def outcome_text(resp: httpx.Response) -> str:
    """The OperationOutcome's explanation in an error answer, printable and capped (empty when none)."""
    issues = _issues(resp)
    texts = [(i.get("details") or {}).get("text") or i.get("diagnostics") or "" for i in issues]
    text = "; ".join(t for t in texts if isinstance(t, str) and t)
    return "".join(c for c in text if c.isprintable())[:300]


def _issues(resp: httpx.Response) -> list[dict]:
    try:
        doc = resp.json()
    except ValueError:
        return []
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        return []
    return [i for i in doc.get("issue") or [] if isinstance(i, dict)]


def _retryable(resp: httpx.Response) -> bool:
    if resp.status_code not in RETRY_STATUSES:
        return False
    if resp.status_code != 500:
        return True
    # A 500 whose OperationOutcome names no transient problem is the job failing, not the server stumbling.
    issues = _issues(resp)
    return not issues or any(i.get("code") in TRANSIENT_CODES for i in issues)


def refused(what: str, resp: httpx.Response) -> BulkError:
    """A BulkError for an answer that ends the export: what was asked, the HTTP status, the EHR's reason."""
    why = outcome_text(resp)
    return BulkError(f"{what}: the EHR answered HTTP {resp.status_code}" + (f" ({why})" if why else ""))


class Transfer:
    """Requests to one EHR's Bulk API with the backend token: retried, re-authenticated once on 401."""

    def __init__(self, http: httpx.Client, auth, *, sleep: Callable[[float], None], tries: int = TRIES):
        self.http, self.auth, self.sleep, self.tries = http, auth, sleep, tries

    def request(self, what: str, method: str, url: str, *, bearer: bool = True, headers: dict | None = None,
                params: dict | None = None, sink: Callable[[httpx.Response], None] | None = None) -> httpx.Response:
        """Send and return the final answer (its body read, or given to ``sink`` on 200, streamed).

        429 and 5xx answers and transport failures are retried up to ``tries`` times, waiting as
        ``Retry-After`` says or with backoff; what is left after that is returned (or raised as a
        BulkError for transport failures) for the caller to judge.
        """
        attempt, reauthenticated = 0, False
        while True:
            attempt += 1
            try:
                resp = self._once(method, url, bearer, headers or {}, params, sink)
            except httpx.TransportError as exc:
                if attempt >= self.tries:
                    raise BulkError(f"{what}: no answer from the EHR after {self.tries} tries "
                                    f"({type(exc).__name__})") from None
                self.sleep(backoff(attempt))
                continue
            if resp.status_code == 401 and bearer and not reauthenticated:
                reauthenticated = True
                self._renew(what)
                attempt -= 1
                continue
            if attempt < self.tries and _retryable(resp):
                wait = retry_after(resp.headers.get("Retry-After"))
                self.sleep(min(MAX_RETRY_WAIT, backoff(attempt) if wait is None else wait))
                continue
            return resp

    def _once(self, method: str, url: str, bearer: bool, headers: dict, params: dict | None,
              sink: Callable[[httpx.Response], None] | None) -> httpx.Response:
        if bearer:
            headers = {**headers, **self._auth_headers()}
        with self.http.stream(method, url, headers=headers, params=params) as resp:
            if sink is not None and resp.status_code == 200:
                sink(resp)
            else:
                resp.read()
        return resp

    def _auth_headers(self) -> dict:
        try:
            return self.auth.headers()
        except SmartError as exc:
            raise BulkError(_sign_in_failed(exc)) from None

    def _renew(self, what: str) -> None:
        try:
            self.auth.renew()
        except SmartError as exc:
            raise BulkError(f"{what}: {_sign_in_failed(exc)}") from None


def _sign_in_failed(exc: SmartError) -> str:
    return exc.message + (f" ({exc.detail})" if exc.detail else "")


def to_file(path: Path) -> Callable[[httpx.Response], None]:
    """A sink writing the streamed body to ``path`` chunk by chunk (via ``path.part``, renamed when whole)."""
    def sink(resp: httpx.Response) -> None:
        part = path.with_name(path.name + ".part")
        with open(part, "wb") as out:
            for chunk in resp.iter_bytes(CHUNK):
                out.write(chunk)
        os.replace(part, path)
    return sink
