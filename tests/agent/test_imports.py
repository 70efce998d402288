"""Imports flow one way in the agent too: no module imports another that (directly or not) imports it
back, `agent.diagnosis` never imports `agent.repairs` (repairs build on diagnosis), and the agent never
imports the server."""

from __future__ import annotations

from tests.server.test_imports import ROOT, _graph, _imports, _module, circles


def test_no_import_circle_in_the_agent() -> None:
    assert circles(_graph("agent")) == []


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
