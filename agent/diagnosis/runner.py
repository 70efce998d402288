"""The imperative shell: read local facts, run every independent active probe at once (each with a hard
timeout_s), hand the facts to the rules.

Budget: local facts take milliseconds; the active phase takes as long as its slowest probe, bounded by
`http_timeout_s` (the connectivity check includes its own name lookup). A healthy network answers every
probe in a few milliseconds; a fault costs at most one timeout_s, never a sum of them.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from agent.diagnosis import arp, linux, macos, netprobe, rules, windows
from agent.diagnosis.config import DiagnosisSettings
from agent.diagnosis.facts import Facts, GatewayProbe, Interface, LocalFacts, ProbeMethod

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


async def gather_facts(settings: DiagnosisSettings, local: LocalFacts | None = None) -> Facts:
    local = local if local is not None else read_local_facts()
    thresholds = Facts(
        local=local, dns_slow_ms=settings.dns_slow_ms, gateway_slow_ms=settings.gateway_slow_ms
    )
    iface = rules.choose_interface(local, settings.interface)
    if iface is None or not rules.needs_active_probes(local, settings.interface):
        return thresholds.model_copy(update={"interface": settings.interface, "active_probes": False})
    gateway = rules.default_gateway(local, iface.name)
    servers = list(local.resolvers.servers)
    references = list(settings.reference_dns)
    nonexistent = f"rme-nx-{secrets.token_hex(6)}.{settings.nx_suffix}"
    host = urlsplit(settings.check_url).hostname or ""

    async def no_gateway() -> GatewayProbe | None:
        return None

    results = await asyncio.gather(
        probe_gateway(gateway, iface, settings.gateway_timeout_s) if gateway else no_gateway(),
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
        netprobe.http_check(
            settings.check_url,
            settings.check_expect,
            netprobe.resolve_for_check(host, servers, references, settings.dns_timeout_s),
            settings.http_timeout_s,
        ),
        detect_conflicts(local, iface),
    )
    gateway_probe, resolver_probes, reference_probes, tcp_probes, http_probe, local = results
    return thresholds.model_copy(
        update={
            "local": local,
            "interface": settings.interface,
            "gateway": gateway_probe,
            "resolvers": tuple(resolver_probes),
            "references": tuple(reference_probes),
            "tcp": tuple(tcp_probes),
            "http": http_probe,
        }
    )


async def diagnose(settings: DiagnosisSettings) -> tuple[Facts, rules.Diagnosis, int]:
    """Facts, their judgement, and the wall time in milliseconds."""
    start = time.perf_counter()
    facts = await gather_facts(settings)
    diagnosis = rules.judge(facts)
    return facts, diagnosis, round((time.perf_counter() - start) * 1000)
