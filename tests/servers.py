"""Run WSGI apps on real loopback sockets for the tests (real HTTP, no mocks)."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Served(url=f"http://127.0.0.1:{port}", server=server, thread=thread)
