"""Fact sets for rule tests: recorded ones (fixtures from the lab, Windows and macOS) and small builders
that change one fact of a healthy Linux home network at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.diagnosis import macos, windows
from agent.diagnosis.facts import (
    Address,
    DnsAnswer,
    Facts,
    GatewayProbe,
    HttpProbe,
    Interface,
    LocalFacts,
    ResolverConfig,
    ResolverProbe,
    Route,
    TcpProbe,
)

FIXTURES = Path(__file__).parent / "fixtures"
GATEWAY = "192.168.1.1"
KNOWN = "dns.alidns.com"
KNOWN_ADDRESSES = ("223.5.5.5", "223.6.6.6")
NX = "rme-nx-0123456789ab.com"


def recorded(name: str) -> Facts:
    return Facts.model_validate_json((FIXTURES / name).read_text())


def windows_local(name: str) -> LocalFacts:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return windows.parse_facts(document)


def macos_local() -> LocalFacts:
    return macos.parse_facts(
        *((FIXTURES / f"macos_{n}.txt").read_text() for n in ("ifconfig", "netstat", "scutil_dns"))
    )


def local(**changes: Any) -> LocalFacts:
    eth = Interface(
        name="eth0",
        admin_up=True,
        carrier=True,
        mac="00:11:22:33:44:55",
        ipv4=(Address(address="192.168.1.23", prefix=24),),
    )
    facts = LocalFacts(
        platform="linux",
        interfaces=(eth, Interface(name="lo", kind="virtual", admin_up=True, carrier=True)),
        default_routes=(Route(gateway=GATEWAY, interface="eth0"),),
        resolvers=ResolverConfig(servers=(GATEWAY,), source="/etc/resolv.conf"),
    )
    return facts.model_copy(update=changes)


def answer(
    name: str = KNOWN,
    addresses: tuple[str, ...] = KNOWN_ADDRESSES,
    rcode: str | None = "NOERROR",
    latency_ms: float = 12.0,
    error: str | None = None,
) -> DnsAnswer:
    return DnsAnswer(
        name=name,
        rcode=rcode,
        addresses=addresses if rcode == "NOERROR" else (),
        latency_ms=latency_ms,
        error=error,
    )


def silent(name: str = KNOWN) -> DnsAnswer:
    return DnsAnswer(name=name, latency_ms=1000.0, error="timeout")


def resolver(
    server: str = GATEWAY, known: DnsAnswer | None = None, nx: DnsAnswer | None = None
) -> ResolverProbe:
    return ResolverProbe(
        server=server, known=(known or answer(),), nonexistent=nx or answer(NX, rcode="NXDOMAIN")
    )


def healthy(**changes: Any) -> Facts:
    """A working home network; keyword arguments replace whole facts."""
    facts = Facts(
        local=local(),
        gateway=GatewayProbe(gateway=GATEWAY, answered=True, method="icmp", icmp_answered=True, rtt_ms=1.2),
        resolvers=(resolver(),),
        references=tuple(ResolverProbe(server=s, known=(answer(),)) for s in ("223.5.5.5", "119.29.29.29")),
        tcp=(
            TcpProbe(target="223.5.5.5:53", ok=True, latency_ms=9.0),
            TcpProbe(target="119.29.29.29:53", ok=True, latency_ms=11.0),
        ),
        http=HttpProbe(
            url="http://www.msftconnecttest.com/connecttest.txt",
            address="13.107.4.52",
            resolved_via="configured",
            status=200,
            body_matches=True,
            body_excerpt="Microsoft Connect Test",
            latency_ms=40.0,
        ),
    )
    return facts.model_copy(update=changes)


def internet_silent() -> dict[str, Any]:
    """Nothing beyond the gateway answers: TCP by IP, reference resolvers and the check page all fail."""
    return {
        "tcp": (TcpProbe(target="223.5.5.5:53", ok=False, error="timeout"),),
        "references": (ResolverProbe(server="223.5.5.5", known=(silent(),)),),
        "http": HttpProbe(url="http://www.msftconnecttest.com/connecttest.txt", error="timeout"),
    }
