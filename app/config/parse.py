"""Small validated-value helpers shared by every settings module.

Each helper reads one setting and raises ``ConfigError`` naming it and the reason, so a
misconfigured pod fails fast with a message an admin can act on.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

Env = Mapping[str, str]


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the setting and why."""


def normalize_iss(iss: str) -> str:
    """Canonical form of an ``iss`` for registry look-ups: no trailing slash."""
    return iss.strip().rstrip("/")


def json_list(name: str, raw: str, what: str) -> list:
    """Parse a setting that holds a JSON list; errors name the setting."""
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(entries, list):
        raise ConfigError(f"{name}: must be a JSON list of {what}")
    return entries


def require_url(name: str, value: str) -> None:
    """Raise ``ConfigError`` unless ``value`` is an absolute http(s) URL."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: {value!r} is not an absolute http(s) URL")


def positive_int(env: Env, name: str, default: int) -> int:
    """Setting ``name`` as a whole number greater than zero; ``default`` when unset or empty."""
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


def probability(env: Env, name: str, default: float) -> float:
    """Setting ``name`` as a probability in (0, 1]; ``default`` when unset or blank."""
    return number(env, name, default, 0.0, 1.0, low_open=True,
                  meaning="a probability above 0 and at most 1 (0.5 = 50%)")


def integer(env: Env, name: str, default: int, low: int, high: int) -> int:
    """Setting ``name`` as a whole number in ``[low, high]``; ``default`` when unset or blank."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: {raw} is out of range ({low} to {high})")
    return value


def number(env: Env, name: str, default: float, low: float, high: float, *, low_open: bool = False,
           meaning: str | None = None) -> float:
    """Setting ``name`` as a number in ``[low, high]`` (``(low, high]`` when ``low_open``); ``meaning``
    words the range in the error ("a probability above 0 and at most 1"). NaN is out of every range."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a number") from None
    if not low <= value <= high or (low_open and value == low):  # False for NaN as well
        if meaning:
            raise ConfigError(f"{name}: must be {meaning}")
        bound = f"more than {low}" if low_open else f"at least {low}"
        raise ConfigError(f"{name}: {raw} is out of range (must be {bound} and at most {high})")
    return value


def boolean(env: Env, name: str, default: bool) -> bool:
    """Setting ``name`` as a boolean (1/0, true/false, yes/no, on/off); ``default`` when unset."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not true or false")


def one_of(env: Env, name: str, default: str, allowed: tuple[str, ...]) -> str:
    """Setting ``name`` as one of ``allowed`` (compared upper-case); ``default`` when unset or blank."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if raw.upper() not in allowed:
        raise ConfigError(f"{name}: {raw!r} is not one of {', '.join(allowed)}")
    return raw.upper()
