"""The imperative shell: read local facts, run every independent active probe at once (each with a hard
timeout_s), hand the facts to the rules.

Budget: local facts take milliseconds; the active phase takes as long as its slowest probe, bounded by
`http_timeout_s` (the connectivity check includes its own name lookup). A healthy network answers every
probe in a few milliseconds; a fault costs at most one timeout_s, never a sum of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from agent.diagnosis import arp, l2probe, linux, macos, netprobe, pathprobe, rules, windows
from agent.diagnosis.config import DiagnosisSettings
from agent.diagnosis.facts import (
    Facts,
    GatewayProbe,
    HttpProbe,
    Interface,
    LocalFacts,
    ProbeMethod,
    TcpProbe,
)

CONFLICT_PROBE_S = 0.2  # RFC 5227 waits longer; a LAN host answers a broadcast within milliseconds


def read_local_facts() -> LocalFacts:
    if sys.platform == "win32":
        return windows.read_local_facts()
    if sys.platform == "darwin":
        return macos.read_local_facts()
    return linux.read_local_facts()


def _icmp() -> Callable[[str, float], Awaitable[float | None]] | None:
    if sys.platform == "win32":
        return windows.icmp_echo
    probe = netprobe._open_icmp_socket()
    if probe is None:
        return None  # neither root nor in ping_group_range: ICMP is simply not tried
    probe[0].close()
    return netprobe.icmp_echo


async def probe_gateway(gateway: str, iface: Interface | None, timeout_s: float) -> GatewayProbe:
    """Race ICMP, TCP SYNs to 53 and 80 (an RST counts) and a fresh ARP who-has: the first answer wins."""
    attempts: dict[asyncio.Future[float | None], ProbeMethod] = {}
    icmp = _icmp()
    icmp_task: asyncio.Future[float | None] | None = None
    if icmp is not None:
        icmp_task = asyncio.ensure_future(icmp(gateway, timeout_s))
        attempts[icmp_task] = "icmp"

    async def tcp(port: int) -> float | None:
        start = time.perf_counter()
        ok = await netprobe.host_answers_tcp(gateway, port, timeout_s)
        return round((time.perf_counter() - start) * 1000, 1) if ok else None

    for port in (53, 80):
        attempts[asyncio.ensure_future(tcp(port))] = "tcp"
    source = next((a.address for a in (iface.ipv4 if iface else ()) if not a.is_apipa), None)
    if sys.platform == "linux" and iface is not None and iface.mac and source:

        async def ask() -> float | None:
            reply = await arp.arp_ask(iface.name, iface.mac or "", source, gateway, timeout_s=timeout_s)
            return None if reply is None else reply[1]

        attempts[asyncio.ensure_future(ask())] = "arp"
    try:
        for next_done in asyncio.as_completed(list(attempts)):
            rtt = await next_done
            if rtt is not None:
                method = next(
                    m for t, m in attempts.items() if t.done() and not t.cancelled() and t.result() == rtt
                )
                icmp_answered = True if method == "icmp" else _finished_false(icmp_task)
                return GatewayProbe(
                    gateway=gateway, answered=True, method=method, rtt_ms=rtt, icmp_answered=icmp_answered
                )
        return GatewayProbe(gateway=gateway, answered=False, icmp_answered=False if icmp_task else None)
    finally:
        for task in attempts:
            task.cancel()


def _finished_false(task: asyncio.Future[float | None] | None) -> bool | None:
    if task is None or not task.done() or task.cancelled():
        return None
    return task.result() is not None


async def detect_conflicts(local: LocalFacts, iface: Interface) -> LocalFacts:
    """Mark addresses another machine also answers for (Linux, needs CAP_NET_RAW; else unchanged)."""
    if sys.platform != "linux" or not iface.mac:
        return local
    usable = [a for a in iface.ipv4 if not a.is_apipa]
    replies = await asyncio.gather(
        *(
            arp.arp_ask(
                iface.name,
                iface.mac,
                arp.UNSPECIFIED,
                a.address,
                timeout_s=CONFLICT_PROBE_S,
                resend_every=0.1,
            )
            for a in usable
        )
    )
    conflicting = {a.address for a, reply in zip(usable, replies, strict=True) if reply is not None}
    if not conflicting:
        return local
    marked = iface.model_copy(
        update={
            "ipv4": tuple(
                a.model_copy(update={"duplicate": True}) if a.address in conflicting else a
                for a in iface.ipv4
            )
        }
    )
    return local.model_copy(
        update={"interfaces": tuple(marked if i.name == iface.name else i for i in local.interfaces)}
    )


async def _none() -> None:
    return None


async def reach_tcp(host: str, port: int, timeout_s: float) -> TcpProbe:
    """Is `host` reachable at all? A refused connection (RST) proves the path works, like an accept."""
    probe = await netprobe.tcp_probe(host, port, timeout_s)
    return probe.model_copy(update={"ok": True}) if probe.error == "ECONNREFUSED" else probe


async def link_probes(settings: DiagnosisSettings, local: LocalFacts) -> dict[str, object]:
    """PPPoE discovery or a DHCP discover, when local facts stop at the dial-up or the address layer."""
    plan = rules.plan_link_probes(local, settings.interface)
    if sys.platform != "linux":
        return {}
    found: dict[str, object] = {}
    if plan.pppoe_device is not None and plan.pppoe_device.mac:
        device = plan.pppoe_device
        found["pppoe"] = await l2probe.pppoe_discover(device.name, device.mac or "", settings.pppoe_timeout_s)
    if plan.dhcp_device is not None and plan.dhcp_device.mac:
        device = plan.dhcp_device
        found["dhcp"] = await l2probe.dhcp_discover(device.name, device.mac or "", settings.dhcp_timeout_s)
    return found


async def check_both_ways(
    settings: DiagnosisSettings, servers: list[str], references: list[str]
) -> tuple[HttpProbe, HttpProbe | None]:
    """The connectivity check at the address the user's resolvers give (the reference's only if they give
    none) and, when the reference resolvers give a different address, at that one too — both at once, so a
    DNS lie about the check host itself shows up without costing a second timeout."""
    host = urlsplit(settings.check_url).hostname or ""
    timeout = settings.dns_timeout_s
    if netprobe.is_ip(host):
        literal = netprobe.http_check(
            settings.check_url, settings.check_expect, _resolved(host, "literal"), settings.http_timeout_s
        )
        return await literal, None
    configured = asyncio.ensure_future(netprobe.first_address(servers, host, timeout) if servers else _none())
    reference = asyncio.ensure_future(
        netprobe.first_address(references, host, timeout) if references else _none()
    )

    async def primary() -> tuple[str | None, str | None]:
        address = await configured
        if address is not None:
            return address, "configured"
        fallback = await reference
        return (fallback, "reference") if fallback is not None else (None, None)

    async def second() -> HttpProbe | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.http_timeout_s):
                mine, theirs = await asyncio.gather(configured, reference)
                if theirs is None or mine is None or mine == theirs:
                    return None
                return await netprobe.http_check(
                    settings.check_url, settings.check_expect, _resolved(theirs, "reference"),
                    settings.http_timeout_s,
                )  # fmt: skip
        return None

    try:
        main, other = await asyncio.gather(
            netprobe.http_check(
                settings.check_url, settings.check_expect, primary(), settings.http_timeout_s
            ),
            second(),
        )
    finally:
        configured.cancel()
        reference.cancel()
    return main, other


async def _resolved(address: str, via: str) -> tuple[str | None, str | None]:
    return address, via


async def gather_facts(settings: DiagnosisSettings, local: LocalFacts | None = None) -> Facts:
    local = local if local is not None else read_local_facts()
    thresholds = Facts(
        local=local, dns_slow_ms=settings.dns_slow_ms, gateway_slow_ms=settings.gateway_slow_ms
    )
    iface = rules.choose_interface(local, settings.interface)
    if iface is None or not rules.needs_active_probes(local, settings.interface):
        found = await link_probes(settings, local) if iface is not None else {}
        return thresholds.model_copy(
            update={"interface": settings.interface, "active_probes": False, **found}
        )
    upper = rules.judged_interface(local, settings.interface) or iface
    gateway = rules.default_gateway(local, upper.name)
    servers = list(local.resolvers.servers)
    references = list(settings.reference_dns)
    nonexistent = f"rme-nx-{secrets.token_hex(6)}.{settings.nx_suffix}"
    target = settings.path_target() if settings.path_probes else None
    ipv6_on = bool(upper.ipv6) and upper.name in local.ipv6_default_route

    core = asyncio.gather(
        probe_gateway(gateway, upper, settings.gateway_timeout_s) if gateway else _none(),
        asyncio.gather(
            *(
                netprobe.probe_resolver(s, settings.known_names, nonexistent, settings.dns_timeout_s)
                for s in servers
            )
        ),
        asyncio.gather(
            *(
                netprobe.probe_resolver(s, settings.known_names, None, settings.dns_timeout_s)
                for s in references
            )
        ),
        asyncio.gather(
            *(netprobe.tcp_probe(h, p, settings.tcp_timeout_s) for h, p in settings.tcp_targets())
        ),
        check_both_ways(settings, servers, references),
        detect_conflicts(local, upper),
    )
    path = asyncio.gather(
        pathprobe.mtu_probe(target, upper.mtu, settings.mtu_timeout_s) if target else _none(),
        pathprobe.second_hop(target, settings.gateway_timeout_s) if target and gateway else _none(),
        asyncio.gather(
            *(reach_tcp(h, 53, settings.tcp_timeout_s) for h in settings.reference_ipv6 if ipv6_on)
        ),
        asyncio.gather(
            *(pathprobe.proxy_probe(p, settings.check_url, settings.http_timeout_s) for p in local.proxies)
        ),
    )
    (
        (gateway_probe, resolver_probes, reference_probes, tcp_probes, checks, local),
        (mtu, hop, ipv6, proxies),
    ) = await asyncio.gather(core, path)
    http_probe, http_reference = checks
    return thresholds.model_copy(
        update={
            "local": local,
            "interface": settings.interface,
            "gateway": gateway_probe,
            "resolvers": tuple(resolver_probes),
            "references": tuple(reference_probes),
            "tcp": tuple(tcp_probes),
            "http": http_probe,
            "http_reference": http_reference,
            "mtu": mtu,
            "second_hop": hop,
            "ipv6": tuple(ipv6),
            "proxies": tuple(proxies),
        }
    )


async def diagnose(settings: DiagnosisSettings) -> tuple[Facts, rules.Diagnosis, int]:
    """Facts, their judgement, and the wall time in milliseconds."""
    start = time.perf_counter()
    facts = await gather_facts(settings)
    diagnosis = rules.judge(facts)
    return facts, diagnosis, round((time.perf_counter() - start) * 1000)
