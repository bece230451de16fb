"""SMART scopes (v1 and v2) as data: parse a granted scope string, answer "may this token do that?"."""
from __future__ import annotations

import re
from dataclasses import dataclass

_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}
_V2 = re.compile(r"^c?r?u?d?s?$")
_ORDER = "cruds"
_RESOURCE_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([A-Za-z*]+)$")


@dataclass(frozen=True)
class ResourceScope:
    """One resource scope: ``context/Type.perms`` with the permissions as letters (c r u d s)."""

    context: str
    resource: str
    perms: frozenset[str]


def parse_resource_scope(scope: str) -> ResourceScope | None:
    """Parse one SMART resource scope; return None for launch/identity scopes, granular
    (``?category=…``) scopes and malformed or out-of-order v2 suffixes, which grant nothing here."""
    match = _RESOURCE_SCOPE.match(scope)
    if not match:
        return None
    context, resource, suffix = match.groups()
    if suffix in _V1:
        return ResourceScope(context, resource, _V1[suffix])
    if suffix and _V2.match(suffix):
        return ResourceScope(context, resource, frozenset(suffix))
    return None


def resource_scopes(scope: str) -> list[ResourceScope]:
    """All resource scopes in a space-separated scope string."""
    parsed = (parse_resource_scope(s) for s in scope.split())
    return [s for s in parsed if s is not None]


def access(scope: str, resource: str, perm: str) -> str | None:
    """How a token with ``scope`` may use ``perm`` (``r`` read, ``s`` search) on ``resource``:
    ``"user"`` (any patient), ``"patient"`` (its own patient only) or None (not allowed)."""
    contexts = {s.context for s in resource_scopes(scope)
                if s.resource in (resource, "*") and perm in s.perms}
    if "user" in contexts or "system" in contexts:
        return "user"
    if "patient" in contexts:
        return "patient"
    return None


def is_v1(scope: str) -> bool:
    """True for a SMART v1 spelling (``.read``, ``.write``, ``.*``)."""
    match = _RESOURCE_SCOPE.match(scope)
    return bool(match) and match.group(3) in _V1


def system_allows(scope: str, resource: str, perms: str) -> bool:
    """True when the ``system/`` scopes in ``scope`` grant every permission in ``perms`` on ``resource``."""
    granted: set[str] = set()
    for s in resource_scopes(scope):
        if s.context == "system" and s.resource in (resource, "*"):
            granted |= s.perms
    return set(perms) <= granted


def grant_system(requested: str, registered: str, v1_only: bool) -> str:
    """The ``system/`` scopes to grant: each requested one, as far as the registration covers it.
    With ``v1_only`` (the Cerner-like flavour) v2 spellings are not recognised and a v1 scope is
    granted only when fully covered; otherwise a partly covered scope is granted as the v2 scope
    of the covered permissions (``system/Binary.read`` against ``system/Binary.r`` gives
    ``system/Binary.r``). Other scopes (``patient/``, ``launch``…) are never granted here."""
    registrations = [s for s in resource_scopes(registered) if s.context == "system"]
    granted = []
    for text in requested.split():
        wanted = parse_resource_scope(text)
        if wanted is None or wanted.context != "system" or (v1_only and not is_v1(text)):
            continue
        covered = set()
        for reg in registrations:
            if reg.resource in (wanted.resource, "*"):
                covered |= reg.perms & wanted.perms
        if covered == wanted.perms:
            granted.append(text)
        elif covered and not v1_only:
            granted.append(f"system/{wanted.resource}.{''.join(p for p in _ORDER if p in covered)}")
    return " ".join(dict.fromkeys(granted))
