"""The package imports without cycles: any module can be the first one imported.

A cycle between modules makes the import order matter: whether a module imports depends
on which of the cycle was imported first and on where in each file the imports stand.
The static check reads every module's import-time imports (top level, class bodies and
the bodies of the module's functions it calls at top level; not other function bodies
nor ``if TYPE_CHECKING:``) and finds strongly connected groups; the dynamic check
imports the modules that once formed cycles, each alone in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from unifier.kinds import BUILTIN_KINDS
from unifier.triggers.graph import strongly_connected

ROOT = Path(__file__).resolve().parents[2]
# the installed layout: catalog/ and adapters/ are sub-packages of unifier
PACKAGE_DIRS = {"unifier": ROOT / "unifier", "unifier.catalog": ROOT / "catalog",
                "unifier.adapters": ROOT / "adapters"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if "migrations" in parts:  # alembic scripts, run by alembic, never imported
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _called_at_import(node: ast.stmt, functions: dict[str, ast.FunctionDef]) -> list[ast.stmt]:
    """The body of a module's own function called by a top-level statement
    (``_load_core_kinds()``): its imports run at import time too."""
    call = node.value if isinstance(node, ast.Expr) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in functions:
        return functions[call.func.id].body
    return []


def _import_time_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    functions = {n.name: n for n in body if isinstance(n, ast.FunctionDef)}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or _is_type_checking(node):
            continue
        out.append(node)
        out += _import_time_statements(_called_at_import(node, functions))
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                out += _import_time_statements([n for n in inner if isinstance(n, ast.stmt)]
                                               + [s for h in inner if isinstance(h, ast.ExceptHandler)
                                                  for s in h.body])
    return out


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules whose code runs when ``name`` is imported (its own parents excluded:
    they are already being imported when it runs)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _import_time_statements(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    own_parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    edges: set[str] = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b, a.b.c
            module = ".".join(parts[:i])
            if module in modules and module not in own_parents and module != name:
                edges.add(module)
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other (the trigger graph's own algorithm)."""
    return sorted(g for g in strongly_connected(sorted(graph), lambda m: graph.get(m, ())) if len(g) > 1)


def test_no_module_imports_itself_back():
    modules = _modules()
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_the_checker_finds_a_cycle():
    # the check itself: the shape that used to be in the code is reported
    graph = {"unifier.apply": {"unifier.triggers.store"}, "unifier.triggers.store": {"unifier.apply"},
             "unifier.kinds": set()}
    assert _cycles(graph) == [["unifier.apply", "unifier.triggers.store"]]


@pytest.mark.parametrize("module", [
    "unifier.kinds", "unifier.config.documents", "unifier.config", "unifier.triggers.spec",
    "unifier.triggers.store", "unifier.apply", "unifier.plan", "unifier.triggers.why",
    "unifier.triggers.graph_formats",
])
def test_module_imports_alone(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_builtin_kind_resolves_to_its_model_and_applier():
    names = [k.name for k in BUILTIN_KINDS]
    assert names[:2] == ["Instance", "Trigger"]  # apply order: instances first, triggers name their jobs
    assert len(set(names)) == len(names)
    for kind in BUILTIN_KINDS:
        assert kind.model.model_fields["kind"].annotation.__args__ == (kind.name,)
        assert kind.applier.kind == kind.name
