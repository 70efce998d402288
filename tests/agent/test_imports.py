"""Imports flow one way in the agent too: no module imports another that (directly or not) imports it
back, `agent.diagnosis` never imports `agent.repairs` (repairs build on diagnosis), and the agent never
imports the server."""

from __future__ import annotations

from tests.server.test_imports import ROOT, _graph, _imports, _module


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    circles: list[list[str]] = []

    def visit(node: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt], on_path | {nxt}, done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], {start}, done)
    # A package's __init__ re-exporting its own modules is not a circle of logic.
    return [c for c in circles if not any(c[i + 1].startswith(c[i] + ".") for i in range(len(c) - 1))]


def test_no_import_circle_in_the_agent() -> None:
    assert _circles(_graph("agent")) == []


def test_diagnosis_does_not_import_repairs() -> None:
    offenders = {
        _module(p): sorted(m for m in _imports(p) if m.startswith("agent.repairs"))
        for p in (ROOT / "agent" / "diagnosis").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_agent_never_imports_the_server() -> None:
    offenders = {
        _module(p): sorted(m for m in _imports(p) if m == "server" or m.startswith("server."))
        for p in (ROOT / "agent").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
