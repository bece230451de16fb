"""Liveness and readiness endpoints for probes."""
from __future__ import annotations

from flask import Blueprint
from redis.exceptions import RedisError

from . import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: Redis answers (sessions and jobs live there)."""
    try:
        services.current().store.ping()
    except RedisError:
        return {"status": "unavailable", "redis": "down"}, 503
    return {"status": "ok", "redis": "up"}
