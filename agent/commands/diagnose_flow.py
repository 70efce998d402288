"""The body of `rme-agent diagnose` (see `agent.commands.diagnose` for the flags and exit codes)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from agent.config import default_data_dir
from agent.diagnosis.config import ConfigError, DiagnosisSettings, load_settings
from agent.diagnosis.facts import Facts
from agent.diagnosis.report import build_report, render_text
from agent.diagnosis.rules import judge
from agent.diagnosis.runner import gather_facts
from agent.i18n import Lang, Text, parse_lang, system_lang
from agent.repairs.config import load_context
from agent.repairs.flow import FixStep, fix
from agent.repairs.models import RepairContext, RepairSpec
from protocol.report import DiagnosisReport, Finding

EXIT_CODES = {"ok": 0, "degraded": 1, "offline": 3}

PROMPT = Text("执行这项修复吗？[y/N] ", "Run this repair? [y/N] ")
RISK = Text("风险", "Risk")
UNDO = Text("撤销", "Undo")
STEP_DONE = Text("修复 {title}：{status}。", "Repair {title}: {status}.")
STEP_DECLINED = Text("已跳过修复 {title}。", "Skipped repair {title}.")
FIXED = Text("已验证：问题已解决。", "Verified: the problem is gone.")
NOT_FIXED = Text("已验证：问题仍然存在（{cause}）。", "Verified: the problem remains ({cause}).")
NOTHING_TO_FIX = Text("没有可以自动执行的修复。", "There is no repair to run automatically.")


def _settings(args: argparse.Namespace) -> DiagnosisSettings:
    def listed(value: list[str] | None) -> tuple[str, ...] | None:
        return tuple(value) if value else None

    return load_settings(
        args.config,
        overrides={
            "interface": args.interface,
            "check_url": args.check_url,
            "check_expect": args.check_expect,
            "reference_dns": listed(args.reference_dns),
            "probe_tcp": listed(args.probe_tcp),
            "known_names": listed(args.known_name),
        },
        data_dir=args.data_dir,
    )


async def diagnose_once(settings: DiagnosisSettings, lang: Lang, save: Path | None = None) -> DiagnosisReport:
    start = time.perf_counter()
    facts = await gather_facts(settings)
    if save is not None:
        await asyncio.to_thread(save.write_text, facts.model_dump_json(indent=2))
    return build_report(judge(facts), lang, round((time.perf_counter() - start) * 1000))


def _replay(path: Path, lang: Lang) -> DiagnosisReport:
    facts = Facts.model_validate_json(path.read_text())
    return build_report(judge(facts), lang, 0)


async def _read_answer() -> bool:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line.strip().lower() in ("y", "yes", "是", "好")


def _consent_prompt(
    spec: RepairSpec, report: DiagnosisReport, lang: Lang, settings: DiagnosisSettings, out: TextIO
) -> None:
    described = spec.describe(
        lang, interface=report.interface or "", servers=", ".join(settings.reference_dns)
    )
    print(f"\n[{spec.id}] {described['title']}", file=out)
    print(f"  {described['description']}", file=out)
    print(f"  {RISK.render(lang)} ({spec.risk}): {described['risk_note']}", file=out)
    print(f"  {UNDO.render(lang)}: {described['undo']}", file=out)
    print(PROMPT.render(lang), end="", file=out, flush=True)


def repair_context(
    base: RepairContext, report: DiagnosisReport, settings: DiagnosisSettings
) -> RepairContext:
    """What a repair needs from the report: the adapter, the MTU that gets through, the dialer."""
    update: dict[str, object] = {"interface": report.interface or settings.interface}
    for finding in report.findings:
        evidence = finding.evidence
        if finding.code == "mtu.blackhole" and isinstance(evidence.get("suggested_mtu"), int):
            update["mtu"] = evidence["suggested_mtu"]
        if finding.check == "pppoe.session" and isinstance(evidence.get("dialer"), str):
            update["dialer"] = evidence["dialer"]
            update["dialer_source"] = evidence.get("source")
            if isinstance(evidence.get("device"), str):
                update["interface"] = evidence["device"]
    return base.model_copy(update=update)


async def _fix(
    report: DiagnosisReport, settings: DiagnosisSettings, args: argparse.Namespace, lang: Lang, out: TextIO
) -> DiagnosisReport:
    base: RepairContext = load_context(
        args.config, data_dir=args.data_dir or default_data_dir(), reference_dns=settings.reference_dns
    )

    async def consent(spec: RepairSpec, finding: Finding, current: DiagnosisReport) -> bool:
        _consent_prompt(spec, current, lang, settings, out)
        return await _read_answer()

    def on_step(step: FixStep, after: DiagnosisReport) -> None:
        title = step.repair_id
        if not step.consented:
            print(STEP_DECLINED.render(lang, title=title), file=out)
            return
        status = step.outcome.status if step.outcome else "?"
        print(STEP_DONE.render(lang, title=title, status=status), file=out)
        if step.outcome and not step.outcome.ok and step.outcome.detail:
            print(f"  {step.outcome.detail}", file=out)
        text = FIXED if step.fixed else NOT_FIXED
        print(text.render(lang, cause=after.root_cause or after.verdict), file=out)

    result = await fix(
        report,
        diagnose=lambda: diagnose_once(settings, lang),
        consent=consent,
        context=lambda r: repair_context(base, r, settings),
        on_step=on_step,
    )
    if not result.steps:
        print(NOTHING_TO_FIX.render(lang), file=out)
    return result.final or report


def run(args: argparse.Namespace) -> int:
    lang: Lang = parse_lang(args.lang) or system_lang()
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"rme-agent diagnose: {exc}", file=sys.stderr)
        return 2
    if args.replay is not None:
        report = _replay(args.replay, lang)
    else:
        report = asyncio.run(diagnose_once(settings, lang, args.save_facts))
    if args.fix and args.replay is None and report.verdict != "ok":
        if not args.json:
            print(render_text(report, lang))
        out = sys.stderr if args.json else sys.stdout
        report = asyncio.run(_fix(report, settings, args, lang, out))
        if not args.json:
            print()
    if args.json:
        print(report.model_dump_json())
    else:
        print(render_text(report, lang))
    return EXIT_CODES[report.verdict]
