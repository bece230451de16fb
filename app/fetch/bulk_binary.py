"""Binary completion for a Bulk export: the note attachments the record builder will read, fetched
from the same FHIR server with the backend token and written to ``Binary.<n>.ndjson``.

Exports carry DocumentReference and DiagnosticReport with ``attachment.url`` pointing at Binary
resources, which a Group export does not include unless asked. Only the attachment that
``notes.note_stub`` picks (HTML, then plain text, then RTF) is read, as the chart would; a URL to
another server is never sent the token. A Binary larger than ``BulkLimits.binary_bytes`` is listed
among the failures, not kept.
"""
from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from . import notes
from .bulk_http import CHUNK, BulkError, LimitHit, Transfer, limit_text, refused
from .fhir import valid_id

WORKERS = 4  # a few at a time: the EHR's normal FHIR API serves these, next to its clinicians
LINES_PER_FILE = 500
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def binary_id(url: str, base: str) -> str | None:
    """The Binary id of an attachment URL on this FHIR server (``Binary/<id>`` or ``<base>/Binary/<id>``), else None."""
    for prefix in ("Binary/", f"{base.rstrip('/')}/Binary/"):
        if url.startswith(prefix) and valid_id(url[len(prefix):]):
            return url[len(prefix):]
    return None


def attachment_ids(files: Iterable[Path], base: str, not_followed: list[str]) -> list[str]:
    """The Binary ids (each once) of the readable note attachments in these NDJSON files.

    URLs elsewhere are added to ``not_followed``; unreadable lines are skipped here (the screen
    counts them when it reads the same files).
    """
    ids: dict[str, None] = {}
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    resource = json.loads(line)
                except (ValueError, RecursionError):  # a line nested past Python's limit is not JSON we read
                    continue
                stub = notes.note_stub(resource) if isinstance(resource, dict) else None
                url = (stub[1] or {}).get("url") if stub else None
                if not isinstance(url, str) or (stub[1] or {}).get("data"):
                    continue
                rid = binary_id(url, base)
                if rid is None:
                    not_followed.append(f"{stub[0].ref}: attachment {url[:200]!r} is not a Binary on this server; "
                                        "not followed")
                else:
                    ids[rid] = None
    return list(ids)


def complete(transfer: Transfer, base: str, out_dir: Path, ids: list[str],
             say: Callable[[str], None]) -> tuple[list[Path], list[str]]:
    """Read the Binaries ``ids`` a few at a time into ``out_dir/Binary.<n>.ndjson``; (files, failures).

    A limit of the whole run (its deadline, its bytes) raises LimitHit; anything else about one
    Binary is one failure.
    """
    for old in out_dir.glob("Binary.*.ndjson"):
        old.unlink()  # a resumed run reads this phase again, whole
    writer = _Writer(out_dir)
    errors: list[str] = []
    base = base.rstrip("/")

    def one(rid: str) -> str | None:
        part = out_dir / f".Binary.{rid}.part"
        try:
            resp = transfer.request(f"Binary/{rid}", "GET", f"{base}/Binary/{rid}",
                                    headers={"Accept": "application/fhir+json"}, sink=_binary_sink(transfer, part, rid))
            if resp.status_code != 200:
                return refused(f"Binary/{rid}", resp).message
            if not _looks_like_resource(part):
                return f"Binary/{rid}: the EHR sent something that is not a FHIR resource"
            writer.append(part)
            return None
        except LimitHit:
            raise
        except BulkError as exc:
            return exc.message
        finally:
            part.unlink(missing_ok=True)

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            for done, error in enumerate(pool.map(one, ids), 1):
                if error:
                    errors.append(error)
                if done % 100 == 0 or done == len(ids):
                    say(f"attachments: {done}/{len(ids)} read")
    finally:
        files = writer.close()
    return files, errors


def _binary_sink(transfer: Transfer, part: Path, rid: str) -> Callable[[httpx.Response, Iterator[bytes]], None]:
    """Stream a Binary to ``part`` as one NDJSON line: JSON with its line breaks dropped, or raw content wrapped."""
    limits, what = transfer.limits, f"Binary/{rid}"

    taken = [0]

    def bounded(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if taken[0] + len(chunk) > limits.binary_bytes:
                raise BulkError(f"{what}: larger than allowed for one attachment "
                                f"({limit_text(limits, 'binary_bytes')}); not read")
            taken[0] += len(chunk)
            transfer.budget.take(what, len(chunk))
            yield chunk

    def sink(resp: httpx.Response, chunks: Iterator[bytes]) -> None:
        try:
            write(resp, chunks)
        except BaseException:
            transfer.budget.give_back(taken[0])  # the caller drops the part file
            raise
        finally:
            taken[0] = 0

    def write(resp: httpx.Response, chunks: Iterator[bytes]) -> None:
        kind = notes.base_type(resp.headers.get("content-type"))
        with open(part, "wb") as out:
            if kind in JSON_TYPES:
                # Raw line breaks in JSON are only ever whitespace between tokens (inside strings they are
                # escaped), so dropping them keeps the document and makes it one line.
                for chunk in bounded(chunks):
                    out.write(chunk.replace(b"\r", b"").replace(b"\n", b""))
                return
            head = {"resourceType": "Binary", "id": rid, "contentType": resp.headers.get("content-type")
                    or "application/octet-stream"}
            out.write(json.dumps(head)[:-1].encode() + b', "data": "')
            rest = b""
            for chunk in bounded(chunks):
                chunk = rest + chunk
                cut = len(chunk) - len(chunk) % 3
                out.write(base64.b64encode(chunk[:cut]))
                rest = chunk[cut:]
            out.write(base64.b64encode(rest) + b'"}')
    return sink


def _looks_like_resource(part: Path) -> bool:
    with open(part, "rb") as f:
        head = f.read(64).lstrip()
        f.seek(max(0, part.stat().st_size - 64))
        tail = f.read().rstrip()
    return head.startswith(b"{") and tail.endswith(b"}")


class _Writer:
    """Appends whole Binaries to ``Binary.<n>.ndjson``, a new file every ``LINES_PER_FILE`` lines."""

    def __init__(self, out_dir: Path):
        self.out_dir, self.files, self.lines = out_dir, [], 0
        self._out = None
        self._lock = threading.Lock()

    def append(self, part: Path) -> None:
        with self._lock:
            if self._out is None or self.lines >= LINES_PER_FILE:
                self._roll()
            with open(part, "rb") as src:
                while chunk := src.read(CHUNK):
                    self._out.write(chunk)
            self._out.write(b"\n")
            self.lines += 1

    def _roll(self) -> None:
        if self._out is not None:
            self._out.close()
        path = self.out_dir / f"Binary.{len(self.files) + 1}.ndjson"
        self.files.append(path)
        self._out, self.lines = open(path, "wb"), 0

    def close(self) -> list[Path]:
        if self._out is not None:
            self._out.close()
        return self.files
