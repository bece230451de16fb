"""The shape of app/ that the data flow relies on, checked over the source (imports inside functions count).

Doors (app.smart, app.fetch, app.cds prefetch, files, bulk, screen sources) produce the record
(app.record); the middle (app.phenotype, app.case, app.rank, app.pipeline) reads it; outputs (the
chart, the CDS card, radar rank, the worklist and its report) each render the analysis and share
only app.present for numbers.
"""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in APP.rglob("*.py")}


def imported(name: str) -> set[str]:
    """Every module ``name`` imports (absolute names; ``from pkg import sub`` gives ``pkg.sub``)."""
    path = modules()[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            prefix = ".".join(base + ([node.module] if node.module else []))
            out.add(prefix)
            out.update(f"{prefix}.{a.name}" for a in node.names if f"{prefix}.{a.name}" in modules())
    return out


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_record_lives_in_the_middle_and_the_middle_imports_no_door():
    assert "app.record" in modules() and "app.fetch.record" not in modules()
    for name in modules():
        if any(under(name, p) for p in ("app.phenotype", "app.case", "app.rank", "app.pipeline", "app.record")):
            doors = {m for m in imported(name) if under(m, "app.fetch") or under(m, "app.smart")}
            assert not doors, f"{name} imports the door(s) {sorted(doors)}"


def test_rank_imports_neither_fetch_nor_phenotype():
    for name in modules():
        if under(name, "app.rank"):
            bad = {m for m in imported(name) if under(m, "app.fetch") or under(m, "app.phenotype")}
            assert not bad, f"{name} imports {sorted(bad)}"


OUTPUTS = {"chart": "app.ui", "card": "app.cds.card", "rank": "app.batch", "report": "app.screen.report",
           "worklist": "app.screen.worklist"}


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_outputs_do_not_import_each_other(output):
    own = OUTPUTS[output]
    others = [p for o, p in OUTPUTS.items() if o != output]
    for name in modules():
        if under(name, own):
            bad = {m for m in imported(name) if any(under(m, p) for p in others)}
            assert not bad, f"{name} imports the output module(s) {sorted(bad)}"


def test_one_probability_clamp():
    clamp = re.compile(r"min\(1(\.0)?, *max\(0(\.0)?,|max\(0(\.0)?, *min\(1(\.0)?,")
    found = sorted(str(p.relative_to(ROOT)) for p in APP.rglob("*.py") if clamp.search(p.read_text()))
    assert found == ["app/present.py"]


def test_the_bulk_client_does_not_import_smart():
    for name in modules():
        if under(name, "app.fetch"):
            assert not {m for m in imported(name) if under(m, "app.smart")}, name


def test_only_app_config_reads_radar_variables_from_the_environment():
    reads = re.compile(r"""(environ\b[^\n]*|getenv\([^\n]*)["']RADAR_""")
    sources = [*APP.rglob("*.py"), *(ROOT / "launch").glob("*.py")]
    found = sorted(str(p.relative_to(ROOT)) for p in sources
                   if reads.search(p.read_text()) and not p.is_relative_to(APP / "config"))
    assert found == []


def test_one_function_owns_a_cases_owner_and_its_submission():
    owner_key = re.compile(r"""\}\|\{[^}]*patient""")  # f"{iss}|{patient}"
    spelled = sorted(str(p.relative_to(ROOT)) for p in APP.rglob("*.py") if owner_key.search(p.read_text()))
    assert spelled == ["app/inference/jobs.py"]
    submits = sorted(str(p.relative_to(ROOT)) for p in APP.rglob("*.py") if "jobs.submit(" in p.read_text())
    assert submits == []


def test_no_module_uses_another_modules_private_names():
    found = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        app_aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                prefix = ".".join(base + ([node.module] if node.module else []))
                if not under(prefix, "app"):
                    continue
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        found.append(f"{name}: from {prefix} import {a.name}")
                    if f"{prefix}.{a.name}" in modules():
                        app_aliases.add(a.asname or a.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in app_aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{name}: {node.value.id}.{node.attr}")
    assert found == []
