"""MTU, IPv6, proxy, double NAT, a DNS lie about the check host, and the never-null cause — on facts."""

from __future__ import annotations

import pytest

from agent.diagnosis import pathrules, rules
from agent.diagnosis.facts import HttpProbe, Interface, MtuProbe, ProxyProbe, TcpProbe
from tests.agent.diagnosis.facts_builder import healthy, internet_silent, local

URL = "http://www.msftconnecttest.com/connecttest.txt"


def sizes(ok_up_to: int) -> dict[str, bool]:
    return {str(s): s <= ok_up_to for s in (1500, 1492, 1480, 1472, 1464, 1452, 1400, 1280)}


def test_mtu_black_hole_suggests_the_largest_size_that_passes() -> None:
    probe = MtuProbe(target="223.5.5.5", interface_mtu=1500, small_ok=True, sizes=sizes(1464))
    diagnosis = rules.judge(healthy(mtu=probe))
    assert (diagnosis.root_cause, diagnosis.verdict) == ("mtu.blackhole", "degraded")
    judgement = next(j for j in diagnosis.judgements if j.check == "mtu.path")
    assert (judgement.evidence["suggested_mtu"], judgement.repair) == (1464, "mtu.set")


def test_frag_needed_is_path_mtu_discovery_working_not_a_fault() -> None:
    probe = MtuProbe(target="x", interface_mtu=1500, small_ok=True, sizes=sizes(1492), frag_needed_mtu=1492)
    judgement = pathrules.judge_mtu(probe)
    assert judgement is not None and (judgement.status, judgement.code) == ("ok", None)


@pytest.mark.parametrize(
    "probe",
    [
        MtuProbe(target="x", interface_mtu=1500, small_ok=True, sizes=sizes(1500)),
        MtuProbe(target="x", interface_mtu=1500, small_ok=False, sizes=sizes(0)),  # ICMP filtered: no verdict
        MtuProbe(target="x", error="ICMP not permitted"),
        MtuProbe(target="x", interface_mtu=1500, small_ok=True, sizes=sizes(0)),  # only tiny echoes: not size
    ],
)
def test_no_black_hole(probe: MtuProbe) -> None:
    judgement = pathrules.judge_mtu(probe)
    assert judgement is None or judgement.status == "ok"


def with_ipv6(**changes: object) -> dict[str, object]:
    eth = local().interfaces[0].model_copy(update={"ipv6": ("240e:3b0::23",)})
    facts_local = local(interfaces=(eth, *local().interfaces[1:]), ipv6_default_route=("eth0",))
    return {"local": facts_local, **changes}


def test_ipv6_broken_while_ipv4_works() -> None:
    dead = (TcpProbe(target="[2400:3200::1]:53", ok=False, error="ENETUNREACH"),)
    diagnosis = rules.judge(healthy(**with_ipv6(ipv6=dead)))
    assert (diagnosis.root_cause, diagnosis.verdict) == ("ipv6.broken", "degraded")
    alive = (TcpProbe(target="[2400:3200::1]:53", ok=True),)
    assert rules.judge(healthy(**with_ipv6(ipv6=alive))).root_cause is None


def test_ipv6_is_not_blamed_when_nothing_works() -> None:
    dead = (TcpProbe(target="[2400:3200::1]:53", ok=False, error="timeout"),)
    diagnosis = rules.judge(healthy(**with_ipv6(ipv6=dead, **internet_silent())))
    assert diagnosis.root_cause == "internet.unreachable"
    assert all(j.check != "ipv6.reach" for j in diagnosis.judgements)


def test_ipv6_needs_an_address_and_a_route() -> None:
    dead = (TcpProbe(target="[2400:3200::1]:53", ok=False),)
    assert rules.judge(healthy(ipv6=dead)).root_cause is None  # no v6 address on eth0


@pytest.mark.parametrize(
    ("probe", "cause"),
    [
        (ProxyProbe(proxy="http://127.0.0.1:7890", source="WinINET", connected=False, error="ECONNREFUSED"),
         "proxy.unreachable"),
        (ProxyProbe(proxy="http://10.0.0.1:3128", source="env http_proxy", connected=True, status=502),
         "proxy.unreachable"),
        (ProxyProbe(proxy="http://10.0.0.1:3128", source="env http_proxy", connected=True, status=200), None),
    ],
)  # fmt: skip
def test_proxy(probe: ProxyProbe, cause: str | None) -> None:
    diagnosis = rules.judge(healthy(proxies=(probe,)))
    assert diagnosis.root_cause == cause
    # The browser goes through the proxy: a dead proxy means no web, whatever the direct check says.
    assert diagnosis.verdict == ("offline" if cause else "ok")


@pytest.mark.parametrize(
    ("hop", "status"),
    [("192.168.0.1", "warn"), ("10.0.0.1", "warn"), ("100.64.12.1", "ok"), ("61.139.2.69", "ok")],
)
def test_double_nat(hop: str, status: str) -> None:
    diagnosis = rules.judge(healthy(second_hop=hop))
    nat = next(j for j in diagnosis.judgements if j.check == "router.nat")
    assert nat.status == status and diagnosis.root_cause is None
    assert nat.code == ("router.double_nat" if status == "warn" else None)


def failing_check(address: str = "198.18.0.9", error: str = "timeout") -> HttpProbe:
    return HttpProbe(url=URL, address=address, resolved_via="configured", error=error)


def test_a_dns_lie_about_the_check_host() -> None:
    reference = HttpProbe(
        url=URL, address="13.107.4.52", resolved_via="reference", status=200, body_matches=True
    )
    diagnosis = rules.judge(healthy(http=failing_check(), http_reference=reference))
    assert diagnosis.root_cause == "dns.hijack"
    lie = next(j for j in diagnosis.judgements if j.check == "dns.integrity")
    assert lie.evidence["kind"] == "check_host"
    assert (lie.evidence["addresses"], lie.evidence["expected"]) == (["198.18.0.9"], ["13.107.4.52"])


def test_a_differing_address_is_no_lie_when_the_reference_address_fails_too() -> None:
    reference = HttpProbe(url=URL, address="13.107.4.52", resolved_via="reference", error="timeout")
    diagnosis = rules.judge(healthy(http=failing_check(), http_reference=reference))
    assert diagnosis.root_cause == "internet.upstream_unknown"
    upstream = next(j for j in diagnosis.judgements if j.check == "internet.upstream")
    assert upstream.evidence["check_via_reference"] == {
        "address": "13.107.4.52",
        "status": None,
        "error": "timeout",
    }


def test_a_failing_check_is_never_a_null_cause() -> None:
    for http in (
        failing_check(),
        failing_check(error="ECONNRESET"),
        HttpProbe(url=URL, error="cannot resolve x"),
    ):
        diagnosis = rules.judge(healthy(http=http))
        assert diagnosis.root_cause is not None
        assert diagnosis.verdict == "offline"


def test_check_skipped_is_not_a_failure() -> None:
    diagnosis = rules.judge(healthy(http=None))
    assert (diagnosis.root_cause, diagnosis.verdict) == (None, "ok")


def test_every_new_code_has_a_place_in_layer_order() -> None:
    from protocol.report import ROOT_CAUSE_CODES

    order = list(ROOT_CAUSE_CODES)
    assert order.index("link.down") < order.index("wifi.not_associated") < order.index("pppoe.no_answer")
    assert order.index("pppoe.unstable") < order.index("dhcp.no_answer") < order.index("ip.none")
    assert (
        order.index("internet.captive_portal")
        < order.index("mtu.blackhole")
        < order.index("proxy.unreachable")
    )
    assert order[-1] == "internet.upstream_unknown"


def test_a_dead_dialer_is_not_reported_as_dns() -> None:
    """The brief's example: with the dial-up down nothing above it is judged, so DNS cannot be blamed."""
    from agent.diagnosis.facts import Dialer, DialerEvent, Facts, LocalFacts

    eth = Interface(name="eth0", admin_up=True, carrier=True)
    dialer = Dialer(name="dsl", source="x", device="eth0", events=(DialerEvent(kind="no_answer"),))
    diagnosis = rules.judge(Facts(local=LocalFacts(platform="linux", interfaces=(eth,), dialers=(dialer,))))
    assert diagnosis.root_cause == "pppoe.no_answer"
    assert {j.status for j in diagnosis.judgements if j.check.startswith("dns.")} == {"skipped"}
