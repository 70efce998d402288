"""Imports flow one way: nothing under `server/` imports `agent/`, and no module of the server imports
another that (directly or not) imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file — type-checking-only imports too: a
    circle that only the type checker sees is still two modules that each need the other."""
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    modules = {_module(p): p for p in (ROOT / package).rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_server_never_imports_the_agent() -> None:
    offenders = {
        _module(p): sorted(m for m in _imports(p) if m == "agent" or m.startswith("agent."))
        for p in (ROOT / "server").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle in `graph` (module → modules it imports), as the list of modules around it."""
    found: list[list[str]] = []

    def visit(node: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt], on_path | {nxt}, done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], {start}, done)
    # A package's __init__ re-exporting its own modules is not a circle of logic.
    return [c for c in found if not any(c[i + 1].startswith(c[i] + ".") for i in range(len(c) - 1))]


def test_no_import_circle_in_the_server() -> None:
    assert circles(_graph("server")) == []
