"""CDS Hooks settings: the trusted clients (``RADAR_CDS_CLIENTS``) and when a card is shown."""
from __future__ import annotations

from dataclasses import dataclass

from .parse import ConfigError, Env, json_list, normalize_iss, positive_int, require_url


@dataclass(frozen=True)
class CdsClient:
    """One trusted CDS Hooks client: its ``iss`` and the URL of its JWK Set."""

    iss: str
    jwks_url: str


@dataclass(frozen=True)
class CdsThresholds:
    """When the patient-view hook returns a card, and when that card is a warning rather than info."""

    min_phenotypes: int = 3
    min_matching: int = 3
    warning_matching: int = 6

    @classmethod
    def from_env(cls, env: Env) -> CdsThresholds:
        """Read ``RADAR_CDS_MIN_PHENOTYPES``, ``RADAR_CDS_MIN_MATCHING`` and ``RADAR_CDS_WARNING_MATCHING``."""
        defaults = cls()
        return cls(
            min_phenotypes=positive_int(env, "RADAR_CDS_MIN_PHENOTYPES", defaults.min_phenotypes),
            min_matching=positive_int(env, "RADAR_CDS_MIN_MATCHING", defaults.min_matching),
            warning_matching=positive_int(env, "RADAR_CDS_WARNING_MATCHING", defaults.warning_matching),
        )


def parse_clients(raw: str | None) -> list[CdsClient]:
    """Parse ``RADAR_CDS_CLIENTS``, a JSON list of ``{"iss": …, "jwks_url": …}``.

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
        where = f"RADAR_CDS_CLIENTS[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be an object")
        unknown = sorted(set(entry) - {"iss", "jwks_url"})
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: iss, jwks_url")
        for name in ("iss", "jwks_url"):
            value = entry.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where}.{name}: required (a non-empty string)")
            require_url(f"{where}.{name}", value)
        iss = normalize_iss(entry["iss"])
        if iss in seen:
            raise ConfigError(f"{where}.iss: {iss} is registered twice")
        seen.add(iss)
        clients.append(CdsClient(iss=iss, jwks_url=entry["jwks_url"].strip()))
    return clients
