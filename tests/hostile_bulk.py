"""A Bulk Data server on loopback that misbehaves as a test asks, and a clock that only moves when told.

``HostileBulk`` answers SMART configuration, the token, a small Group, kick-off, status polls and
files like a real EHR until a test changes one of its attributes: where the status URL points
(``content_location``), what the polls answer first (``polls``), the manifest (``manifest_extra``,
``requires_token``, ``output``, ``error``) and every body (``bodies``, ``binaries``). The body
builders make endless files, gzip bombs, giant lines and slow drips; each is bounded, so that a
client without limits still finishes (and its test fails) instead of filling the disk.
"""
from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Flask, Response, jsonify, request

from tests.servers import free_port, serve
from tests.support.bulk import backend_auth

TOKEN = "tok-" + "9" * 40
PATIENT = {"resourceType": "Patient", "id": "hb-1", "gender": "female", "birthDate": "1990-01-01"}
LINE = (json.dumps(PATIENT) + "\n").encode()


class Clock:
    """Monotonic time that moves only when slept on or advanced: the client's ``clock`` and ``sleep``."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """The client's wait: recorded, and the time moves on at once."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (the server does this to act slow without being slow)."""
        with self._lock:
            self.now += seconds


@dataclass
class Seen:
    """One request the server got."""

    method: str
    path: str
    host: str
    bearer: bool


def ndjson(lines: list[dict]) -> Callable[[], Response]:
    """A body: these resources as NDJSON."""
    return lambda: Response("".join(json.dumps(x) + "\n" for x in lines), mimetype="application/fhir+ndjson")


def endless(limit: int, chunk: int = 1 << 16) -> Callable[[], Response]:
    """A body that goes on and on (valid NDJSON lines), stopping only after ``limit`` bytes."""
    block = LINE * (chunk // len(LINE))

    def body() -> Iterator[bytes]:
        for _ in range(limit // len(block) + 1):
            yield block
    return lambda: Response(body(), mimetype="application/fhir+ndjson")


def gzip_bomb(size: int) -> Callable[[], Response]:
    """A small gzip body (``Content-Encoding: gzip``) that unpacks to ``size`` bytes of NDJSON."""
    packed = gzip.compress(LINE * (size // len(LINE)), compresslevel=9)
    return lambda: Response(packed, mimetype="application/fhir+ndjson", headers={"Content-Encoding": "gzip"})


def giant_line(size: int) -> Callable[[], Response]:
    """One resource ``size`` bytes long, on one line, streamed."""
    def body() -> Iterator[bytes]:
        yield b'{"resourceType": "Patient", "id": "hb-2", "text": {"div": "'
        for _ in range(size // (1 << 16)):
            yield b"x" * (1 << 16)
        yield b'"}}\n'
    return lambda: Response(body(), mimetype="application/fhir+ndjson")


def drip(clock: Clock, seconds: float, count: int) -> Callable[[], Response]:
    """A body sent one byte at a time, each taking ``seconds`` of ``clock``'s time (a few ms of real time)."""
    def body() -> Iterator[bytes]:
        for _ in range(count):
            clock.advance(seconds)
            yield b" "
            time.sleep(0.002)
        yield LINE
    return lambda: Response(body(), mimetype="application/fhir+ndjson")


def binary(size: int, content_type: str = "text/plain") -> Callable[[], Response]:
    """A raw attachment of ``size`` bytes."""
    def body() -> Iterator[bytes]:
        for _ in range(size // (1 << 16) + 1):
            yield b"y" * (1 << 16)
    return lambda: Response(body(), mimetype=content_type)


def redirect(url: str, code: int = 302) -> Callable[[], Response]:
    """A body that is only a redirect to ``url``."""
    return lambda: Response(status=code, headers={"Location": url})


class HostileBulk:
    """A Bulk Data server on 127.0.0.1 whose every answer a test may change (see the module docstring)."""

    def __init__(self):
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base = f"{self.origin}/fhir"
        self.seen: list[Seen] = []
        self.content_location = f"{self.origin}/status/1"
        self.polls: list[tuple[int, dict]] = []  # answers before the manifest, as (status, headers), in order
        self.requires_token = True
        self.output = [("Patient", f"{self.base}/files/Patient.ndjson")]
        self.error: list[tuple[str, str]] = []
        self.manifest_extra: dict = {}
        self.bodies: dict[str, Callable[[], Response]] = {"Patient.ndjson": ndjson([PATIENT])}
        self.binaries: dict[str, Callable[[], Response]] = {}
        app = Flask("hostile-bulk")

        @app.before_request
        def note():
            self.seen.append(Seen(request.method, request.path, request.host,
                                  request.headers.get("Authorization") == f"Bearer {TOKEN}"))

        backend_auth(app, self.base, TOKEN)

        @app.get("/fhir/Group/<gid>")
        def group(gid):
            return jsonify(resourceType="Group", id=gid, type="person", actual=True,
                           member=[{"entity": {"reference": "Patient/hb-1"}}])

        @app.get("/fhir/Group/<gid>/$export")
        def kick_off(gid):
            return Response(status=202, headers={"Content-Location": self.content_location})

        @app.route("/status/<n>", methods=["GET", "DELETE"])
        def status(n):
            if request.method == "DELETE":
                return Response(status=202)
            if self.polls:
                code, headers = self.polls.pop(0)
                return Response(status=code, headers=headers)
            manifest = {"transactionTime": "2026-11-30T00:00:00Z", "request": f"{self.base}/Group/g/$export",
                        "requiresAccessToken": self.requires_token,
                        "output": [{"type": t, "url": u} for t, u in self.output],
                        "error": [{"type": t, "url": u} for t, u in self.error]}
            return jsonify({**manifest, **self.manifest_extra})  # the test's fields win

        @app.get("/fhir/files/<path:name>")
        @app.get("/files/<path:name>")
        def file(name):
            return self.bodies[name]() if name in self.bodies else Response(status=404)

        @app.get("/fhir/Binary/<rid>")
        def read_binary(rid):
            return self.binaries[rid]() if rid in self.binaries else Response(status=404)

        self.served = serve(app, self.port)

    def requests_to(self, prefix: str) -> list[Seen]:
        """The requests whose path starts with ``prefix``."""
        return [s for s in self.seen if s.path.startswith(prefix)]

    def stop(self) -> None:
        """Shut the server down."""
        self.served.stop()
