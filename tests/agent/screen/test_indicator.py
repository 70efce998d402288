"""How the indicator is started: `python -m` from a source tree, the binary's hidden sub-command when
frozen — and that hidden sub-command reaches the indicator's own entry point."""

from __future__ import annotations

import sys

import pytest

import agent.cli
from agent.screen import indicator


def test_the_source_tree_starts_the_module() -> None:
    assert indicator.command("张三", "zh-CN") == [
        sys.executable,
        "-m",
        "agent.screen.indicator",
        "张三",
        "zh-CN",
    ]


def test_a_frozen_binary_starts_itself_with_the_hidden_sub_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/rme/rme-agent")
    assert indicator.command("Ann", "en") == ["/opt/rme/rme-agent", "_screen-indicator", "Ann", "en"]


def test_hidden_sub_commands_dispatch_and_stay_out_of_the_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, str]] = []

    def window(name: str, lang: str) -> int:
        seen.append((name, lang))
        return 0

    monkeypatch.setattr(indicator, "_main", window)
    assert agent.cli.main(["_screen-indicator", "Ann", "en"]) == 0
    assert seen == [("Ann", "en")]
    assert agent.cli.main([]) == 2  # the bare program lists the commands
    assert "_screen" not in capsys.readouterr().out
