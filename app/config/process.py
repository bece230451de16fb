"""Settings of the processes around the app: the gunicorn web server and the Spark commands.

``RADAR_BIND``, ``RADAR_WEB_WORKERS``, ``RADAR_WEB_THREADS`` and ``RADAR_FORWARDED_ALLOW_IPS`` are
read by ``launch/gunicorn.conf.py`` through :func:`web_server` before the app is loaded;
``RADAR_SPARK_MASTER`` and ``RADAR_SCREEN_ACTOR`` by ``radar screen`` and ``radar learn-background``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .parse import Env, positive_int

DEFAULT_DATA_DIR = ".radar"


def data_dir(env: Env) -> Path:
    """``RADAR_DATA_DIR``: where the embedded Redis, heartbeats and control sockets live (default ``.radar``)."""
    return Path(env.get("RADAR_DATA_DIR") or DEFAULT_DATA_DIR)


@dataclass(frozen=True)
class WebServer:
    """How gunicorn serves the app: address, processes, threads per process, trusted proxies, data directory."""

    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 8
    forwarded_allow_ips: str = "127.0.0.1"  # the proxies whose X-Forwarded-* headers are believed
    data_dir: Path = Path(DEFAULT_DATA_DIR)

    @classmethod
    def from_env(cls, env: Env) -> WebServer:
        """``RADAR_BIND``, ``RADAR_WEB_WORKERS``, ``RADAR_WEB_THREADS``, ``RADAR_FORWARDED_ALLOW_IPS`` and
        ``RADAR_DATA_DIR``; each unset one takes its default (an empty ``RADAR_FORWARDED_ALLOW_IPS``
        trusts no proxy)."""
        return cls(bind=(env.get("RADAR_BIND") or "").strip() or cls.bind,
                   workers=positive_int(env, "RADAR_WEB_WORKERS", cls.workers),
                   threads=positive_int(env, "RADAR_WEB_THREADS", cls.threads),
                   forwarded_allow_ips=env.get("RADAR_FORWARDED_ALLOW_IPS", cls.forwarded_allow_ips),
                   data_dir=data_dir(env))


@dataclass(frozen=True)
class ScreenSettings:
    """Defaults of ``radar screen`` and ``radar learn-background`` that their options override."""

    spark_master: str | None = None  # RADAR_SPARK_MASTER (--master); None: local[*]
    actor: str | None = None  # RADAR_SCREEN_ACTOR (--actor): who runs the screen, for the audit; None: the OS user

    @classmethod
    def from_env(cls, env: Env) -> ScreenSettings:
        """``RADAR_SPARK_MASTER`` and ``RADAR_SCREEN_ACTOR``; unset or blank: None. The master URL is
        checked by the command, with ``--master``."""
        return cls(spark_master=(env.get("RADAR_SPARK_MASTER") or "").strip() or None,
                   actor=(env.get("RADAR_SCREEN_ACTOR") or "").strip() or None)
