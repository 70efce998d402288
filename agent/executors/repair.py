"""The repair executor: detect → resolve → verify, with a catalogue repair.

The root cause before, the repair, the root cause after. Its undo record is kept in the data directory
so the user (or a later session) can take it back. The prompt's words, risk and undo come from the
catalogue, never from the engineer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.executors.base import ActionFailed, BaseExecutor, Done, Job, LangSource
from agent.executors.described import RISK_WORDS, Described
from agent.executors.diagnose import run_diagnosis
from agent.i18n import Lang, Text
from agent.repairs import RepairError, apply, get_spec
from agent.repairs.config import load_context
from protocol.actions import RepairOutcome, RepairParams

T_REPAIR_UNKNOWN = Text("未知的修复：{repair}", "Unknown repair: {repair}")
REPAIR_DONE = Text("修复{state}：{title}", "Repair {state}: {title}")
REPAIR_FIXED = Text("已解决问题", "fixed the problem")
REPAIR_NOT_FIXED = Text("已执行但问题仍在", "ran but the problem remains")


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
    before = await run_diagnosis(lang, interface, config_path)
    context = load_context(
        config_path, state_dir=data_dir / "repairs", interface=interface or before.interface
    )
    result = await apply(repair_id, context)
    if result.status == "not_applicable":
        raise RepairError(result.detail or f"{repair_id} does not apply here")
    if result.undo is not None:
        undo_dir = data_dir / "repairs" / "undo"
        undo_dir.mkdir(parents=True, exist_ok=True)
        (undo_dir / f"{action_id}.json").write_text(json.dumps(result.undo.model_dump(mode="json")), "utf-8")
    after = await run_diagnosis(lang, interface, config_path)
    fixed = result.ok and (before.root_cause is None or after.root_cause != before.root_cause)
    return RepairOutcome(
        repair=repair_id,
        applied=result.ok,
        fixed=fixed,
        root_cause_before=before.root_cause,
        root_cause_after=after.root_cause,
    )


class RepairExecutor(BaseExecutor):
    kind = "repair"

    def __init__(self, lang: LangSource, data_dir: Path) -> None:
        self.lang = lang
        self.data_dir = data_dir

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, RepairParams)
        try:
            spec = get_spec(params.repair)
        except RepairError:
            text = T_REPAIR_UNKNOWN.render(lang, repair=params.repair)
            return Described("repair", text, text, reason, RISK_WORDS["high"].render(lang), "high", "-")
        return Described(
            "repair",
            spec.title.render(lang),
            spec.description.render(lang),
            reason,
            f"{RISK_WORDS[spec.risk].render(lang)}: {spec.risk_note.render(lang)}",
            spec.risk,
            spec.undo.render(lang),
        )

    async def run(self, job: Job) -> Done:
        params = job.params
        assert isinstance(params, RepairParams)
        try:
            repaired = await repair_action(
                params.repair,
                params.interface,
                self.lang(),
                data_dir=self.data_dir,
                action_id=job.action_id,
                config_path=None,
            )
        except RepairError as exc:
            raise ActionFailed(str(exc)) from exc
        state = REPAIR_FIXED if repaired.fixed else REPAIR_NOT_FIXED
        title = self.describe(params, "", "zh-CN").title, self.describe(params, "", "en").title
        job.show(
            "result",
            Text(
                REPAIR_DONE.zh.format(state=state.zh, title=title[0]),
                REPAIR_DONE.en.format(state=state.en, title=title[1]),
            ),
        )
        return Done(repaired)
