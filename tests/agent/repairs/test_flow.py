"""Detect → resolve → verify, with real repairs that only touch a temporary resolv.conf."""

from __future__ import annotations

from pathlib import Path

from agent.diagnosis import report, rules
from agent.repairs import RepairContext, RepairSpec
from agent.repairs.flow import fix, next_repair, still_present
from protocol.report import DiagnosisReport, Finding
from tests.agent.diagnosis.facts_builder import answer, healthy, resolver


def _report(**changes: object) -> DiagnosisReport:
    return report.build_report(rules.judge(healthy(**changes)), "en", 5)


HIJACKED = _report(resolvers=(resolver(known=answer(addresses=("10.10.10.10",))),))
SLOW = _report(resolvers=(resolver(known=answer(latency_ms=900.0)),))
HEALTHY = _report()


def test_next_repair_takes_the_root_cause_first_then_warnings() -> None:
    first = next_repair(HIJACKED, set())
    assert first is not None and (first.code, first.repair) == ("dns.hijack", "dns.set_reference")
    assert next_repair(HIJACKED, {"dns.set_reference"}) is None
    slow = next_repair(SLOW, set())
    assert slow is not None and slow.code == "dns.slow"
    assert next_repair(HEALTHY, set()) is None


def test_still_present() -> None:
    assert still_present(HIJACKED, "dns.hijack") and not still_present(HEALTHY, "dns.hijack")


async def test_consented_repair_is_applied_and_verified(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.168.1.1\n")
    asked: list[tuple[str, str | None]] = []

    async def consent(spec: RepairSpec, finding: Finding, current: DiagnosisReport) -> bool:
        asked.append((spec.id, finding.code))
        return True

    async def diagnose_again() -> DiagnosisReport:
        return HEALTHY if "223.5.5.5" in resolv.read_text() else HIJACKED

    result = await fix(
        HIJACKED,
        diagnose=diagnose_again,
        consent=consent,
        context=lambda r: RepairContext(interface=r.interface, resolv_conf=resolv),
    )
    assert asked == [("dns.set_reference", "dns.hijack")]
    step = result.steps[0]
    assert step.consented and step.outcome is not None and step.outcome.ok and step.fixed
    assert result.final == HEALTHY


async def test_declined_repair_is_not_applied(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.168.1.1\n")

    async def refuse(spec: RepairSpec, finding: Finding, current: DiagnosisReport) -> bool:
        return False

    async def never() -> DiagnosisReport:
        raise AssertionError("no repair, no re-diagnosis")

    result = await fix(
        HIJACKED,
        diagnose=never,
        consent=refuse,
        context=lambda r: RepairContext(interface=r.interface, resolv_conf=resolv),
    )
    assert [(s.repair_id, s.consented, s.outcome) for s in result.steps] == [
        ("dns.set_reference", False, None)
    ]
    assert resolv.read_text() == "nameserver 192.168.1.1\n" and result.final == HIJACKED


async def test_a_repair_that_does_not_help_is_reported_as_not_fixed(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"

    async def yes(spec: RepairSpec, finding: Finding, current: DiagnosisReport) -> bool:
        return True

    async def still_broken() -> DiagnosisReport:
        return HIJACKED

    result = await fix(
        HIJACKED,
        diagnose=still_broken,
        consent=yes,
        context=lambda r: RepairContext(interface=r.interface, resolv_conf=resolv),
    )
    assert len(result.steps) == 1 and not result.steps[0].fixed  # tried once, never twice
