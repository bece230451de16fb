"""Settings from the environment (Helm sets them), validated once at start-up.

Every problem is reported as a ``ConfigError`` naming the setting and the reason, so a
misconfigured pod fails fast with a message an admin can act on.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.jwk import KeySet

AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt")
SIGNING_ALGS = ("RS384", "ES384")
DEFAULT_SCOPES = (
    "launch openid fhirUser online_access patient/Patient.r patient/Condition.rs "
    "patient/Observation.rs patient/DocumentReference.rs patient/DiagnosticReport.rs patient/Binary.r"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the setting and why."""


@dataclass(frozen=True)
class Ehr:
    """One registered EHR (an ``iss``) and how this app signs in to it."""

    name: str
    iss: str
    client_id: str
    auth: str
    scopes: str
    client_secret: str | None = None
    signing_alg: str = "RS384"
    redirect_uri: str | None = None
    standalone_scopes: str | None = None

    @property
    def scope_for_standalone(self) -> str:
        """Scopes for a standalone launch: ``launch`` becomes ``launch/patient``."""
        if self.standalone_scopes:
            return self.standalone_scopes
        return " ".join("launch/patient" if s == "launch" else s for s in self.scopes.split())


@dataclass(frozen=True)
class Settings:
    """Validated settings of one app process."""

    redis_url: str | None
    data_dir: Path
    ehrs: dict[str, Ehr]
    keys: KeySet | None
    public_url: str | None = None
    frame_ancestors: str = "*"
    session_ttl: int = 12 * 3600
    fhir_timeout: float = 20.0
    model: object = None  # inference.ModelSettings, or None when RADAR_URL is unset
    deidentify: bool = True
    narrative_tokens: int = 6000
    job_stale_grace: int = 60
    cds_clients: list = field(default_factory=list)
    cds_thresholds: dict = field(default_factory=dict)

    def ehr_for(self, iss: str) -> Ehr | None:
        """Return the registered EHR for ``iss`` (trailing slash ignored), or None."""
        return self.ehrs.get(normalize_iss(iss))


def normalize_iss(iss: str) -> str:
    """Canonical form of an ``iss`` for registry look-ups: no trailing slash."""
    return iss.strip().rstrip("/")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read and validate all settings from ``env`` (``os.environ`` by default)."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("RADAR_DATA_DIR") or ".radar")
    keys = _load_keys(env)
    ehrs = _load_ehrs(env, keys)
    public_url = env.get("RADAR_PUBLIC_URL") or None
    if public_url:
        _require_url("RADAR_PUBLIC_URL", public_url)
    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: must start with redis://, rediss:// or unix://")
    return Settings(
        redis_url=redis_url,
        data_dir=data_dir,
        ehrs=ehrs,
        keys=keys,
        public_url=public_url.rstrip("/") if public_url else None,
        frame_ancestors=env.get("RADAR_FRAME_ANCESTORS", "*"),
        session_ttl=_positive_int(env, "RADAR_SESSION_TTL", 12 * 3600),
        fhir_timeout=float(_positive_int(env, "RADAR_FHIR_TIMEOUT", 20)),
        model=_model_settings(env),
        deidentify=_boolean(env, "RADAR_DEIDENTIFY", True),
        narrative_tokens=_positive_int(env, "RADAR_NARRATIVE_TOKENS", 6000),
        job_stale_grace=_positive_int(env, "RADAR_JOB_STALE_GRACE", 60),
        cds_clients=_cds_clients(env),
        cds_thresholds={"min_phenotypes": _positive_int(env, "RADAR_CDS_MIN_PHENOTYPES", 3),
                        "min_matching": _positive_int(env, "RADAR_CDS_MIN_MATCHING", 3),
                        "warning_matching": _positive_int(env, "RADAR_CDS_WARNING_MATCHING", 6)},
    )


def _cds_clients(env: dict[str, str]) -> list:
    from .cds.auth import parse_clients

    return parse_clients(env.get("RADAR_CDS_CLIENTS") or "")


def _model_settings(env: dict[str, str]):
    from .inference.client import ModelSettings

    return ModelSettings.from_env(env)


def _boolean(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not true or false")


def _load_ehrs(env: dict[str, str], keys: KeySet | None) -> dict[str, Ehr]:
    raw = (env.get("RADAR_EHRS") or "").strip()
    if not raw:
        return {}
    if not raw.startswith(("[", "{")):
        path = Path(raw)
        if not path.is_file():
            raise ConfigError(f"RADAR_EHRS: expected a JSON list or the path of a JSON file; no file at {raw!r}")
        raw = path.read_text()
    entries = json_list("RADAR_EHRS", raw, "EHR registrations")
    ehrs: dict[str, Ehr] = {}
    for i, entry in enumerate(entries):
        ehr = _parse_ehr(entry, f"RADAR_EHRS[{i}]", env, keys)
        if ehr.iss in ehrs:
            raise ConfigError(f"RADAR_EHRS[{i}].iss: {ehr.iss} is registered twice")
        ehrs[ehr.iss] = ehr
    return ehrs


def _parse_ehr(entry: object, where: str, env: dict[str, str], keys: KeySet | None) -> Ehr:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    known = {"name", "iss", "client_id", "auth", "scopes", "secret_env", "signing_alg", "redirect_uri",
             "standalone_scopes"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    for name in ("iss", "client_id"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise ConfigError(f"{where}.{name}: required (a non-empty string)")
    iss = normalize_iss(entry["iss"])
    _require_url(f"{where}.iss", iss)
    auth = entry.get("auth", "none")
    if auth not in AUTH_METHODS:
        raise ConfigError(f"{where}.auth: {auth!r} is not one of {', '.join(AUTH_METHODS)}")
    secret = None
    if auth in ("client_secret_basic", "client_secret_post"):
        secret_env = entry.get("secret_env")
        if not isinstance(secret_env, str) or not _ENV_NAME.match(secret_env):
            raise ConfigError(f"{where}.secret_env: auth {auth} needs the name of the environment variable holding the client secret")
        secret = env.get(secret_env)
        if not secret:
            raise ConfigError(f"{where}.secret_env: environment variable {secret_env} is not set")
    alg = entry.get("signing_alg", "RS384")
    if alg not in SIGNING_ALGS:
        raise ConfigError(f"{where}.signing_alg: {alg!r} is not one of {', '.join(SIGNING_ALGS)}")
    if auth == "private_key_jwt" and not _has_key(keys, alg):
        raise ConfigError(
            f"{where}.auth: private_key_jwt needs a private {alg} key in RADAR_JWKS_FILE or RADAR_JWKS "
            "(create one with `radar keys`)")
    scopes = entry.get("scopes", DEFAULT_SCOPES)
    if not isinstance(scopes, str) or not scopes.split():
        raise ConfigError(f"{where}.scopes: must be a non-empty space-separated string")
    redirect_uri = entry.get("redirect_uri")
    if redirect_uri is not None:
        _require_url(f"{where}.redirect_uri", redirect_uri)
    return Ehr(
        name=str(entry.get("name") or iss), iss=iss, client_id=entry["client_id"].strip(), auth=auth,
        scopes=" ".join(scopes.split()), client_secret=secret, signing_alg=alg, redirect_uri=redirect_uri,
        standalone_scopes=entry.get("standalone_scopes"),
    )


def json_list(name: str, raw: str, what: str) -> list:
    """Parse a setting that holds a JSON list; errors name the setting."""
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(entries, list):
        raise ConfigError(f"{name}: must be a JSON list of {what}")
    return entries


def _load_keys(env: dict[str, str]) -> KeySet | None:
    raw = env.get("RADAR_JWKS")
    source = "RADAR_JWKS"
    if not raw and env.get("RADAR_JWKS_FILE"):
        source = "RADAR_JWKS_FILE"
        path = Path(env["RADAR_JWKS_FILE"])
        if not path.is_file():
            raise ConfigError(f"RADAR_JWKS_FILE: no file at {str(path)!r}")
        raw = path.read_text()
    if not raw:
        return None
    try:
        keys = KeySet.import_key_set(json.loads(raw))
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{source}: not a valid JWK Set ({type(exc).__name__})") from None
    for key in keys:
        if not key.is_private:
            raise ConfigError(f"{source}: key {key.kid!r} has no private part; the app signs with these keys")
        if not key.kid or key.alg not in SIGNING_ALGS:
            raise ConfigError(f"{source}: every key needs a kid and an alg of {' or '.join(SIGNING_ALGS)}")
    return keys


def _has_key(keys: KeySet | None, alg: str) -> bool:
    return bool(keys) and any(k.alg == alg for k in keys)


def _require_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: {value!r} is not an absolute http(s) URL")


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{name}: must be greater than zero")
    return value
