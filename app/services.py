"""The clients every part of the app uses, set up once from the settings (flaskr's ``init_app`` seam).

The web app (``init_app``), the RQ worker and the CLI (``for_process``) get the same set-up:
settings, the Redis store (and the bytes client RQ needs), the knowledge with the ranker, and one
pooled HTTP client with explicit timeouts.
"""
from __future__ import annotations

from dataclasses import dataclass

import httpx
import redis
from flask import Flask, current_app

from .config import Settings, load_settings
from .knowledge import Knowledge
from .pipeline import CaseOptions, load_knowledge
from .store import Store, connect

USER_AGENT = "RaDaR-in-the-chart/0.1"


@dataclass(frozen=True)
class Services:
    """What a request, a job or a command works with."""

    settings: Settings
    store: Store
    rq: redis.Redis
    knowledge: Knowledge
    http: httpx.Client

    @property
    def case_options(self) -> CaseOptions:
        """How this deployment writes case narratives (budget, de-identification)."""
        return CaseOptions(budget_tokens=self.settings.narrative_tokens, deidentify=self.settings.deidentify)


def build(settings: Settings, store: Store | None = None) -> Services:
    """Connect the store (unless the caller has one) and load the knowledge (once, before gunicorn forks its workers)."""
    store = store or connect(settings.redis_url, settings.data_dir, audit=settings.audit)
    http = httpx.Client(timeout=httpx.Timeout(settings.fhir_timeout, connect=5.0),
                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                        headers={"User-Agent": USER_AGENT}, follow_redirects=False)
    return Services(settings=settings, store=store, rq=store.raw(), knowledge=load_knowledge(), http=http)


def init_app(app: Flask, settings: Settings) -> Services:
    """Build the services and keep them in ``app.extensions["radar"]``."""
    services = app.extensions["radar"] = build(settings)
    return services


def current() -> Services:
    """The services of the app handling this request."""
    return current_app.extensions["radar"]


_PROCESS: list[Services] = []


def for_process() -> Services:
    """The services of a worker or command process, built from the environment once."""
    if not _PROCESS:
        _PROCESS.append(build(load_settings()))
    return _PROCESS[0]
