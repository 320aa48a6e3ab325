"""No import cycles inside the ``assistant`` package.

The package's source is walked (parsed, not imported) for every ``import`` of one of its own
modules. Two graphs are checked:

- **module-level imports** (run when the module loads, ``if TYPE_CHECKING:`` blocks excepted, as
  they never run): a cycle here is a real import-order hazard;
- **module-level plus function-level imports**: an import inside a function is a dependency
  deferred (usually to keep a heavy library off the ``--help`` path), not removed, and a cycle
  through one is a cycle the import system does not see only because of the deferral (the
  retrieval <-> answering tangle of issue 18). The one exception is a package ``__init__``'s
  module ``__getattr__``: a lazy re-export of the public face, which no module of the package
  depends on through it.

Edges to a parent package that Python executes implicitly (importing ``assistant.ui.app`` runs
``assistant/ui/__init__.py``) are not counted: only the import statements written.
"""

from __future__ import annotations

import ast
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import assistant

PACKAGE_DIR = Path(assistant.__file__).parent


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``where`` (file:line), at module level or in a function."""

    source: str
    target: str
    where: str
    in_function: bool


def package_modules(root: Path, name: str) -> dict[str, Path]:
    """Every module of the package at ``root`` (named ``name``) and its file, found on disk."""
    out = {name: root / "__init__.py"}
    for info in pkgutil.iter_modules([str(root)]):
        full = f"{name}.{info.name}"
        if info.ispkg:
            out.update(package_modules(root / info.name, full))
        else:
            out[full] = root / f"{info.name}.py"
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module an imported name belongs to (its longest prefix that is a module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_edges(modules: dict[str, Path], relative_to: Path) -> list[Edge]:
    """Every import of a package module by a package module (see the module docstring)."""
    return [e for module, path in modules.items() for e in _module_edges(module, path, modules, relative_to)]


def _module_edges(module: str, path: Path, modules: dict[str, Path], relative_to: Path) -> list[Edge]:
    is_init = path.name == "__init__.py"
    package = module if is_init else module.rpartition(".")[0]
    where = path.relative_to(relative_to).as_posix()
    edges: list[Edge] = []

    def add(target: str | None, node: ast.stmt, in_function: bool) -> None:
        if target is not None and target != module:
            edges.append(Edge(module, target, f"{where}:{node.lineno}", in_function))

    def visit(node: ast.AST, in_function: bool, lazy_init: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit(stmt, in_function, lazy_init)
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                name = getattr(child, "name", "")
                visit(child, True, lazy_init or (is_init and not in_function and name == "__getattr__"))
                continue
            if lazy_init:
                pass
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    add(_resolve(alias.name, modules), child, in_function)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parent = ".".join(parts[: len(parts) - child.level + 1])
                    base = f"{parent}.{base}" if base else parent
                for alias in child.names:
                    add(_resolve(f"{base}.{alias.name}", modules), child, in_function)
            visit(child, in_function, lazy_init)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False, False)
    return edges


def find_cycles(edges: list[Edge]) -> list[list[Edge]]:
    """One cycle (as its edges) per strongly connected group of modules that import each other."""
    graph: dict[str, dict[str, Edge]] = {}
    for e in edges:
        graph.setdefault(e.source, {}).setdefault(e.target, e)
        graph.setdefault(e.target, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    cycles = []
    for group in groups:
        start = min(group)
        # shortest path back to ``start`` inside the group (breadth first)
        paths: dict[str, list[Edge]] = {start: []}
        queue = [start]
        found: list[Edge] | None = None
        while queue and found is None:
            v = queue.pop(0)
            for w, e in sorted(graph[v].items()):
                if w == start:
                    found = [*paths[v], e]
                    break
                if w in group and w not in paths:
                    paths[w] = [*paths[v], e]
                    queue.append(w)
        assert found is not None
        cycles.append(found)
    return cycles


def _describe(cycle: list[Edge]) -> str:
    steps = " -> ".join(f"{e.target} ({e.where}{', in a function' if e.in_function else ''})" for e in cycle)
    return f"{cycle[0].source} -> {steps}"


def _edges() -> list[Edge]:
    return import_edges(package_modules(PACKAGE_DIR, "assistant"), PACKAGE_DIR.parent)


def test_the_walk_sees_the_package() -> None:
    """The walk finds the modules and both kinds of import (else the checks below prove nothing)."""
    modules = package_modules(PACKAGE_DIR, "assistant")
    assert {"assistant", "assistant.api", "assistant.ingest", "assistant.ui.app"} <= set(modules)
    edges = _edges()
    assert any(
        e.source == "assistant.ingest" and e.target == "assistant.store" and not e.in_function for e in edges
    )
    assert any(
        e.source == "assistant.api" and e.target == "assistant.ingest" and e.in_function for e in edges
    )


def test_no_import_cycle_at_module_level() -> None:
    cycles = find_cycles([e for e in _edges() if not e.in_function])
    assert not cycles, "module-level import cycles:\n" + "\n".join(map(_describe, cycles))


def test_no_import_cycle_through_function_level_imports() -> None:
    cycles = find_cycles(_edges())
    assert not cycles, (
        "import cycles once function-level imports count (a deferred import hides the cycle, it "
        "does not remove it; move the shared part to a module both can import, e.g. types.py):\n"
        + "\n".join(map(_describe, cycles))
    )


def _made_up_package(root: Path, b_source: str) -> list[Edge]:
    """``zorb``: ``a`` imports ``sub.b`` and the package; the package re-exports ``a`` lazily
    (module ``__getattr__``) and names ``sub.b`` for type checkers only; ``b`` is ``b_source``."""
    pkg = root / "zorb"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zorb.sub import b\n"
        "def __getattr__(name):\n    from zorb import a\n    return a\n"
    )
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import zorb\nfrom zorb.sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text(b_source)
    return import_edges(package_modules(pkg, "zorb"), root)


def test_a_made_up_module_level_cycle_is_found(tmp_path: Path) -> None:
    edges = _made_up_package(tmp_path, "import os\nfrom zorb import a\nthing = 1\n")
    assert [_describe(c) for c in find_cycles([e for e in edges if not e.in_function])] == [
        "zorb.a -> zorb.sub.b (zorb/a.py:2) -> zorb.a (zorb/sub/b.py:2)"
    ]


def test_a_made_up_deferred_cycle_counts_but_a_lazy_re_export_does_not(tmp_path: Path) -> None:
    edges = _made_up_package(tmp_path, "thing = 1\ndef f():\n    from ..a import x\n")
    assert find_cycles([e for e in edges if not e.in_function]) == []
    assert [_describe(c) for c in find_cycles(edges)] == [
        "zorb.a -> zorb.sub.b (zorb/a.py:2) -> zorb.a (zorb/sub/b.py:3, in a function)"
    ]
    assert not any(e.source == "zorb" for e in edges), "TYPE_CHECKING and __getattr__ imports are no edges"
    assert any(e.source == "zorb.a" and e.target == "zorb" for e in edges)
