"""``RADAR_BACKGROUND``: a site's own general-population background (``radar learn-background``).

Unset, the ranker uses the shipped background. Set, it names a gzip JSON file of the
``radar-background`` format; the file is read and checked here, once, so that a missing,
unreadable or foreign file stops the process at start-up (``radar check-config``, gunicorn)
with a message naming the setting, not a wrong probability later.
"""
from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from .parse import ConfigError, Env

NAME = "RADAR_BACKGROUND"
FORMAT = "radar-background"


@dataclass(frozen=True)
class SiteBackground:
    """A validated site background file: where it is and what it says about itself."""

    path: Path
    name: str
    records: int
    version: str


def site_background(env: Env) -> SiteBackground | None:
    """The site background ``RADAR_BACKGROUND`` names, checked; None when the setting is unset."""
    raw = (env.get(NAME) or "").strip()
    if not raw:
        return None
    path = Path(raw)
    data = read(path)
    return SiteBackground(path=path, name=str(data["name"]), records=data["records"], version=str(data["version"]))


def read(path: Path) -> dict:
    """The background file at ``path``, or a ``ConfigError`` saying why it cannot be used."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{NAME}: {path} does not exist (build it with `radar learn-background`)") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{NAME}: {path} is not a readable gzip file ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{NAME}: {path} is not valid JSON ({exc.msg})") from None
    problem = _problem(data)
    if problem:
        raise ConfigError(f"{NAME}: {path}: {problem}")
    return data


def _problem(data) -> str | None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return f'not a RaDaR background (expected "format": "{FORMAT}"; build it with `radar learn-background`)'
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        return "no name"
    records = data.get("records")
    if not isinstance(records, int) or isinstance(records, bool) or records < 1:
        return "records must be a positive whole number"
    counts = data.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(k, str) and k.startswith("HP:") and _count(v, records)
                                                 for k, v in counts.items()):
        return "counts must map HPO ids to whole numbers between 0 and records"
    pairs = data.get("pairs", {})
    if not isinstance(pairs, dict) or not all(isinstance(row, dict) and all(_count(v, records) for v in row.values())
                                              for row in pairs.values()):
        return "pairs must map HPO ids to {HPO id: whole number}"
    return None


def _count(value, records: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= records
