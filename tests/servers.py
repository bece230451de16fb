"""Run WSGI apps on real loopback sockets for the tests (real HTTP, no mocks)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from werkzeug.serving import make_server


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A WSGI app served over HTTP on 127.0.0.1 in a background thread."""

    url: str
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.shutdown()
        self.thread.join(timeout=5)


def serve(wsgi_app, port: int | None = None) -> Served:
    """Serve ``wsgi_app`` on ``port`` (a free one when None), threaded, and return its handle."""
    port = port or free_port()
    server = make_server("127.0.0.1", port, wsgi_app, threaded=True)
    # shutdown() waits for the loop's next poll: 0.05 s, not the default 0.5 s, for each server a test stops.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return Served(url=f"http://127.0.0.1:{port}", server=server, thread=thread)


ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def start_gunicorn(env: dict, port: int, output=subprocess.PIPE) -> subprocess.Popen:
    """The app under real gunicorn with ``launch/gunicorn.conf.py`` (as deployed), bound to ``port``.

    ``env`` adds to this process's environment; two web workers unless it says otherwise.
    """
    env = {**os.environ, "RADAR_WEB_WORKERS": "2", **env, "RADAR_BIND": f"127.0.0.1:{port}"}
    return subprocess.Popen([str(GUNICORN), "-c", "launch/gunicorn.conf.py", "app:create_app()"], cwd=ROOT, env=env,
                            stdout=output, stderr=subprocess.STDOUT, text=True)


def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    """Wait until the app at ``url`` is ready (``/readyz``); fail with its output if it exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {proc.stdout.read() if proc.stdout else proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no answer from {url} within {seconds} s")
