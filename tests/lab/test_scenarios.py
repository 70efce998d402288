"""Every fault scenario of issue 3, in real network namespaces, diagnosed by the real agent process.

One parametrised test per scenario checks the root cause, the verdict, the time budget and the exit
status; `DETAILS` adds what matters most about a scenario's evidence, from the same run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.report import DiagnosisReport, Finding
from tests.lab import wanlab
from tests.lab.netlab import CHECK_IP, FORGED_ADDRESS, GATEWAY_IP, MISSING_DNS, ROGUE_DNS, SCENARIOS, FaultLab

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


def _healthy_everywhere(report: DiagnosisReport) -> None:
    assert finding(report, "mtu.path").evidence["largest_ok"] == 1500
    assert finding(report, "ipv6.reach").status == "ok"
    assert finding(report, "router.nat").status == "ok"


def _pppoe_up(report: DiagnosisReport) -> None:
    session = finding(report, "pppoe.session")
    assert (session.status, session.evidence["interface"], session.evidence["connected"]) == (
        "ok",
        "ppp0",
        True,
    )
    assert report.interface == "ppp0"
    assert finding(report, "route.default").evidence == {"gateway": None}
    assert finding(report, "internet.http").status == "ok"


def _no_concentrator(report: DiagnosisReport) -> None:
    session = finding(report, "pppoe.session")
    discovery = session.evidence["discovery"]
    assert isinstance(discovery, dict)
    assert (discovery["answered"], discovery["error"]) == (False, None)
    assert session.repair == "pppoe.redial"
    assert finding(report, "ip.address").status == "skipped"


def _concentrator_answers(report: DiagnosisReport, reason: str, message: str | None) -> None:
    session = finding(report, "pppoe.session")
    discovery = session.evidence["discovery"]
    assert isinstance(discovery, dict)
    # A real PADO from Debian's pppoe-server, answering the agent's own PADI.
    assert (discovery["answered"], discovery["concentrator"], discovery["service"]) == (
        True,
        wanlab.AC_NAME,
        wanlab.AC_SERVICE,
    )
    assert session.evidence["reason"] == reason
    assert session.evidence.get("server_message") == message


def _refused(report: DiagnosisReport) -> None:
    _concentrator_answers(report, "refused", "Authentication failed")
    assert "password" in finding(report, "pppoe.session").summary


def _suspended(report: DiagnosisReport) -> None:
    _concentrator_answers(report, "suspended", "E=691 R=0 C=8F1E V=3 M=Account in arrears, service suspended")
    summary = finding(report, "pppoe.session").summary
    assert "call the provider" in summary and "will not help" in summary


def _no_address(report: DiagnosisReport) -> None:
    session = finding(report, "pppoe.session")
    assert session.repair == "pppoe.reset_config"
    assert session.evidence["last_error"] == {
        "kind": "no_address",
        "code": None,
        "detail": "IPCP: timeout sending Config-Requests",
    }


def _drops(report: DiagnosisReport) -> None:
    assert finding(report, "pppoe.session").evidence["drops"] == 4


def _no_dhcp(report: DiagnosisReport) -> None:
    offer = finding(report, "dhcp.offer")
    assert (offer.evidence["answered"], offer.evidence["error"], offer.repair) == (False, None, "dhcp.renew")
    assert finding(report, "gateway.reach").status == "skipped"


def _dhcp_offers(report: DiagnosisReport) -> None:
    offer = finding(report, "dhcp.offer")
    assert (offer.status, offer.evidence["server"], offer.evidence["router"]) == (
        "ok",
        GATEWAY_IP,
        GATEWAY_IP,
    )


def _blackhole(report: DiagnosisReport) -> None:
    mtu = finding(report, "mtu.path")
    sizes = mtu.evidence["sizes"]
    assert isinstance(sizes, dict)
    assert (sizes["1500"], sizes["1400"], mtu.evidence["frag_needed_mtu"]) == (False, True, None)
    assert (mtu.evidence["suggested_mtu"], mtu.repair) == (wanlab.MTU_LIMIT, "mtu.set")
    assert finding(report, "internet.http").status == "ok"  # small pages load: ping works, pages stall


def _ipv6_dead(report: DiagnosisReport) -> None:
    ipv6 = finding(report, "ipv6.reach")
    assert ipv6.evidence["tcp"] == {f"[{a}]:53": False for a in wanlab.REFERENCE_IPV6}
    assert finding(report, "internet.ip").status == "ok"


def _proxy_dead(report: DiagnosisReport) -> None:
    proxy = finding(report, "proxy.reach")
    assert proxy.evidence["proxies"] == [
        {
            "proxy": f"http://{wanlab.PROXY}",
            "source": "env http_proxy",
            "connected": False,
            "status": None,
            "error": "ECONNREFUSED",
        }
    ]
    assert finding(report, "internet.http").status == "ok"  # direct works: "ping works, browser does not"


def _check_host_lie(report: DiagnosisReport) -> None:
    lie = finding(report, "dns.integrity")
    assert lie.evidence["kind"] == "check_host"
    assert (lie.evidence["addresses"], lie.evidence["expected"]) == ([wanlab.DEAD_CHECK_IP], [CHECK_IP])


def _upstream(report: DiagnosisReport) -> None:
    upstream = finding(report, "internet.upstream")
    check = upstream.evidence["check"]
    assert isinstance(check, dict)
    assert (check["address"], check["error"]) == (CHECK_IP, "ECONNREFUSED")
    assert upstream.evidence["tcp"] == {"223.5.5.5:53": True, "119.29.29.29:53": True}
    assert "check_via_reference" not in upstream.evidence  # both resolvers agree: not a DNS lie


def _relay_fails(report: DiagnosisReport) -> None:
    assert finding(report, "internet.ip").status == "ok"
    assert finding(report, "dns.answer").evidence["silent"] == [GATEWAY_IP]


DETAILS: dict[str, Callable[[DiagnosisReport], None]] = {
    "healthy": _healthy_everywhere,
    "pppoe_healthy": _pppoe_up,
    "pppoe_server_stopped": _no_concentrator,
    "pppoe_auth_failed": _refused,
    "pppoe_suspended": _suspended,
    "pppoe_no_address": _no_address,
    "pppoe_unstable": _drops,
    "dhcp_no_server": _no_dhcp,
    "dhcp_pool_exhausted": _no_dhcp,
    "no_ipv4": _dhcp_offers,
    "mtu_blackhole": _blackhole,
    "ipv6_broken": _ipv6_dead,
    "dead_proxy": _proxy_dead,
    "check_host_lie": _check_host_lie,
    "check_site_down": _upstream,
    "router_dns_relay_failing": _relay_fails,
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
    assert run.returncode == {"ok": 0, "degraded": 1, "offline": 3}[expected_verdict]
    if expected_cause is not None:
        cause = next(f for f in run.report.findings if f.code == expected_cause and f.status == "fail")
        assert cause.summary
    if scenario in DETAILS:
        DETAILS[scenario](run.report)
    # Timing last, so a loaded machine cannot hide a wrong piece of evidence.
    budget = HEALTHY_BUDGET_MS if expected_verdict == "ok" else FAULT_BUDGET_MS
    assert run.report.duration_ms < budget
    assert run.wall_s < 6  # the whole process, interpreter start included: a hang would show here


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
