"""Where the audit trail is kept beyond Redis (``RADAR_AUDIT_SINK``) and how long the Redis stream may grow.

Audit events are written to a Redis stream first; an exporter moves them, in stream order, to the
sink and only then may they be trimmed from the stream. ``RADAR_AUDIT_STREAM_MAX`` is how many
already-exported events the stream keeps for ``radar audit export``; events not yet exported are never
trimmed, however many there are.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .parse import ConfigError, Env, integer

SINKS = ("file", "stdout", "none")
DEFAULT_FILE = "audit.jsonl"  # under RADAR_DATA_DIR when RADAR_AUDIT_SINK is unset
STREAM_MAX = 1_000_000


@dataclass(frozen=True)
class AuditSettings:
    """``sink``: file (append-only JSON lines at ``path``), stdout (one JSON line per event, for the
    cluster's log pipeline) or none (the Redis stream alone, never trimmed)."""

    sink: str = "none"
    path: Path | None = None
    stream_max: int = STREAM_MAX

    def __post_init__(self):
        if self.sink not in SINKS:
            raise ValueError(f"AuditSettings.sink must be one of {', '.join(SINKS)}")
        if (self.sink == "file") != (self.path is not None):
            raise ValueError("AuditSettings.path is required for the file sink, and only for it")

    @property
    def exports(self) -> bool:
        """True when events are moved to a sink (and so may be trimmed from Redis once there)."""
        return self.sink != "none"

    @classmethod
    def from_env(cls, env: Env, data_dir: Path) -> AuditSettings:
        """``RADAR_AUDIT_SINK`` (``file:/path`` | ``stdout`` | ``none``; unset: a file under ``data_dir``)
        and ``RADAR_AUDIT_STREAM_MAX``."""
        raw = (env.get("RADAR_AUDIT_SINK") or "").strip()
        stream_max = integer(env, "RADAR_AUDIT_STREAM_MAX", STREAM_MAX, 1, 1 << 40)
        if not raw:
            return cls("file", data_dir / DEFAULT_FILE, stream_max)
        kind, colon, target = raw.partition(":")
        if kind == "file" and colon:
            if not target.strip():
                raise ConfigError("RADAR_AUDIT_SINK: file: needs a path, e.g. file:/var/lib/radar/audit/audit.jsonl")
            path = Path(target.strip())
            if path.exists() and path.is_dir():
                raise ConfigError(f"RADAR_AUDIT_SINK: {path} is a directory; name the file to append to")
            return cls("file", path, stream_max)
        if raw in ("stdout", "none"):
            return cls(raw, None, stream_max)
        raise ConfigError(f"RADAR_AUDIT_SINK: {raw!r} is not file:/path, stdout or none")
