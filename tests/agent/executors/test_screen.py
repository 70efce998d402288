"""The screen executors on their own: plain words in both languages, and the refusal of a build that
cannot share the screen (the user is never asked then)."""

from __future__ import annotations

import importlib.util

import pytest

from agent.executors.screen import ScreenControlExecutor, ScreenViewExecutor
from protocol.actions import ScreenControlParams, ScreenViewParams


def test_the_view_and_control_are_described_in_both_languages() -> None:
    view = ScreenViewExecutor(lambda: "en")
    control = ScreenControlExecutor(view)
    en = view.describe(ScreenViewParams(monitor=1), "to see the error", "en")
    zh = view.describe(ScreenViewParams(monitor=1), "to see the error", "zh-CN")
    assert "monitor 2" in en.what and "Stop" in en.what and en.risk_level == "medium"
    assert "第 2 个显示器" in zh.what and "停止" in zh.what
    c = control.describe(ScreenControlParams(view="v1"), "", "en")
    assert c.risk_level == "high" and "pauses" in c.what


def test_an_agent_without_the_screen_parts_refuses_before_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    view = ScreenViewExecutor(lambda: "en")
    control = ScreenControlExecutor(view)
    assert view.refusal(ScreenViewParams()) is None  # this tree has mss and Pillow
    assert control.refusal(ScreenControlParams(view="v1")) is None  # and python-xlib
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    refused = view.refusal(ScreenViewParams())
    assert refused is not None and "cannot share the screen" in refused.en
    assert control.refusal(ScreenControlParams(view="v1")) is not None
