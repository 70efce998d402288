"""The functional core on recorded facts (the lab's Linux runs, Windows and macOS outputs) and on
healthy facts with one thing changed at a time."""

from __future__ import annotations

import pytest

from agent.diagnosis import rules, texts
from agent.diagnosis.facts import (
    Address,
    Facts,
    GatewayProbe,
    HttpProbe,
    Interface,
    ResolverConfig,
    ResolverProbe,
    Route,
    TcpProbe,
)
from agent.repairs import catalogue
from protocol.report import ROOT_CAUSE_CODES
from tests.agent.diagnosis.facts_builder import (
    GATEWAY,
    NX,
    answer,
    healthy,
    internet_silent,
    local,
    macos_local,
    recorded,
    resolver,
    silent,
    windows_local,
)


def by_check(diagnosis: rules.Diagnosis, check: str) -> rules.Judgement:
    return next(j for j in diagnosis.judgements if j.check == check)


@pytest.mark.parametrize(
    ("fixture", "cause", "verdict"),
    [
        ("linux_lab_healthy.json", None, "ok"),
        ("linux_lab_router_drops_ping.json", None, "ok"),
        ("linux_lab_gateway_unreachable.json", "gateway.unreachable", "offline"),
        ("linux_lab_resolver_down.json", "dns.unreachable", "offline"),
        ("linux_lab_nxdomain_hijack.json", "dns.hijack", "degraded"),
        ("linux_lab_rogue_resolver.json", "dns.hijack", "degraded"),
        ("linux_lab_internet_down.json", "internet.unreachable", "offline"),
        ("linux_lab_captive_portal.json", "internet.captive_portal", "offline"),
        ("linux_lab_slow_dns.json", None, "degraded"),
        ("linux_lab_apipa.json", "ip.apipa", "offline"),
        # issue 18, recorded in the lab with `--save-facts`
        ("linux_lab_pppoe_healthy.json", None, "ok"),
        ("linux_lab_pppoe_server_stopped.json", "pppoe.no_answer", "offline"),
        ("linux_lab_pppoe_suspended.json", "pppoe.auth_failed", "offline"),
        ("linux_lab_dhcp_pool_exhausted.json", "dhcp.no_answer", "offline"),
        ("linux_lab_mtu_blackhole.json", "mtu.blackhole", "degraded"),
        ("linux_lab_ipv6_broken.json", "ipv6.broken", "degraded"),
        ("linux_lab_dead_proxy.json", "proxy.unreachable", "offline"),
        ("linux_lab_check_host_lie.json", "dns.hijack", "offline"),
        ("linux_lab_check_site_down.json", "internet.upstream_unknown", "offline"),
    ],
)
def test_recorded_linux_facts_replay_to_the_same_cause(fixture: str, cause: str | None, verdict: str) -> None:
    diagnosis = rules.judge(recorded(fixture))
    assert (diagnosis.root_cause, diagnosis.verdict) == (cause, verdict)


@pytest.mark.parametrize(
    ("fixture", "cause", "interface"),
    [
        ("windows_disabled.json", "nic.disabled", "Ethernet"),
        ("windows_driver_error.json", "nic.driver", "Ethernet"),
        ("windows_cable_unplugged.json", "link.down", "Ethernet"),
        ("windows_apipa.json", "ip.apipa", "以太网"),
    ],
)
def test_windows_local_faults(fixture: str, cause: str, interface: str) -> None:
    diagnosis = rules.judge(Facts(local=windows_local(fixture), active_probes=False))
    assert diagnosis.root_cause == cause
    assert diagnosis.interface == interface
    assert by_check(diagnosis, "gateway.reach").status == "skipped"


def test_windows_healthy_picks_the_default_route_adapter_not_wifi_or_hyper_v() -> None:
    facts = healthy(local=windows_local("windows_healthy.json"))
    diagnosis = rules.judge(facts)
    assert (diagnosis.interface, diagnosis.root_cause, diagnosis.verdict) == ("Ethernet", None, "ok")


def test_windows_duplicate_address_is_a_conflict_even_if_the_web_works() -> None:
    diagnosis = rules.judge(healthy(local=windows_local("windows_duplicate.json")))
    assert (diagnosis.root_cause, diagnosis.verdict) == ("ip.conflict", "degraded")
    assert by_check(diagnosis, "ip.address").repair == "dhcp.renew"


def test_windows_wifi_reports_its_ssid() -> None:
    diagnosis = rules.judge(healthy(local=windows_local("windows_wifi.json")))
    assert diagnosis.interface == "WLAN" and diagnosis.verdict == "ok"
    assert by_check(diagnosis, "link.carrier").evidence["ssid"] == "Xiaomi_5G_8A3F"


def test_macos_basics_are_healthy() -> None:
    diagnosis = rules.judge(healthy(local=macos_local()))
    assert (diagnosis.interface, diagnosis.root_cause, diagnosis.verdict) == ("en0", None, "ok")


# --- one fact at a time -----------------------------------------------------------------------------------


def test_no_adapter_at_all() -> None:
    diagnosis = rules.judge(Facts(local=local(interfaces=()), active_probes=False))
    assert diagnosis.root_cause == "nic.none" and diagnosis.interface is None
    assert all(j.status == "skipped" for j in diagnosis.judgements[1:])


def test_a_named_adapter_that_does_not_exist() -> None:
    diagnosis = rules.judge(Facts(local=local(), interface="wlan9", active_probes=False))
    assert diagnosis.root_cause == "nic.none"
    assert by_check(diagnosis, "nic.present").evidence == {"wanted": "wlan9", "seen": ["eth0", "lo"]}


def test_wifi_without_association_is_a_link_fault_in_wifi_words() -> None:
    wifi = Interface(name="wlan0", kind="wifi", admin_up=True, carrier=False)
    diagnosis = rules.judge(Facts(local=local(interfaces=(wifi,), default_routes=()), active_probes=False))
    assert diagnosis.root_cause == "link.down"
    assert "Wi-Fi" in by_check(diagnosis, "link.carrier").text.en


def test_unknown_carrier_is_a_warning_not_a_fault() -> None:
    eth = Interface(
        name="eth0", admin_up=True, carrier=None, ipv4=(Address(address="192.168.1.23", prefix=24),)
    )
    diagnosis = rules.judge(healthy(local=local(interfaces=(eth,))))
    assert by_check(diagnosis, "link.carrier").status == "warn"
    assert diagnosis.root_cause is None and diagnosis.verdict == "degraded"


def test_apipa_next_to_a_real_address_is_fine() -> None:
    eth = Interface(
        name="eth0",
        admin_up=True,
        carrier=True,
        ipv4=(Address(address="169.254.3.4", prefix=16), Address(address="192.168.1.23", prefix=24)),
    )
    assert rules.judge(healthy(local=local(interfaces=(eth,)))).root_cause is None


def test_default_route_on_another_adapter_does_not_count() -> None:
    facts = local(default_routes=(Route(gateway="10.8.0.1", interface="tun0"),))
    diagnosis = rules.judge(Facts(local=facts, interface="eth0", active_probes=False))
    assert diagnosis.root_cause == "route.no_default"
    assert by_check(diagnosis, "route.default").evidence == {"other_interfaces": ["tun0"]}


def test_point_to_point_default_route_has_no_gateway_to_probe() -> None:
    ppp = Interface(
        name="ppp0", kind="ppp", admin_up=True, carrier=True, ipv4=(Address(address="100.64.1.2", prefix=32),)
    )
    facts = healthy(
        local=local(interfaces=(ppp,), default_routes=(Route(gateway=None, interface="ppp0"),)), gateway=None
    )
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause is None and diagnosis.interface == "ppp0"
    assert by_check(diagnosis, "route.default").evidence == {"gateway": None}


def test_silent_gateway_with_working_internet_is_not_a_fault() -> None:
    facts = healthy(gateway=GatewayProbe(gateway=GATEWAY, answered=False, icmp_answered=False))
    diagnosis = rules.judge(facts)
    assert by_check(diagnosis, "gateway.reach").status == "ok"
    assert (diagnosis.root_cause, diagnosis.verdict) == (None, "ok")


def test_silent_gateway_and_silent_internet_blames_the_gateway() -> None:
    facts = healthy(
        gateway=GatewayProbe(gateway=GATEWAY, answered=False, icmp_answered=False),
        resolvers=(ResolverProbe(server=GATEWAY, known=(silent(),), nonexistent=silent(NX)),),
        **internet_silent(),
    )
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause == "gateway.unreachable"
    # Higher layers fail too, but the root cause is the lowest one.
    assert by_check(diagnosis, "internet.ip").code == "internet.unreachable"


def test_slow_gateway_is_a_warning() -> None:
    facts = healthy(
        gateway=GatewayProbe(gateway=GATEWAY, answered=True, method="icmp", icmp_answered=True, rtt_ms=450.0)
    )
    diagnosis = rules.judge(facts)
    assert by_check(diagnosis, "gateway.reach").code == "gateway.slow"
    assert (diagnosis.root_cause, diagnosis.verdict) == (None, "degraded")


def test_no_resolver_configured() -> None:
    facts = healthy(local=local(resolvers=ResolverConfig()), resolvers=())
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause == "dns.none"
    assert by_check(diagnosis, "dns.configured").repair == "dns.set_reference"
    assert by_check(diagnosis, "dns.answer").status == "skipped"


def test_servfail_everywhere_while_the_internet_answers_by_ip_is_dns_unreachable() -> None:
    broken = ResolverProbe(
        server=GATEWAY, known=(answer(rcode="SERVFAIL"),), nonexistent=answer(NX, rcode="SERVFAIL")
    )
    diagnosis = rules.judge(healthy(resolvers=(broken,)))
    assert diagnosis.root_cause == "dns.unreachable"
    assert by_check(diagnosis, "dns.answer").evidence["errors"] == {GATEWAY: "SERVFAIL"}


def test_one_answering_resolver_of_two_is_enough() -> None:
    dead = ResolverProbe(server="10.0.0.53", known=(silent(),), nonexistent=silent(NX))
    facts = healthy(
        local=local(resolvers=ResolverConfig(servers=("10.0.0.53", GATEWAY))), resolvers=(dead, resolver())
    )
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause is None
    assert by_check(diagnosis, "dns.answer").evidence["silent"] == ["10.0.0.53"]


def test_dns_failing_because_the_internet_is_down_is_not_blamed_on_dns() -> None:
    facts = healthy(
        resolvers=(ResolverProbe(server=GATEWAY, known=(answer(rcode="SERVFAIL"),)),), **internet_silent()
    )
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause == "internet.unreachable"
    assert by_check(diagnosis, "dns.answer").code is None


def test_nxdomain_redirection_is_hijack() -> None:
    forged = resolver(nx=answer(NX, addresses=("114.114.114.250",)))
    diagnosis = rules.judge(healthy(resolvers=(forged,)))
    assert diagnosis.root_cause == "dns.hijack" and diagnosis.verdict == "degraded"
    assert by_check(diagnosis, "dns.integrity").evidence["kind"] == "nxdomain"


def test_answers_that_overlap_the_reference_are_honest() -> None:
    # A CDN may hand out different sets, but one shared address means the same service.
    overlapping = resolver(known=answer(addresses=("223.6.6.6", "223.5.5.100")))
    assert rules.judge(healthy(resolvers=(overlapping,))).root_cause is None


def test_disjoint_answers_are_hijack() -> None:
    lying = resolver(known=answer(addresses=("10.10.10.10",)))
    diagnosis = rules.judge(healthy(resolvers=(lying,)))
    assert diagnosis.root_cause == "dns.hijack"
    assert by_check(diagnosis, "dns.integrity").evidence["expected"] == ["223.5.5.5", "223.6.6.6"]


def test_without_reference_answers_nothing_is_compared() -> None:
    facts = healthy(
        references=(ResolverProbe(server="223.5.5.5", known=(silent(),)),),
        tcp=(TcpProbe(target="223.5.5.5:53", ok=True),),
    )
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause is None
    assert by_check(diagnosis, "dns.integrity").text.en.startswith("Could not compare")


def test_captive_portal_explains_blocked_probes() -> None:
    portal = HttpProbe(
        url="http://www.msftconnecttest.com/connecttest.txt",
        address="13.107.4.52",
        resolved_via="configured",
        status=302,
        location="http://10.0.0.1/login",
    )
    silent_beyond = internet_silent()
    facts = healthy(http=portal, tcp=silent_beyond["tcp"], references=silent_beyond["references"])
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause == "internet.captive_portal"
    assert by_check(diagnosis, "internet.ip").status == "warn"


def test_wrong_body_is_a_portal_too() -> None:
    page = HttpProbe(url="http://x/", status=200, body_matches=False, body_excerpt="<html>login")
    assert rules.judge(healthy(http=page)).root_cause == "internet.captive_portal"


def test_web_only_network_is_fine() -> None:
    blocked = (TcpProbe(target="223.5.5.5:53", ok=False, error="timeout"),)
    facts = healthy(tcp=blocked, references=(ResolverProbe(server="223.5.5.5", known=(silent(),)),))
    diagnosis = rules.judge(facts)
    assert diagnosis.root_cause is None
    assert by_check(diagnosis, "internet.ip").status == "ok"


def test_check_page_loaded_only_through_the_reference_is_not_usable() -> None:
    dead = ResolverProbe(server=GATEWAY, known=(silent(),), nonexistent=silent(NX))
    page = HttpProbe(url="http://x/", resolved_via="reference", status=200, body_matches=True)
    diagnosis = rules.judge(healthy(resolvers=(dead,), http=page))
    assert (diagnosis.root_cause, diagnosis.verdict) == ("dns.unreachable", "offline")


def test_check_page_failing_alone_ends_in_an_explicit_upstream_cause() -> None:
    """Issue 18: a failing check with every lower layer passing used to end `root_cause: null`."""
    diagnosis = rules.judge(
        healthy(http=HttpProbe(url="http://x/", resolved_via="configured", error="ECONNRESET"))
    )
    assert (diagnosis.root_cause, diagnosis.verdict) == ("internet.upstream_unknown", "offline")
    upstream = by_check(diagnosis, "internet.upstream")
    assert upstream.evidence["check"] == {
        "url": "http://x/",
        "address": None,
        "resolved_via": "configured",
        "status": None,
        "error": "ECONNRESET",
        "latency_ms": None,
    }
    assert upstream.evidence["tcp"] == {"223.5.5.5:53": True, "119.29.29.29:53": True}


def test_slow_dns_uses_the_first_answering_server() -> None:
    slow = resolver(known=answer(latency_ms=900.0))
    diagnosis = rules.judge(healthy(resolvers=(slow,), dns_slow_ms=400.0))
    judgement = by_check(diagnosis, "dns.latency")
    assert (judgement.status, judgement.code, judgement.evidence["latency_ms"]) == ("warn", "dns.slow", 900.0)


def test_every_root_cause_has_a_place_in_layer_order() -> None:
    causes = {code for code in rules.REPAIR_FOR if code in ROOT_CAUSE_CODES}
    assert causes <= set(ROOT_CAUSE_CODES)
    assert set(rules.REPAIR_FOR.values()) <= {spec.id for spec in catalogue()}


def test_the_lowest_layer_wins() -> None:
    fails = [rules.Judgement(c, "fail", texts.NONE_WORD, code=c) for c in reversed(ROOT_CAUSE_CODES)]
    assert rules.root_cause(fails) == ROOT_CAUSE_CODES[0]
    assert rules.root_cause(fails[:-3]) == ROOT_CAUSE_CODES[3]
    warn_only = [rules.Judgement("dns.latency", "warn", texts.NONE_WORD, code="dns.slow")]
    assert rules.root_cause(warn_only) is None


def test_needs_active_probes_only_when_packets_could_leave() -> None:
    assert rules.needs_active_probes(local())
    assert not rules.needs_active_probes(local(default_routes=()))
    conflicted = Interface(
        name="eth0",
        admin_up=True,
        carrier=True,
        ipv4=(Address(address="192.168.1.23", prefix=24, duplicate=True),),
    )
    assert rules.needs_active_probes(local(interfaces=(conflicted,)))
