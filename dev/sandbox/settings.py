"""Sandbox configuration: a config dict overrides the environment, which overrides the defaults."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

DEV_DIR = Path(__file__).resolve().parent.parent
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")

DEFAULTS = {
    "BASE_URL": "http://127.0.0.1:8001",
    "APP_LAUNCH_URL": "http://127.0.0.1:8000/launch",
    "LATENCY_MS": 0,
    "PATIENTS": str(DEV_DIR / "data" / "patients.ndjson.gz"),
    "CLIENTS_FILE": str(DEV_DIR / "clients.json"),
    "TENANTS": {"epic": "epic", "cerner": "cerner"},
    "CODE_LIFETIME": 60,
    "LAUNCH_LIFETIME": 3600,
    "ID_TOKEN_LIFETIME": 300,
    # SMART Backend Services and Bulk Data export.
    "BACKEND_TOKEN_LIFETIME": 300,
    "EXPORT_SECONDS": 3.0,
    "EXPORT_FILE_LINES": 500,
    "EXPORT_MAX_JOBS": 3,
    "EXPORT_LIFETIME": 3600,
}
ENV = {"BASE_URL": "SANDBOX_BASE_URL", "APP_LAUNCH_URL": "SANDBOX_APP_LAUNCH_URL",
       "LATENCY_MS": "SANDBOX_LATENCY_MS", "PATIENTS": "SANDBOX_PATIENTS",
       "EXPORT_SECONDS": "SANDBOX_EXPORT_SECONDS", "EXPORT_FILE_LINES": "SANDBOX_EXPORT_FILE_LINES"}
NUMBERS = {"LATENCY_MS": float, "EXPORT_SECONDS": float, "EXPORT_FILE_LINES": int, "EXPORT_MAX_JOBS": int,
           "EXPORT_LIFETIME": float, "BACKEND_TOKEN_LIFETIME": int}


@dataclass(frozen=True)
class ClientRegistration:
    """One client registered with one tenant. A backend services client has
    ``grant_types=("client_credentials",)``, private_key_jwt and a ``jwks_url`` or an inline ``jwks``."""

    client_id: str
    tenant: str
    token_endpoint_auth_method: str
    redirect_uris: tuple[str, ...]
    scope: str
    client_secret: str | None = None
    jwks_url: str | None = None
    access_token_lifetime: int | None = None
    grant_types: tuple[str, ...] = DEFAULT_GRANT_TYPES
    jwks: dict | None = field(default=None, compare=False)


def resolve(config: dict | None) -> dict:
    """Merge defaults, environment and ``config`` into one settings dict, with tenants merged
    onto the two built-in ones and clients parsed."""
    settings = dict(DEFAULTS)
    for key, var in ENV.items():
        if os.environ.get(var):
            settings[key] = os.environ[var]
    config = dict(config or {})
    tenants = {**DEFAULTS["TENANTS"], **config.pop("TENANTS", {})}
    settings.update(config)
    settings["TENANTS"] = tenants
    settings["BASE_URL"] = settings["BASE_URL"].rstrip("/")
    for key, kind in NUMBERS.items():
        settings[key] = kind(settings[key])
    if "CLIENTS" in config:
        settings["CLIENTS"] = [parse_client(c, allow_secret=True) for c in config["CLIENTS"]]
    else:
        settings["CLIENTS"] = load_clients(settings["CLIENTS_FILE"])
    return settings


def app_base(app_launch_url: str) -> str:
    """The app's origin: its launch URL without the path."""
    parts = urlsplit(app_launch_url)
    return f"{parts.scheme}://{parts.netloc}"


def load_clients(path: str | Path) -> list[ClientRegistration]:
    """Read client registrations from a JSON file; secrets come only from the environment."""
    path = Path(path)
    if not path.exists():
        log.warning("no client registrations at %s", path)
        return []
    clients = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        client = parse_client(raw, allow_secret=False)
        if client is not None:
            clients.append(client)
    return clients


def parse_client(raw: dict, allow_secret: bool) -> ClientRegistration | None:
    """Validate one registration; None (with a warning) when its secret env var is unset."""
    method = raw["token_endpoint_auth_method"]
    if method not in AUTH_METHODS:
        raise ValueError(f"{raw['client_id']}: unknown token_endpoint_auth_method {method!r}")
    if "client_secret" in raw and not allow_secret:
        raise ValueError(f"{raw['client_id']}: secrets never live in the repo, use client_secret_env")
    secret = raw.get("client_secret")
    if method in ("client_secret_basic", "client_secret_post") and secret is None:
        var = raw.get("client_secret_env")
        secret = os.environ.get(var) if var else None
        if not secret:
            log.warning("client %s (%s) disabled: secret env var %s is not set",
                        raw["client_id"], raw["tenant"], var)
            return None
    if method == "private_key_jwt" and not (raw.get("jwks_url") or raw.get("jwks")):
        raise ValueError(f"{raw['client_id']}: private_key_jwt needs a jwks_url or an inline jwks")
    jwks = raw.get("jwks")
    if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
        raise ValueError(f"{raw['client_id']}: jwks must be a public JWK Set, an object with a 'keys' list")
    if jwks is not None and any(isinstance(k, dict) and "d" in k for k in jwks["keys"]):
        raise ValueError(f"{raw['client_id']}: the registered jwks holds a private key; register public keys only")
    grant_types = tuple(raw.get("grant_types") or DEFAULT_GRANT_TYPES)
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise ValueError(f"{raw['client_id']}: unknown grant_types {unknown}")
    if "client_credentials" in grant_types and method != "private_key_jwt":
        raise ValueError(f"{raw['client_id']}: client_credentials needs private_key_jwt (SMART Backend Services)")
    return ClientRegistration(
        client_id=raw["client_id"],
        tenant=raw["tenant"],
        token_endpoint_auth_method=method,
        redirect_uris=tuple(raw.get("redirect_uris", [])),
        scope=raw.get("scope", ""),
        client_secret=secret,
        jwks_url=raw.get("jwks_url"),
        access_token_lifetime=raw.get("access_token_lifetime"),
        grant_types=grant_types,
        jwks=jwks,
    )
