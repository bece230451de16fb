"""Settings from the environment (Helm sets them), validated once at start-up.

Every ``RADAR_*`` variable is read here and nowhere else; the rest of the app receives typed
settings. Every problem is reported as a ``ConfigError`` naming the setting and the reason, so
a misconfigured pod fails fast with a message an admin can act on.

The submodules import only from ``.parse``, never from this package, so importing any of
them never loops back here.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.jwk import KeySet

from .audit import AuditSettings
from .background import SiteBackground, site_background
from .bulk import BulkLimits
from .cds import CdsClient, CdsThresholds, parse_clients, require_public_url
from .ehrs import Ehr, load_ehrs, load_keys
from .model import ModelSettings
from .parse import ConfigError, boolean, json_list, normalize_iss, one_of, positive_int, require_url
from .process import ScreenSettings, WebServer
from .process import data_dir as data_dir_setting

__all__ = ["Settings", "load_settings", "ConfigError", "Ehr", "ModelSettings", "CdsClient", "CdsThresholds",
           "normalize_iss", "json_list", "SiteBackground", "background_setting", "BulkLimits", "ScreenSettings",
           "WebServer", "web_server", "AuditSettings"]

LOG_LEVELS = tuple(logging.getLevelNamesMapping())


@dataclass(frozen=True)
class Settings:
    """Validated settings of one app process."""

    redis_url: str | None
    data_dir: Path
    ehrs: dict[str, Ehr]
    keys: KeySet | None
    public_url: str | None = None
    frame_ancestors: str = "'none'"  # CSP sources; the registered EHR origins + RADAR_FRAME_ANCESTORS
    session_ttl: int = 12 * 3600
    cookieless_sessions: bool = False  # sessions for EHR browsers that keep no cookie at all
    cookieless_ttl: int = 900
    fhir_timeout: float = 20.0
    model: ModelSettings | None = None  # None when RADAR_URL is unset: RaDaR is off
    deidentify: bool = True
    narrative_tokens: int = 6000
    job_stale_grace: int = 60
    cds_clients: tuple[CdsClient, ...] = ()
    cds_thresholds: CdsThresholds = field(default_factory=CdsThresholds)
    log_level: str = "INFO"
    screen: ScreenSettings = field(default_factory=ScreenSettings)  # RADAR_SPARK_MASTER, RADAR_SCREEN_ACTOR
    web: WebServer = field(default_factory=WebServer)  # RADAR_BIND, RADAR_WEB_*: gunicorn's (web_server)
    background: SiteBackground | None = None  # RADAR_BACKGROUND; None: the shipped background
    bulk: BulkLimits = field(default_factory=BulkLimits)  # RADAR_BULK_*: what a Bulk export may take
    audit: AuditSettings = field(default_factory=AuditSettings)  # RADAR_AUDIT_*: the sink beyond Redis

    def ehr_for(self, iss: str) -> Ehr | None:
        """Return the registered EHR for ``iss`` (trailing slash ignored), or None."""
        return self.ehrs.get(normalize_iss(iss))


def load_settings(env: Mapping[str, str] | None = None, *, chart_secrets: bool = True) -> Settings:
    """Read and validate all settings from ``env`` (``os.environ`` by default).

    ``chart_secrets=False``: for commands that never sign a clinician in (``radar screen``), an
    EHR whose chart client secret is not in this environment is still read (``load_ehrs``).
    """
    env = dict(os.environ if env is None else env)
    data_dir = data_dir_setting(env)
    keys = load_keys(env)
    ehrs = load_ehrs(env, keys, chart_secrets=chart_secrets)
    public_url = env.get("RADAR_PUBLIC_URL") or None
    if public_url:
        require_url("RADAR_PUBLIC_URL", public_url)
    cds_clients = tuple(parse_clients(env.get("RADAR_CDS_CLIENTS")))
    require_public_url(cds_clients, public_url)
    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: must start with redis://, rediss:// or unix://")
    return Settings(
        redis_url=redis_url,
        data_dir=data_dir,
        ehrs=ehrs,
        keys=keys,
        public_url=public_url.rstrip("/") if public_url else None,
        frame_ancestors=frame_ancestors(ehrs, env.get("RADAR_FRAME_ANCESTORS") or ""),
        session_ttl=positive_int(env, "RADAR_SESSION_TTL", 12 * 3600),
        cookieless_sessions=boolean(env, "RADAR_COOKIELESS_SESSIONS", False),
        cookieless_ttl=positive_int(env, "RADAR_COOKIELESS_TTL", 900),
        fhir_timeout=float(positive_int(env, "RADAR_FHIR_TIMEOUT", 20)),
        model=ModelSettings.from_env(env),
        deidentify=boolean(env, "RADAR_DEIDENTIFY", True),
        narrative_tokens=positive_int(env, "RADAR_NARRATIVE_TOKENS", 6000),
        job_stale_grace=positive_int(env, "RADAR_JOB_STALE_GRACE", 60),
        cds_clients=cds_clients,
        cds_thresholds=CdsThresholds.from_env(env),
        log_level=one_of(env, "RADAR_LOG_LEVEL", "INFO", LOG_LEVELS),
        screen=ScreenSettings.from_env(env),
        web=WebServer.from_env(env),
        background=site_background(env),
        bulk=BulkLimits.from_env(env),
        audit=AuditSettings.from_env(env, data_dir),
    )


def background_setting(env: Mapping[str, str] | None = None) -> SiteBackground | None:
    """``RADAR_BACKGROUND`` alone, checked (``os.environ`` by default): for the knowledge loader, which
    also runs in Spark executors where the other settings (EHR secrets) need not be present."""
    return site_background(os.environ if env is None else env)


def web_server(env: Mapping[str, str] | None = None) -> WebServer:
    """gunicorn's settings alone, checked (``os.environ`` by default): ``launch/gunicorn.conf.py`` reads
    them before the app, and so the rest of the settings, is loaded."""
    return WebServer.from_env(os.environ if env is None else env)


def frame_ancestors(ehrs: dict[str, Ehr], extra: str) -> str:
    """CSP ``frame-ancestors``: the registered EHRs' origins plus ``RADAR_FRAME_ANCESTORS``, never ``*``.

    The chart lives in the EHR's frame; any other site framing it could overlay it (clickjacking).
    """
    sources = [f"{urlsplit(e.iss).scheme}://{urlsplit(e.iss).netloc}" for e in ehrs.values()]
    for source in extra.split():
        if source == "*" or any(c in source for c in ";,\"'"):
            raise ConfigError(f"RADAR_FRAME_ANCESTORS: {source!r} is not allowed; list the EHR origins that frame RaDaR")
        sources.append(source)
    return " ".join(dict.fromkeys(sources)) or "'none'"
