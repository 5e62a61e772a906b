"""The house has no back doors: the base app imports nothing above it, and no module of the lab
or the base app reaches back into a module that reaches it (no import cycles).

Imports are read from the source (``ast``), lazy ones inside functions included: a cycle hidden in
a function is still a cycle. Imports under ``if TYPE_CHECKING:`` are left out (they never run).
Importing a package's ``__init__`` from inside it is not counted (Python runs it first anyway).
"""
from __future__ import annotations

import ast
from pathlib import Path

import netlearn

ROOT = Path(netlearn.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    return skipped


def imports_of(name: str) -> set[str]:
    """Every netlearn module ``name`` imports (resolved to the module, not the package, where it can)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = name if name in PACKAGES else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    own_packages = {name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)}
    return {m for m in found if m in MODULES and m != name and m not in own_packages}


def cycles(names: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {n: imports_of(n) & names for n in names}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_base_app_imports_nothing_built_on_it() -> None:
    core = {n for n in MODULES if n.startswith("netlearn.core")}
    reaching_up = {n: sorted(m for m in imports_of(n) if not m.startswith("netlearn.core")) for n in core}
    assert {n: m for n, m in reaching_up.items() if m} == {}


def test_the_lab_has_no_import_cycles() -> None:
    assert cycles({n for n in MODULES if n.startswith("netlearn.lab")}) == []


def test_the_analysis_sees_lazy_imports() -> None:
    """The walker imports its TLS code inside a function: the graph must still have that edge."""
    assert "netlearn.lab.walker.secure" in imports_of("netlearn.lab.runner")
