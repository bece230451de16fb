"""The shape of the tree beyond app/ (which ``../shared/tools/arch_check.py`` walks): the development
package dev/ holds the same rules (no import circle, function-level imports included; no module over
400 lines that are not blank or comments), the product never imports dev/, and only the Spark job
imports PySpark, inside its functions, so the app runs without the ``screen`` extra."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
SPARK = ("pyspark", "py4j")
SPARK_MODULES = {"app.screen.spark", "app.screen.learn"}


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (a folder under ``root``) by dotted name; a package by its own name."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imported(name: str, path: Path, tree: ast.AST, known: dict[str, Path]) -> list[tuple[str, ast.stmt]]:
    """(the module each import statement names, the statement), anywhere in the file; ``from pkg import x``
    names ``pkg.x`` when that is a module, else ``pkg``, as arch_check resolves it."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found += [(f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix, node) for a in node.names]
    return found


def graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules of the same tree it imports (at any level of the file)."""
    edges = {}
    for name, path in known.items():
        out = set()
        for target, _ in imported(name, path, ast.parse(path.read_text(encoding="utf-8")), known):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
        edges[name] = out
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def size(path: Path) -> int:
    """Lines that are neither blank nor comments."""
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.strip().startswith("#"))


def problems(root: Path, package: str) -> list[str]:
    """What breaks the rules in ``package``: its import circles and its modules over MAX_LINES."""
    known = modules(root, package)
    found = [f"import circle {c}" for c in circles(graph(known))]
    return found + [f"{name}: {size(path)} lines" for name, path in known.items() if size(path) > MAX_LINES]


def test_the_development_package_has_no_import_circle_and_no_module_over_400_lines():
    assert modules(ROOT, "dev"), "dev/ not found"
    assert problems(ROOT, "dev") == []


def test_the_check_sees_a_circle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    (pkg / "big.py").write_text("x = 1\n# a comment\n\n" * (MAX_LINES + 1))
    assert problems(tmp_path, "pkg") == ["import circle ['pkg.a', 'pkg.b']", f"pkg.big: {MAX_LINES + 1} lines"]


def test_the_product_never_imports_the_development_package():
    known = modules(ROOT, "app")
    leaks = [f"{name}:{node.lineno} {target}" for name, path in known.items()
             for target, node in imported(name, path, ast.parse(path.read_text(encoding="utf-8")), known)
             if target == "dev" or target.startswith("dev.")]
    assert leaks == []


def test_only_the_spark_job_imports_pyspark_and_only_inside_its_functions():
    known = modules(ROOT, "app")
    seen = set()
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_functions = {id(node) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for node in ast.walk(f)}
        for target, node in imported(name, path, tree, known):
            if target.split(".")[0] in SPARK:
                seen.add(name)
                assert name in SPARK_MODULES, f"{name}:{node.lineno} imports {target}"
                assert id(node) in in_functions, f"{name}:{node.lineno} imports {target} when the module loads"
    assert seen == SPARK_MODULES
