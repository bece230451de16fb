"""The test tree's own rules: a test module is never imported (shared helpers live in
``tests/support`` or a helper module beside the tests), and a conftest holds fixtures only."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
HOOK_PREFIX = "pytest_"


def module_name(path: Path) -> str:
    """``tests/ui/test_chart.py`` → ``tests.ui.test_chart`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package a module of this tree is in (a package's ``__init__``: the package itself)."""
    return module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]


def imported(path: Path, package: str) -> set[str]:
    """Every module name an import in ``path`` may mean (``from a import b``: ``a`` and ``a.b``);
    relative imports are read from ``package``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    """Whether ``name`` is a test module or a conftest of this tree (a file, not a function in one)."""
    if not name.startswith("tests."):
        return False
    last = name.rpartition(".")[2]
    path = ROOT.joinpath(*name.split(".")).with_suffix(".py")
    return (last.startswith(("test_", "bench_")) or last == "conftest") and path.is_file()


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_imports_a_test_module_or_a_conftest():
    offenders = {str(path.relative_to(ROOT)): sorted(n for n in imported(path, package_of(path)) if is_test_module(n))
                 for path in python_files()}
    assert {path: names for path, names in offenders.items() if names} == {}


@pytest.mark.parametrize("path", sorted(TESTS.rglob("conftest.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_conftest_holds_fixtures_and_hooks_only(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    plain = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
             and not node.name.startswith(HOOK_PREFIX)
             and not any("fixture" in ast.unparse(d) for d in getattr(node, "decorator_list", []))]
    assert plain == [], f"{path.relative_to(ROOT)}: move {plain} to tests/support"


def test_the_checks_see_the_imports_they_forbid(tmp_path):
    """The two forms that slipped in before: a sibling's helpers (relative) and a conftest (absolute)."""
    assert is_test_module("tests.ui.test_signal_panel") and is_test_module("tests.conftest")
    assert not is_test_module("tests.support.stack") and not is_test_module("tests.servers")
    probe = tmp_path / "test_probe.py"
    probe.write_text("from .test_signal_panel import render\nfrom tests import conftest\n")
    assert {"tests.ui.test_signal_panel", "tests.conftest"} <= imported(probe, "tests.ui")
