"""Limits of the Bulk Data client (``RADAR_BULK_*``): what an EHR's export may send and how long it may take.

A broken or hostile server could otherwise fill the disk (an endless file, a gzip bomb), hold a
worker for hours (a slow drip, ``Retry-After: 99999``) or be polled without pause (``429`` with
``Retry-After: 0``). The defaults suit an export of a Group of about a thousand patients.
"""
from __future__ import annotations

from dataclasses import dataclass

from .parse import ConfigError, Env, integer, number

MIB = 1 << 20

# The setting behind each limit, so that a message about a limit hit says what to raise.
SETTING = {
    "file_bytes": "RADAR_BULK_MAX_FILE_MB",
    "export_bytes": "RADAR_BULK_MAX_EXPORT_MB",
    "line_bytes": "RADAR_BULK_MAX_LINE_MB",
    "binary_bytes": "RADAR_BULK_MAX_BINARY_MB",
    "read_timeout": "RADAR_BULK_READ_TIMEOUT",
    "deadline": "RADAR_BULK_DEADLINE",
    "min_backoff": "RADAR_BULK_MIN_BACKOFF",
    "max_backoff": "RADAR_BULK_MAX_BACKOFF",
}


@dataclass(frozen=True)
class BulkLimits:
    """Caps on one export: bytes after decompression, time, and the waits between tries."""

    file_bytes: int = 4096 * MIB  # one output or error file
    export_bytes: int = 32768 * MIB  # every file and Binary of one export together
    line_bytes: int = 32 * MIB  # one NDJSON line (one resource)
    binary_bytes: int = 20 * MIB  # one note attachment (Binary) read from the FHIR API
    read_timeout: float = 60.0  # seconds without a byte from the EHR
    deadline: float = 6 * 3600.0  # seconds for one run of the export, polling and downloads included
    min_backoff: float = 1.0  # seconds: the shortest wait before a retry or the next status poll
    max_backoff: float = 1800.0  # seconds: the longest, whatever Retry-After asks (Epic advises 10-30 min polls)

    def __post_init__(self):
        for name in SETTING:
            if not getattr(self, name) > 0:
                raise ValueError(f"BulkLimits.{name} must be greater than zero")
        if self.min_backoff > self.max_backoff:
            raise ValueError("BulkLimits.min_backoff must not exceed max_backoff")

    @classmethod
    def from_env(cls, env: Env) -> BulkLimits:
        """The limits from ``RADAR_BULK_*`` (sizes in MiB, times in seconds); defaults where unset."""
        d = cls()
        limits = dict(
            file_bytes=integer(env, SETTING["file_bytes"], d.file_bytes // MIB, 1, 1 << 30) * MIB,
            export_bytes=integer(env, SETTING["export_bytes"], d.export_bytes // MIB, 1, 1 << 30) * MIB,
            line_bytes=integer(env, SETTING["line_bytes"], d.line_bytes // MIB, 1, 1 << 20) * MIB,
            binary_bytes=integer(env, SETTING["binary_bytes"], d.binary_bytes // MIB, 1, 1 << 20) * MIB,
            read_timeout=number(env, SETTING["read_timeout"], d.read_timeout, 0, 86400, low_open=True),
            deadline=number(env, SETTING["deadline"], d.deadline, 0, 30 * 86400, low_open=True),
            min_backoff=number(env, SETTING["min_backoff"], d.min_backoff, 0, 86400, low_open=True),
            max_backoff=number(env, SETTING["max_backoff"], d.max_backoff, 0, 86400, low_open=True),
        )
        if limits["min_backoff"] > limits["max_backoff"]:
            raise ConfigError(f"{SETTING['min_backoff']}: {limits['min_backoff']:g} s is more than "
                              f"{SETTING['max_backoff']} ({limits['max_backoff']:g} s)")
        return cls(**limits)
