"""The diagnose executor: the same diagnosis `rme-agent diagnose` runs, its report sent to the engineer.

It only reads network settings; its report is network facts (the structured result flows to the
engineer as it comes, as the user was told before allowing it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.diagnosis.config import load_settings
from agent.diagnosis.report import build_report, headline
from agent.diagnosis.rules import Diagnosis
from agent.diagnosis.runner import diagnose
from agent.executors.base import BaseExecutor, Done, Job, LangSource
from agent.executors.described import T_NO_RISK, T_NOTHING_TO_UNDO, Described
from agent.i18n import Lang, Text
from protocol.actions import DiagnoseOutcome, DiagnoseParams
from protocol.report import DiagnosisReport

T_DIAGNOSE = Text("检查网络", "Check the network")
T_DIAGNOSE_WHAT = Text(
    "检查网卡、地址、网关、DNS 和互联网连接。只读取网络设置，不改变任何东西。",
    "Check the adapter, address, gateway, DNS and internet connection. It only reads "
    "network settings and changes nothing.",
)
DIAGNOSIS_DONE = Text("检查完成：{verdict}", "Check finished: {verdict}")


async def run_diagnosis(
    lang: Lang, interface: str | None = None, config_path: Path | None = None, data_dir: Path | None = None
) -> DiagnosisReport:
    """`config_path` and `data_dir` are the agent's own (`AgentConfig.config_file`, `.data_dir`), so the
    `[diagnosis]` table comes from the file the agent itself was configured from."""
    diagnosis, duration_ms = await _judged(interface, config_path, data_dir)
    return build_report(diagnosis, lang, duration_ms)


async def run_diagnosis_in_words(
    lang: Lang, config_path: Path | None = None, data_dir: Path | None = None
) -> tuple[DiagnosisReport, dict[Lang, str]]:
    """`run_diagnosis`, plus its one-line headline in every language (`report.headline`)."""
    diagnosis, duration_ms = await _judged(None, config_path, data_dir)
    words: dict[Lang, str] = {one: headline(diagnosis, one) for one in ("zh-CN", "en")}
    return build_report(diagnosis, lang, duration_ms), words


async def _judged(
    interface: str | None, config_path: Path | None, data_dir: Path | None
) -> tuple[Diagnosis, int]:
    settings = load_settings(config_path, overrides={"interface": interface}, data_dir=data_dir)
    _facts, diagnosis, duration_ms = await diagnose(settings)
    return diagnosis, duration_ms


class DiagnoseExecutor(BaseExecutor):
    kind = "diagnose"

    def __init__(
        self, lang: LangSource, data_dir: Path | None = None, config_file: Path | None = None
    ) -> None:
        self.lang = lang
        self.data_dir = data_dir
        self.config_file = config_file

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        return Described(
            "diagnose",
            T_DIAGNOSE.render(lang),
            T_DIAGNOSE_WHAT.render(lang),
            reason,
            T_NO_RISK.render(lang),
            "none",
            T_NOTHING_TO_UNDO.render(lang),
        )

    async def run(self, job: Job) -> Done:
        assert isinstance(job.params, DiagnoseParams)
        report = await run_diagnosis(self.lang(), job.params.interface, self.config_file, self.data_dir)
        job.show("result", DIAGNOSIS_DONE, verdict=report.verdict)
        return Done(DiagnoseOutcome(report=report))
