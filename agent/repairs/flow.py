"""Detect → resolve → verify. Given a report, pick the repair for the root cause (then for warnings),
ask for consent, apply it, diagnose again and say whether the problem it addressed is gone. Stops when
the network is fine, the user says no, or nothing untried is left."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agent.repairs.catalogue import get_spec
from agent.repairs.engine import apply
from agent.repairs.models import RepairContext, RepairError, RepairOutcome, RepairSpec
from protocol.report import DiagnosisReport, Finding

Consent = Callable[[RepairSpec, Finding, DiagnosisReport], Awaitable[bool]]
Diagnose = Callable[[], Awaitable[DiagnosisReport]]


@dataclass(frozen=True)
class FixStep:
    repair_id: str
    addressed: str | None  # the finding code this repair was for
    consented: bool
    outcome: RepairOutcome | None = None
    fixed: bool = False  # the addressed code is gone after the repair


@dataclass
class FixResult:
    steps: list[FixStep] = field(default_factory=list)
    final: DiagnosisReport | None = None


def next_repair(report: DiagnosisReport, tried: set[str]) -> Finding | None:
    """The root cause's finding if it has an untried repair, else the first warning that has one."""
    candidates = [f for f in report.findings if f.status == "fail" and f.code == report.root_cause]
    candidates += [f for f in report.findings if f.status == "warn"]
    return next((f for f in candidates if f.repair and f.repair not in tried), None)


def still_present(report: DiagnosisReport, code: str | None) -> bool:
    return any(f.code == code and f.status in ("fail", "warn") for f in report.findings)


async def fix(
    report: DiagnosisReport,
    *,
    diagnose: Diagnose,
    consent: Consent,
    context: Callable[[DiagnosisReport], RepairContext],
    on_step: Callable[[FixStep, DiagnosisReport], None] | None = None,
    max_repairs: int = 3,
) -> FixResult:
    result = FixResult(final=report)
    tried: set[str] = set()
    while report.verdict != "ok" and len(tried) < max_repairs:
        finding = next_repair(report, tried)
        if finding is None or finding.repair is None:
            break
        tried.add(finding.repair)
        spec = get_spec(finding.repair)
        if not await consent(spec, finding, report):
            step = FixStep(spec.id, finding.code, consented=False)
            result.steps.append(step)
            if on_step:
                on_step(step, report)
            break
        try:
            outcome = await apply(spec.id, context(report))
        except RepairError as exc:
            outcome = RepairOutcome(repair_id=spec.id, status="failed", detail=str(exc))
        report = await diagnose()
        step = FixStep(spec.id, finding.code, True, outcome, fixed=not still_present(report, finding.code))
        result.steps.append(step)
        result.final = report
        if on_step:
            on_step(step, report)
    return result
