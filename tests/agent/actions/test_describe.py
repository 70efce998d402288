"""What the user reads before consent: the command verbatim, the saved name, risk and undo, both languages."""

from __future__ import annotations

from agent.actions.describe import describe
from agent.repairs import catalogue
from protocol.actions import CommandParams, DiagnoseParams, PushFileParams, RepairParams
from protocol.messages import ActionRequestBody


def body(action: object, reason: str = "because") -> ActionRequestBody:
    return ActionRequestBody(action_id="a1", action=action, reason=reason)  # type: ignore[arg-type]


def test_command_shown_verbatim() -> None:
    command = 'ipconfig /all & echo "x"'
    for lang in ("zh-CN", "en"):
        shown = describe(body(CommandParams(command=command, timeout_s=30)), lang)
        assert shown.verbatim == command
        assert "30" in shown.what and shown.risk_level == "high" and shown.why == "because"


def test_push_shows_the_sanitised_name() -> None:
    shown = describe(body(PushFileParams(name="../../etc/x", size=2048, sha256="a" * 64)), "en")
    assert "_._etc_x" in shown.what and "2.0 KB" in shown.what


def test_repair_shows_risk_and_undo_from_the_catalogue() -> None:
    spec = catalogue()[0]
    zh = describe(body(RepairParams(repair=spec.id)), "zh-CN")
    en = describe(body(RepairParams(repair=spec.id)), "en")
    assert zh.title == spec.title.zh and en.title == spec.title.en
    assert spec.undo.en == en.undo and spec.risk_note.en in en.risk and en.risk_level == spec.risk


def test_unknown_repair_and_diagnose() -> None:
    assert describe(body(RepairParams(repair="no.such")), "en").risk_level == "high"
    assert describe(body(DiagnoseParams()), "en").risk_level == "none"
