"""The diagnose and repair executors: thin calls into `agent.diagnosis` and `agent.repairs`.

A repair is detect → resolve → verify: the root cause before, the catalogue repair, the root cause after.
Its undo record is kept in the data directory so the user (or a later session) can take it back.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.diagnosis.config import load_settings
from agent.diagnosis.report import build_report
from agent.diagnosis.runner import diagnose
from agent.i18n import Lang
from agent.repairs import RepairError, apply
from agent.repairs.config import load_context
from protocol.actions import DiagnoseOutcome, RepairOutcome
from protocol.report import DiagnosisReport


async def run_diagnosis(
    lang: Lang, interface: str | None = None, config_path: Path | None = None, data_dir: Path | None = None
) -> DiagnosisReport:
    """`config_path` and `data_dir` are the agent's own (`AgentConfig.config_file`, `.data_dir`), so the
    `[diagnosis]` table comes from the file the agent itself was configured from."""
    settings = load_settings(config_path, overrides={"interface": interface}, data_dir=data_dir)
    _facts, diagnosis, duration_ms = await diagnose(settings)
    return build_report(diagnosis, lang, duration_ms)


async def diagnose_action(
    lang: Lang, interface: str | None, config_path: Path | None, data_dir: Path | None = None
) -> DiagnoseOutcome:
    return DiagnoseOutcome(report=await run_diagnosis(lang, interface, config_path, data_dir))


async def repair_action(
    repair_id: str,
    interface: str | None,
    lang: Lang,
    *,
    data_dir: Path,
    action_id: str,
    config_path: Path | None,
) -> RepairOutcome:
    """Diagnose, apply the repair, diagnose again. Raises RepairError for an unknown or unusable repair."""
    before = await run_diagnosis(lang, interface, config_path, data_dir)
    context = load_context(
        config_path,
        data_dir=data_dir,
        state_dir=data_dir / "repairs",
        interface=interface or before.interface,
    )
    result = await apply(repair_id, context)
    if result.status == "not_applicable":
        raise RepairError(result.detail or f"{repair_id} does not apply here")
    if result.undo is not None:
        undo_dir = data_dir / "repairs" / "undo"
        undo_dir.mkdir(parents=True, exist_ok=True)
        (undo_dir / f"{action_id}.json").write_text(json.dumps(result.undo.model_dump(mode="json")), "utf-8")
    after = await run_diagnosis(lang, interface, config_path, data_dir)
    fixed = result.ok and (before.root_cause is None or after.root_cause != before.root_cause)
    return RepairOutcome(
        repair=repair_id,
        applied=result.ok,
        fixed=fixed,
        root_cause_before=before.root_cause,
        root_cause_after=after.root_cause,
    )
