"""requirements/lock.txt pins what pyproject.toml asks for: `make lock` was run after the last change."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)")


def canonical(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines) -> dict[str, str]:
    """name → version of every ``name==version`` line."""
    found = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def requirements() -> dict[str, str]:
    """What pyproject.toml pins: the runtime dependencies and the [test] and [screen] extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return pins([*project["dependencies"], *extras["test"], *extras.get("screen", [])])


def test_the_lock_pins_every_requirement_of_pyproject_at_its_version():
    wanted, locked = requirements(), pins(LOCK.read_text().splitlines())
    assert wanted, "pyproject.toml pins nothing?"
    assert {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version} == {}


def test_what_the_lock_says_pyproject_asked_for_pyproject_asks_for():
    """A dependency dropped from pyproject.toml leaves the lock with the next `make lock`."""
    asked, current = set(), None
    for line in LOCK.read_text().splitlines():
        pinned = pins([line])
        if pinned:
            current = next(iter(pinned))
        elif current and "radar-in-the-chart (pyproject.toml)" in line:
            asked.add(current)
    assert asked and asked - set(requirements()) == set()
