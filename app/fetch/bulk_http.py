"""HTTP for the Bulk Data client: bounded retries with backoff, ``Retry-After``, one re-authentication
on 401, response bodies streamed straight to disk, and the guards a hostile server meets.

The token goes only to the FHIR server's own origin (scheme, host and port); a URL elsewhere is
followed, without the token, only on a storage host the admin allowed for this EHR. Redirects are
followed here, hop by hop, under the same rule. Bodies are decompressed here too, a chunk at a
time, so that the size, line and time limits (``BulkLimits``) hold after decompression.
"""
from __future__ import annotations

import email.utils
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from ..config.bulk import MIB, SETTING, BulkLimits
from ..errors import SignInError

TRIES = 5  # per request: a flaky EHR gets four more chances, a dead one fails within minutes
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# OperationOutcome issue codes under "transient" (FHIR R4 IssueType): the request may succeed later.
TRANSIENT_CODES = frozenset({"transient", "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled"})
CHUNK = 1 << 16
ANSWER_BYTES = 16 * MIB  # an answer read into memory (manifest, Group, OperationOutcome), not a file
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
Sink = Callable[[httpx.Response, Iterator[bytes]], None]


class BulkError(Exception):
    """The export cannot go on; ``message`` is safe to print (no tokens, no patient data)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LimitHit(BulkError):
    """A limit of the whole run was reached (its deadline, its bytes): nothing more is asked of the EHR."""


def limit_text(limits: BulkLimits, name: str) -> str:
    """A limit as an operator reads it: its value and the setting that raises it ("4096 MiB, RADAR_BULK_MAX_FILE_MB")."""
    value = getattr(limits, name)
    shown = f"{value / MIB:g} MiB" if name.endswith("_bytes") else f"{value:g} s"
    return f"{shown}, {SETTING[name]}"


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an absolute http(s) URL, lower-cased, the port made explicit; None otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]


def host_of(url: str) -> str:
    """The host (and port) of ``url`` for a message: printable and short."""
    try:
        netloc = urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        netloc = ""
    return "".join(c for c in netloc if c.isprintable())[:100] or "no host"


class Budget:
    """The bytes one export may still write (``export_bytes``), shared by its download threads."""

    def __init__(self, limits: BulkLimits, spent: int = 0):
        self.limits, self.spent = limits, spent
        self._lock = threading.Lock()

    def take(self, what: str, n: int) -> None:
        """Count ``n`` more bytes; LimitHit once the export would be larger than allowed."""
        with self._lock:
            self.spent += n
            if self.spent > self.limits.export_bytes:
                raise LimitHit(f"{what}: the export is larger than allowed in all "
                               f"({limit_text(self.limits, 'export_bytes')})")

    def give_back(self, n: int) -> None:
        """Uncount ``n`` bytes of a body that was not kept (a transfer retried, a file refused)."""
        with self._lock:
            self.spent -= n


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date); None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if seconds == seconds else None  # NaN says nothing
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


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
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        return []
    issues = doc.get("issue")
    return [i for i in issues if isinstance(i, dict)] if isinstance(issues, list) else []


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
    """Requests to one EHR's Bulk API with the backend token: retried, re-authenticated once on 401, the
    token sent to ``base``'s origin only, and every limit of ``limits`` held until ``deadline`` (by ``clock``).

    ``auth`` gives ``headers()`` (the ``Authorization`` header) and ``renew()``; both raise
    ``app.errors.SignInError`` when the EHR will not sign the app in (``app.smart.backend.BackendAuth``)."""

    def __init__(self, http: httpx.Client, auth, base: str, *, sleep: Callable[[float], None], tries: int = TRIES,
                 limits: BulkLimits | None = None, file_hosts: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic, deadline: float | None = None,
                 budget: Budget | None = None):
        self.http, self.auth, self.sleep, self.tries, self.clock = http, auth, sleep, tries, clock
        self.origin = origin(base)
        if self.origin is None:
            raise BulkError("the FHIR server's URL is not an absolute http(s) URL")
        self.file_hosts = {o for o in map(origin, file_hosts) if o is not None}
        self.limits = limits or BulkLimits()
        self.deadline = clock() + self.limits.deadline if deadline is None else deadline
        self.budget = budget or Budget(self.limits)
        t = http.timeout
        self.timeout = httpx.Timeout(connect=t.connect, read=self.limits.read_timeout, write=t.write, pool=t.pool)

    def request(self, what: str, method: str, url: str, *, bearer: bool = True, headers: dict | None = None,
                params: dict | None = None, sink: Sink | None = None, throttle_retries: bool = True) -> httpx.Response:
        """Send and return the final answer (its body read, or given to ``sink`` on 200, streamed).

        429 and 5xx answers and transport failures are retried up to ``tries`` times, waiting as
        ``Retry-After`` says or with backoff (within ``min_backoff``..``max_backoff``); what is left
        after that is returned (or raised as a BulkError for transport failures) for the caller to
        judge. ``throttle_retries=False`` returns a 429 at once, for a caller that backs off itself.
        """
        attempt, reauthenticated = 0, False
        while True:
            attempt += 1
            self.check_time(what)
            try:
                resp = self._follow(what, method, url, bearer, headers or {}, params, sink)
            except httpx.TransportError as exc:
                if attempt >= self.tries:
                    raise BulkError(f"{what}: no answer from the EHR after {self.tries} tries ({_why(exc, self.limits)})"
                                    ) from None
                self.wait(what, self.retry_wait(None, attempt))
                continue
            if resp.status_code == 401 and bearer and not reauthenticated:
                reauthenticated = True
                self._renew(what)
                attempt -= 1
                continue
            if attempt < self.tries and _retryable(resp) and (throttle_retries or resp.status_code != 429):
                self.wait(what, self.retry_wait(retry_after(resp.headers.get("Retry-After")), attempt))
                continue
            return resp

    def retry_wait(self, asked: float | None, attempt: int) -> float:
        """Seconds before retry ``attempt``: what the EHR asked, never less than the backoff (a ``Retry-After: 0``
        from a server that is throttling is no reason to hammer it), within the limits' bounds."""
        wait = max(asked or 0.0, backoff(attempt), self.limits.min_backoff)
        return min(wait, self.limits.max_backoff)

    def wait(self, what: str, seconds: float) -> None:
        """Sleep ``seconds``, unless that would pass the deadline: then LimitHit at once."""
        if self.clock() + seconds > self.deadline:
            raise self._late(what)
        self.sleep(seconds)

    def check_time(self, what: str) -> None:
        """LimitHit when the run's deadline has passed."""
        if self.clock() > self.deadline:
            raise self._late(what)

    def _late(self, what: str) -> LimitHit:
        return LimitHit(f"{what}: the export has taken longer than allowed ({limit_text(self.limits, 'deadline')})")

    def _follow(self, what: str, method: str, url: str, bearer: bool, headers: dict, params: dict | None,
                sink: Sink | None) -> httpx.Response:
        """One request and the redirects it meets, each hop checked: the token goes to the FHIR server only."""
        send_bearer = self._check_url(what, url, bearer, hop=False)
        for _ in range(MAX_REDIRECTS):
            resp = self._once(what, method, url, send_bearer, headers, params, sink)
            location = resp.headers.get("Location")
            if resp.status_code not in REDIRECTS or method != "GET" or not location:
                return resp
            url, params = urljoin(url, location), None
            send_bearer = self._check_url(what, url, bearer, hop=True)
        raise BulkError(f"{what}: the EHR redirected more than {MAX_REDIRECTS} times; not followed")

    def _check_url(self, what: str, url: str, bearer: bool, *, hop: bool) -> bool:
        """Whether the token goes to ``url``; BulkError when ``url`` may not be asked at all.

        The FHIR server's own origin gets the token (when the request carries one). Elsewhere only a
        storage host the admin allowed, and never with the token: a request that needs it is refused,
        a redirect to such a host is followed without it.
        """
        where = origin(url)
        if where == self.origin:
            return bearer
        if bearer and not hop:
            raise BulkError(f"{what}: its URL is on another server ({host_of(url)}) than the FHIR API; "
                            "the token is not sent there")
        if where not in self.file_hosts:
            raise BulkError(f"{what}: {'redirected to' if hop else 'its URL is on'} {host_of(url)}, which is neither "
                            "the FHIR server nor a storage host allowed for this EHR (bulk_file_hosts in RADAR_EHRS); "
                            "not followed")
        return False

    def _once(self, what: str, method: str, url: str, bearer: bool, headers: dict, params: dict | None,
              sink: Sink | None) -> httpx.Response:
        # Compression is decoded here, bounded, so only encodings zlib reads are offered.
        headers = {**headers, "Accept-Encoding": "gzip, deflate"}
        if bearer:
            headers = {**headers, **self._auth_headers()}
        with self.http.stream(method, url, headers=headers, params=params, timeout=self.timeout,
                              follow_redirects=False) as resp:
            chunks = self._chunks(what, resp)
            if sink is not None and resp.status_code == 200:
                sink(resp, chunks)
                return resp
            body = bytearray()
            for chunk in chunks:
                body += chunk
                if len(body) > ANSWER_BYTES:
                    raise BulkError(f"{what}: the EHR's answer is larger than {ANSWER_BYTES // MIB} MiB; not read")
        kept = {k: v for k, v in resp.headers.items() if k.lower() not in ("content-encoding", "content-length")}
        return httpx.Response(resp.status_code, headers=kept, content=bytes(body), request=resp.request)

    def _chunks(self, what: str, resp: httpx.Response) -> Iterator[bytes]:
        """The body decompressed a chunk at a time (never more than CHUNK bytes at once), the deadline
        checked as each piece arrives, so that a slow drip ends with the run's time."""
        coding = resp.headers.get("Content-Encoding", "").strip().lower()
        if coding in ("", "identity"):
            decoder = None
        elif coding in ("gzip", "x-gzip", "deflate"):
            decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        else:
            raise BulkError(f"{what}: the EHR sent an encoding the client does not read ({coding[:40]!r})")
        for raw in resp.iter_raw():
            self.check_time(what)
            if decoder is None:
                yield raw
                continue
            try:
                while raw:
                    out = decoder.decompress(raw, CHUNK)
                    raw = decoder.unconsumed_tail
                    if out:
                        yield out
                        self.check_time(what)
            except zlib.error:
                raise BulkError(f"{what}: the EHR's compressed answer is damaged") from None

    def _auth_headers(self) -> dict:
        try:
            return self.auth.headers()
        except SignInError as exc:
            raise BulkError(_sign_in_failed(exc)) from None

    def _renew(self, what: str) -> None:
        try:
            self.auth.renew()
        except SignInError as exc:
            raise BulkError(f"{what}: {_sign_in_failed(exc)}") from None

    def to_file(self, what: str, path: Path) -> Sink:
        """A sink writing the streamed body to ``path`` (via ``path.part``, renamed when whole), within the
        limits of one file, one line and the export; a body cut short by a limit leaves no part file."""
        limits = self.limits

        def sink(resp: httpx.Response, chunks: Iterator[bytes]) -> None:
            part = path.with_name(path.name + ".part")
            size = line = taken = 0
            try:
                with open(part, "wb") as out:
                    for chunk in chunks:
                        size += len(chunk)
                        if size > limits.file_bytes:
                            raise BulkError(f"{what}: larger than allowed for one file "
                                            f"({limit_text(limits, 'file_bytes')}); not kept")
                        longest, line = _lines(chunk, line)
                        if longest > limits.line_bytes:
                            raise BulkError(f"{what}: a line is longer than allowed "
                                            f"({limit_text(limits, 'line_bytes')}); not kept")
                        taken += len(chunk)
                        self.budget.take(what, len(chunk))
                        out.write(chunk)
            except BaseException:
                part.unlink(missing_ok=True)
                self.budget.give_back(taken)
                raise
            os.replace(part, path)
        return sink


def _lines(chunk: bytes, open_line: int) -> tuple[int, int]:
    """(the longest line that ``chunk`` ends, holds or leaves open; the length of the line it leaves open),
    given the length of the line open before it."""
    first, newline, rest = chunk.partition(b"\n")
    if not newline:
        return open_line + len(first), open_line + len(first)
    *inner, last = rest.split(b"\n")
    return max(open_line + len(first), len(last), *map(len, inner)), len(last)


def _why(exc: httpx.TransportError, limits: BulkLimits) -> str:
    if isinstance(exc, httpx.ReadTimeout):
        return f"ReadTimeout: nothing came for {limit_text(limits, 'read_timeout')}"
    return type(exc).__name__


def _sign_in_failed(exc: SignInError) -> str:
    return exc.message + (f" ({exc.detail})" if exc.detail else "")
