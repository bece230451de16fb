"""CDS Hooks settings: the trusted clients (``RADAR_CDS_CLIENTS``) and when a card is shown."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .parse import ConfigError, Env, json_list, normalize_iss, probability, require_url

FIELDS = ("iss", "jwks_url", "jwks", "jku", "fhir_servers")
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


@dataclass(frozen=True)
class CdsClient:
    """One trusted CDS Hooks client: its ``iss``, its keys, and the FHIR servers it may name.

    The keys are either fetched from ``jwks_url`` or pinned inline in ``jwks`` (the JWK Set's JSON
    text). ``jku`` lists the other ``jku`` header values accepted: fetched as key URLs with
    ``jwks_url``, mere labels with inline ``jwks``. ``fhir_servers`` are the FHIR bases a hook from
    this client may name as ``fhirServer``; None means the default (``app.cds.hook.allowed_servers``).
    """

    iss: str
    jwks_url: str | None = None
    jwks: str | None = None
    jku: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CdsThresholds:
    """When a record is flagged (a CDS card, ``radar rank``'s ``flagged``), and when as a warning.

    The first two are P(rare) thresholds (``app.rank.posterior``). The defaults come from development
    data (tests/bench/bench_population.py): at 0.5, 0 of 297 ordinary records and about 86% of
    ordinary records carrying a rare case's findings are flagged (5-fold, background held out).
    A warning also needs something to do (``app.rank.steps``): the top candidate's probability
    reaches ``warning_candidate``, or a concrete next step (a laboratory test from "look for", a
    referral to one specialty, RaDaR's finished answer agreeing) addresses candidates holding
    ``warning_step`` of the probability together (by default the candidate's threshold: one order or
    referral covering several candidates is worth what one candidate of that probability is). Else the
    card stays ``info``: a high P(rare) spread over many diseases names nothing to refer for or test
    (tests/bench/bench_card_mix.py measures the mix).
    """

    min_probability: float = 0.5
    warning_probability: float = 0.9
    warning_candidate: float = 0.2
    warning_step: float = 0.2

    @classmethod
    def from_env(cls, env: Env) -> CdsThresholds:
        """Read ``RADAR_CDS_MIN_PROBABILITY``, ``RADAR_CDS_WARNING_PROBABILITY`` and
        ``RADAR_CDS_WARNING_CANDIDATE`` and ``RADAR_CDS_WARNING_STEP`` (each in (0, 1])."""
        defaults = cls()
        candidate = probability(env, "RADAR_CDS_WARNING_CANDIDATE", defaults.warning_candidate)
        step = probability(env, "RADAR_CDS_WARNING_STEP", defaults.warning_step)
        low = probability(env, "RADAR_CDS_MIN_PROBABILITY", defaults.min_probability)
        high = probability(env, "RADAR_CDS_WARNING_PROBABILITY", max(defaults.warning_probability, low))
        if high < low:
            raise ConfigError("RADAR_CDS_WARNING_PROBABILITY: must not be below RADAR_CDS_MIN_PROBABILITY")
        return cls(min_probability=low, warning_probability=high, warning_candidate=candidate,
                   warning_step=step)


def parse_clients(raw: str | None) -> list[CdsClient]:
    """Parse ``RADAR_CDS_CLIENTS``, a JSON list of ``{"iss", "jwks_url" | "jwks", "jku"?, "fhir_servers"?}``.

    Empty or unset gives ``[]``. Anything invalid raises ``ConfigError`` naming the entry
    and the field, e.g. ``RADAR_CDS_CLIENTS[1].jwks_url: …``.
    """
    raw = (raw or "").strip()
    if not raw:
        return []
    entries = json_list("RADAR_CDS_CLIENTS", raw, '{"iss": ..., "jwks_url": ...}')
    clients: list[CdsClient] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        client = _parse_client(entry, f"RADAR_CDS_CLIENTS[{i}]")
        if client.iss in seen:
            raise ConfigError(f"RADAR_CDS_CLIENTS[{i}].iss: {client.iss} is registered twice")
        seen.add(client.iss)
        clients.append(client)
    return clients


def require_public_url(clients: Sequence[CdsClient], public_url: str | None) -> None:
    """A ConfigError when CDS clients are trusted but ``RADAR_PUBLIC_URL`` is unset.

    Each client's JWT names this service's URL as its ``aud``; without the public URL that URL could
    only come from the request's Host header, which the caller chooses.
    """
    if clients and not public_url:
        raise ConfigError("RADAR_PUBLIC_URL: required when RADAR_CDS_CLIENTS is set (a CDS client's JWT must name "
                          "RADAR_PUBLIC_URL/cds-services/... as its aud); set it to the app's external base URL, "
                          "e.g. https://radar.hospital.example")


def _parse_client(entry: object, where: str) -> CdsClient:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    _required_url(entry, "iss", where)
    if "jwks_url" in entry and "jwks" in entry:
        raise ConfigError(f"{where}: give jwks_url or jwks, not both")
    jwks = _inline_jwks(entry["jwks"], f"{where}.jwks") if "jwks" in entry else None
    if jwks is None:
        _required_url(entry, "jwks_url", where, "; or give jwks, an inline JWK Set")
    servers = entry.get("fhir_servers")
    return CdsClient(
        iss=normalize_iss(entry["iss"]),
        jwks_url=entry["jwks_url"].strip() if jwks is None else None,
        jwks=jwks,
        jku=tuple(dict.fromkeys(_urls(entry.get("jku", []), f"{where}.jku"))),
        fhir_servers=None if servers is None else tuple(dict.fromkeys(
            u.rstrip("/") for u in _urls(servers, f"{where}.fhir_servers"))),
    )


def _required_url(entry: dict, name: str, where: str, hint: str = "") -> None:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{name}: required (a non-empty string){hint}")
    require_url(f"{where}.{name}", value)


def _urls(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be a list of absolute http(s) URLs")
    for i, url in enumerate(value):
        if not isinstance(url, str):
            raise ConfigError(f"{where}[{i}]: must be a string (an absolute http(s) URL)")
        require_url(f"{where}[{i}]", url)
    return [url.strip() for url in value]


def _inline_jwks(doc: object, where: str) -> str:
    """The inline JWK Set as canonical JSON text, once it is known to hold public signing keys only."""
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where}: must be a JWK Set with at least one key ({{\"keys\": [...]}})")
    for jwk in keys:
        # The configuration holds what the client publishes; a private part here is a leaked secret.
        leaked = sorted(set(jwk) & set(PRIVATE_MEMBERS)) if isinstance(jwk, dict) else []
        if leaked:
            raise ConfigError(f"{where}: key {jwk.get('kid')!r} has private members ({', '.join(leaked)}); "
                              "give the public JWK Set only")
    try:
        imported = KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{where}: not a valid JWK Set ({type(exc).__name__})") from None
    if not any(key.kid for key in imported):
        raise ConfigError(f"{where}: every signing key needs a kid")
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
