"""The EHR registry (``RADAR_EHRS``) and the app's signing keys (``RADAR_JWKS``, ``RADAR_JWKS_FILE``)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.jwk import KeySet

from .parse import ConfigError, Env, json_list, normalize_iss, require_url

AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt")
SIGNING_ALGS = ("RS384", "ES384")
DEFAULT_SCOPES = (
    "launch openid fhirUser online_access patient/Patient.r patient/Condition.rs "
    "patient/Observation.rs patient/DocumentReference.rs patient/DiagnosticReport.rs patient/Binary.r"
)
# SMART Backend Services: what a population export reads (system-level, no patient context).
BACKEND_SCOPES = ("system/Patient.rs system/Group.rs system/Condition.rs system/Observation.rs "
                  "system/DocumentReference.rs system/DiagnosticReport.rs system/Binary.r")
BACKEND_SCOPES_V1 = ("system/Patient.read system/Group.read system/Condition.read system/Observation.read "
                     "system/DocumentReference.read system/DiagnosticReport.read system/Binary.read")
_V1_SCOPE = re.compile(r"^(patient|user|system)/[A-Za-z*]+\.(read|write|\*)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELDS = frozenset({"name", "iss", "client_id", "auth", "scopes", "secret_env", "signing_alg", "redirect_uri",
                     "standalone_scopes", "backend_client_id", "backend_scopes", "bulk_file_hosts"})


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
    backend_client_id: str | None = None  # SMART Backend Services registration (population export)
    backend_scopes: str | None = None  # resolved: the v2 or v1 default when backend_client_id is set
    bulk_file_hosts: tuple[str, ...] = ()  # origins of the EHR's storage that Bulk files may come from

    @property
    def scope_for_standalone(self) -> str:
        """Scopes for a standalone launch: ``launch`` becomes ``launch/patient``."""
        if self.standalone_scopes:
            return self.standalone_scopes
        return " ".join("launch/patient" if s == "launch" else s for s in self.scopes.split())


def load_ehrs(env: Env, keys: KeySet | None, *, chart_secrets: bool = True) -> dict[str, Ehr]:
    """The registry from ``RADAR_EHRS`` (inline JSON or a file path), keyed by normalised ``iss``.

    ``chart_secrets=False`` (commands that never sign a clinician in, such as ``radar screen``)
    reads an entry whose client-secret variable is unset, with no secret, instead of refusing it.
    """
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
        ehr = _parse_ehr(entry, f"RADAR_EHRS[{i}]", env, keys, chart_secrets)
        if ehr.iss in ehrs:
            raise ConfigError(f"RADAR_EHRS[{i}].iss: {ehr.iss} is registered twice")
        ehrs[ehr.iss] = ehr
    return ehrs


def _parse_ehr(entry: object, where: str, env: Env, keys: KeySet | None, chart_secrets: bool = True) -> Ehr:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
    for name in ("iss", "client_id"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise ConfigError(f"{where}.{name}: required (a non-empty string)")
    iss = normalize_iss(entry["iss"])
    require_url(f"{where}.iss", iss)
    auth = entry.get("auth", "none")
    if auth not in AUTH_METHODS:
        raise ConfigError(f"{where}.auth: {auth!r} is not one of {', '.join(AUTH_METHODS)}")
    secret = _client_secret(entry, where, auth, env, chart_secrets)
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
        require_url(f"{where}.redirect_uri", redirect_uri)
    backend_client_id, backend_scopes = _backend(entry, where, scopes, alg, keys)
    return Ehr(
        name=str(entry.get("name") or iss), iss=iss, client_id=entry["client_id"].strip(), auth=auth,
        scopes=" ".join(scopes.split()), client_secret=secret, signing_alg=alg, redirect_uri=redirect_uri,
        standalone_scopes=entry.get("standalone_scopes"), backend_client_id=backend_client_id,
        backend_scopes=backend_scopes, bulk_file_hosts=_file_hosts(entry.get("bulk_file_hosts", []), where),
    )


def _backend(entry: dict, where: str, scopes: str, alg: str, keys: KeySet | None) -> tuple[str | None, str | None]:
    """The Backend Services client id and its scopes (default: v1 spelling when the entry's ``scopes`` are v1)."""
    client_id = entry.get("backend_client_id")
    given = entry.get("backend_scopes")
    if client_id is None:
        if given is not None:
            raise ConfigError(f"{where}.backend_scopes: needs backend_client_id (the Backend Services registration)")
        return None, None
    if not isinstance(client_id, str) or not client_id.strip():
        raise ConfigError(f"{where}.backend_client_id: must be a non-empty string")
    # Backend Services authenticates only with private_key_jwt (SMART App Launch 2.x, backend-services).
    if not _has_key(keys, alg):
        raise ConfigError(
            f"{where}.backend_client_id: Backend Services signs in with private_key_jwt and needs a private {alg} "
            "key in RADAR_JWKS_FILE or RADAR_JWKS (create one with `radar keys`)")
    if given is None:
        v1 = any(_V1_SCOPE.match(s) for s in scopes.split())
        return client_id.strip(), BACKEND_SCOPES_V1 if v1 else BACKEND_SCOPES
    if not isinstance(given, str) or not given.split():
        raise ConfigError(f"{where}.backend_scopes: must be a non-empty space-separated string")
    wrong = [s for s in given.split() if not s.startswith("system/")]
    if wrong:
        raise ConfigError(f"{where}.backend_scopes: only system/ scopes are granted to a backend client; "
                          f"not {', '.join(wrong)}")
    return client_id.strip(), " ".join(given.split())


def _file_hosts(value: object, where: str) -> tuple[str, ...]:
    """``bulk_file_hosts``: origins (``https://host[:port]``) besides the EHR's own that the Bulk client may
    fetch files from when the manifest says they need no token (its storage); normalised, lower-case."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}.bulk_file_hosts: must be a list of origins such as https://files.hospital.example")
    hosts = []
    for item in value:
        try:
            parts = urlsplit(item.strip())
            port = parts.port
        except ValueError:
            parts, port = None, None
        if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username
                or parts.path not in ("", "/") or parts.query or parts.fragment):
            raise ConfigError(f"{where}.bulk_file_hosts: {item!r} is not an origin (scheme://host[:port], no path)")
        hosts.append(f"{parts.scheme}://{parts.hostname.lower()}" + (f":{port}" if port else ""))
    return tuple(dict.fromkeys(hosts))


def _client_secret(entry: dict, where: str, auth: str, env: Env, required: bool = True) -> str | None:
    # The registry names the variable rather than holding the secret, so RADAR_EHRS can live in
    # a ConfigMap while the secret stays in a Secret.
    if auth not in ("client_secret_basic", "client_secret_post"):
        return None
    secret_env = entry.get("secret_env")
    if not isinstance(secret_env, str) or not _ENV_NAME.match(secret_env):
        raise ConfigError(f"{where}.secret_env: auth {auth} needs the name of the environment variable holding the client secret")
    secret = env.get(secret_env)
    if not secret and required:
        raise ConfigError(f"{where}.secret_env: environment variable {secret_env} is not set")
    return secret or None


def load_keys(env: Env) -> KeySet | None:
    """The app's private signing keys from ``RADAR_JWKS`` (inline) or ``RADAR_JWKS_FILE``; None when neither."""
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
