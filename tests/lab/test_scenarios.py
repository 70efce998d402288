"""Every fault scenario of issue 3, in real network namespaces, diagnosed by the real agent process.

One parametrised test per scenario checks the root cause, the verdict, the time budget and the exit
status; `DETAILS` adds what matters most about a scenario's evidence, from the same run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.report import DiagnosisReport, Finding
from tests.lab.netlab import FORGED_ADDRESS, GATEWAY_IP, MISSING_DNS, ROGUE_DNS, SCENARIOS, FaultLab

pytestmark = pytest.mark.netns

HEALTHY_BUDGET_MS = 1000
FAULT_BUDGET_MS = 3000


def finding(report: DiagnosisReport, check: str) -> Finding:
    return next(f for f in report.findings if f.check == check)


def _router_ignores_ping(report: DiagnosisReport) -> None:
    gateway = finding(report, "gateway.reach")
    assert gateway.status == "ok"
    assert gateway.evidence["method"] in ("tcp", "arp")


def _gateway_silent(report: DiagnosisReport) -> None:
    gateway = finding(report, "gateway.reach")
    assert gateway.evidence == {"gateway": GATEWAY_IP, "method": None, "icmp_answered": False, "rtt_ms": None}
    assert gateway.repair == "nic.restart"


def _dns_down_but_internet_up(report: DiagnosisReport) -> None:
    assert finding(report, "internet.ip").status == "ok"
    assert finding(report, "dns.answer").evidence["silent"] == [MISSING_DNS]
    assert finding(report, "dns.answer").repair == "dns.set_reference"


def _internet_down_not_blamed_on_dns(report: DiagnosisReport) -> None:
    assert finding(report, "internet.ip").code == "internet.unreachable"
    assert finding(report, "dns.answer").code is None
    assert finding(report, "gateway.reach").status == "ok"


def _rogue_lies(report: DiagnosisReport) -> None:
    lie = finding(report, "dns.integrity")
    assert lie.evidence["kind"] == "mismatch"
    assert (lie.evidence["server"], lie.evidence["addresses"]) == (ROGUE_DNS, [FORGED_ADDRESS])


def _nx_forged(report: DiagnosisReport) -> None:
    assert finding(report, "dns.integrity").evidence["kind"] == "nxdomain"


def _portal_redirect(report: DiagnosisReport) -> None:
    portal = finding(report, "internet.http")
    assert portal.evidence["status"] == 302
    assert portal.evidence["location"] == f"http://{GATEWAY_IP}:8080/login"


def _slow_dns(report: DiagnosisReport) -> None:
    slow = finding(report, "dns.latency")
    assert (slow.status, slow.code, slow.repair) == ("warn", "dns.slow", "dns.set_reference")
    latency = slow.evidence["latency_ms"]
    assert isinstance(latency, float) and latency > 600


def _local_fault_sends_nothing(report: DiagnosisReport) -> None:
    assert finding(report, "gateway.reach").status == "skipped"


DETAILS: dict[str, Callable[[DiagnosisReport], None]] = {
    "router_drops_ping": _router_ignores_ping,
    "gateway_unreachable": _gateway_silent,
    "resolver_missing": _dns_down_but_internet_up,
    "internet_down": _internet_down_not_blamed_on_dns,
    "rogue_resolver": _rogue_lies,
    "nxdomain_hijack": _nx_forged,
    "captive_portal": _portal_redirect,
    "slow_dns": _slow_dns,
    "no_carrier": _local_fault_sends_nothing,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_names_the_root_cause_in_time(lab: FaultLab, scenario: str) -> None:
    fault, expected_cause, expected_verdict = SCENARIOS[scenario]
    fault(lab)
    run = lab.diagnose()
    assert (run.report.root_cause, run.report.verdict) == (expected_cause, expected_verdict), run.stdout
    budget = HEALTHY_BUDGET_MS if expected_verdict == "ok" else FAULT_BUDGET_MS
    assert run.report.duration_ms < budget
    assert run.wall_s < 6  # the whole process, interpreter start included: a hang would show here
    assert run.returncode == {"ok": 0, "degraded": 1, "offline": 3}[expected_verdict]
    if expected_cause is not None:
        cause = next(f for f in run.report.findings if f.code == expected_cause and f.status == "fail")
        assert cause.summary
    if scenario in DETAILS:
        DETAILS[scenario](run.report)


def test_chinese_words_and_flags_override_the_config(lab: FaultLab) -> None:
    lab.resolver_down()
    config = str(lab.config)
    done, _ = lab.run_agent(
        ["diagnose", "--json", "--lang", "zh-CN", "--config", config, "--probe-tcp", "203.0.113.80:80"]
    )
    report = DiagnosisReport.model_validate_json(done.stdout)
    assert report.lang == "zh-CN" and report.root_cause == "dns.unreachable"
    assert "DNS 服务器" in finding(report, "dns.answer").summary
    assert finding(report, "internet.ip").evidence["tcp"] == {"203.0.113.80:80": True}


def test_human_output_names_the_cause(lab: FaultLab) -> None:
    lab.no_carrier()
    done, _ = lab.run_agent(["diagnose", "--lang", "en", "--config", str(lab.config)])
    assert done.returncode == 3
    assert "Cause [link.down]" in done.stdout and "cable" in done.stdout
