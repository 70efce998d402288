"""macOS fact parsing on recorded `ifconfig`, `netstat -rn` and `scutil --dns` output."""

from __future__ import annotations

from agent.diagnosis import macos
from tests.agent.diagnosis.facts_builder import FIXTURES, macos_local


def test_ifconfig_adapters_and_kinds() -> None:
    by_name = {i.name: i for i in macos.parse_ifconfig((FIXTURES / "macos_ifconfig.txt").read_text())}
    en0 = by_name["en0"]
    assert (en0.kind, en0.admin_up, en0.carrier, en0.mac) == ("wifi", True, True, "3c:22:fb:10:20:30")
    assert [(a.address, a.prefix) for a in en0.ipv4] == [("192.168.31.88", 24)]
    assert by_name["en1"].carrier is False and by_name["en1"].kind == "ethernet"
    assert by_name["gif0"].admin_up is False
    for virtual in ("lo0", "gif0", "stf0", "anpi0", "bridge0", "awdl0", "utun0"):
        assert by_name[virtual].kind == "virtual", virtual


def test_netstat_default_route() -> None:
    routes = macos.parse_netstat_routes((FIXTURES / "macos_netstat.txt").read_text())
    assert [(r.gateway, r.interface) for r in routes] == [("192.168.31.1", "en0")]


def test_scutil_default_resolvers_only() -> None:
    servers = macos.parse_scutil_dns((FIXTURES / "macos_scutil_dns.txt").read_text())
    assert servers == ("192.168.31.1", "223.5.5.5")  # mDNS domains and scoped copies left out


def test_parse_facts() -> None:
    facts = macos_local()
    assert facts.platform == "macos" and facts.resolvers.source == "scutil --dns"


def test_default_route_through_an_interface_has_no_gateway() -> None:
    routes = macos.parse_netstat_routes("default            link#14            UCSIg           utun3\n")
    assert [(r.gateway, r.interface) for r in routes] == [(None, "utun3")]
