"""What the user reads before consent: the command as it runs, the saved name, risk and undo, both
languages — each built by the executor of its kind."""

from __future__ import annotations

from pathlib import Path

from agent.actions.command import CommandLedger
from agent.executors.command import CommandExecutor
from agent.executors.diagnose import DiagnoseExecutor
from agent.executors.push import PushExecutor
from agent.executors.repair import RepairExecutor
from agent.i18n import Lang
from agent.inbox import Inbox
from agent.repairs import catalogue
from protocol.actions import CommandParams, DiagnoseParams, PushFileParams, RepairParams


def en() -> Lang:
    return "en"


def test_command_shown_verbatim(tmp_path: Path) -> None:
    command = 'ipconfig /all & echo "x"'
    executor = CommandExecutor(CommandLedger(tmp_path / "ledger.json"), lambda _text: False)
    langs: tuple[Lang, ...] = ("zh-CN", "en")
    for lang in langs:
        shown = executor.describe(CommandParams(command=command, timeout_s=30), "because", lang)
        assert shown.verbatim == command and shown.length == len(command) and shown.warnings == ()
        assert "30" in shown.what and shown.risk_level == "high" and shown.why == "because"


def test_push_shows_the_sanitised_name(tmp_path: Path) -> None:
    executor = PushExecutor(Inbox(tmp_path / "inbox", 1 << 30), lambda _text: False, 60.0)
    shown = executor.describe(PushFileParams(name="../../etc/x", size=2048, sha256="a" * 64), "", "en")
    assert "_._etc_x" in shown.what and "2.0 KB" in shown.what


def test_repair_shows_risk_and_undo_from_the_catalogue(tmp_path: Path) -> None:
    spec = catalogue()[0]
    executor = RepairExecutor(en, tmp_path)
    zh = executor.describe(RepairParams(repair=spec.id), "", "zh-CN")
    shown = executor.describe(RepairParams(repair=spec.id), "", "en")
    assert zh.title == spec.title.zh and shown.title == spec.title.en
    assert spec.undo.en == shown.undo and spec.risk_note.en in shown.risk and shown.risk_level == spec.risk


def test_unknown_repair_and_diagnose(tmp_path: Path) -> None:
    assert (
        RepairExecutor(en, tmp_path).describe(RepairParams(repair="no.such"), "", "en").risk_level == "high"
    )
    assert DiagnoseExecutor(en).describe(DiagnoseParams(), "", "en").risk_level == "none"
