"""SMART scopes (v1 and v2) as data: parse a granted scope string, answer "may this token do that?"."""
from __future__ import annotations

import re
from dataclasses import dataclass

_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}
_V2 = re.compile(r"^c?r?u?d?s?$")
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
