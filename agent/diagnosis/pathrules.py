"""Rules above the plain "is the internet there" layers: the path MTU, IPv6, the system proxy, a second
router (double NAT), a DNS lie about the check host itself, and the last resort — a failing check that
nothing below explains is `internet.upstream_unknown`, never a null cause.

Each function takes facts and returns a judgement (or None when there is nothing to judge). Pure.
"""

from __future__ import annotations

import ipaddress

from pydantic import JsonValue

from agent.diagnosis import texts
from agent.diagnosis.facts import Facts, HttpProbe, MtuProbe, ProxyProbe
from agent.diagnosis.judgement import Judgement, fail, ok, warn


def _http_ok(http: HttpProbe | None) -> bool:
    return http is not None and http.status == 200 and http.body_matches


# --- MTU ---------------------------------------------------------------------------------------------------


def judge_mtu(probe: MtuProbe | None) -> Judgement | None:
    """A black hole: small echoes answer, the full-size one (with "don't fragment") vanishes, and no
    "fragmentation needed" comes back. A router that answers with frag-needed is doing its job."""
    if probe is None or probe.error is not None or not probe.small_ok:
        return None
    evidence: dict[str, JsonValue] = {
        "target": probe.target,
        "interface_mtu": probe.interface_mtu,
        "sizes": dict[str, JsonValue](probe.sizes),
        "frag_needed_mtu": probe.frag_needed_mtu,
        "largest_ok": probe.largest_ok,
    }
    largest_tried = probe.largest_tried
    if largest_tried is None:
        return None
    if probe.answered(largest_tried):
        return ok("mtu.path", texts.MTU_OK, evidence, size=str(largest_tried))
    if probe.frag_needed_mtu is not None:
        return ok("mtu.path", texts.MTU_PMTUD, evidence, mtu=str(probe.frag_needed_mtu))
    largest = probe.largest_ok
    if largest is None:
        return None  # only the tiny echo answers: not a size problem
    evidence["suggested_mtu"] = largest
    return fail("mtu.path", "mtu.blackhole", texts.MTU_BLACKHOLE, evidence, largest=str(largest))


# --- IPv6 --------------------------------------------------------------------------------------------------


def ipv6_configured(facts: Facts, interface: str | None) -> bool:
    iface = next((i for i in facts.local.interfaces if i.name == interface), None)
    return iface is not None and bool(iface.ipv6) and interface in facts.local.ipv6_default_route


def judge_ipv6(facts: Facts, interface: str | None, ipv4_works: bool) -> Judgement | None:
    if not facts.ipv6 or not ipv6_configured(facts, interface):
        return None
    evidence: dict[str, JsonValue] = {"tcp": {t.target: t.ok for t in facts.ipv6}}
    iface = next(i for i in facts.local.interfaces if i.name == interface)
    evidence["addresses"] = list[JsonValue](iface.ipv6)
    winner = next((t.target for t in facts.ipv6 if t.ok), None)
    if winner is not None:
        return ok("ipv6.reach", texts.IPV6_OK, evidence, target=winner)
    if not ipv4_works:
        return None  # nothing works: IPv6 is not the story
    evidence["errors"] = {t.target: t.error for t in facts.ipv6}
    targets = ", ".join(t.target for t in facts.ipv6)
    return fail("ipv6.reach", "ipv6.broken", texts.IPV6_BROKEN, evidence, targets=targets)


# --- proxy -------------------------------------------------------------------------------------------------


def proxy_works(probe: ProxyProbe) -> bool:
    """Reached, and not answering only with its own gateway error (5xx)."""
    return probe.connected and (probe.status or 0) < 500


def judge_proxy(facts: Facts) -> Judgement | None:
    if not facts.proxies:
        return None
    broken = next((p for p in facts.proxies if not proxy_works(p)), None)
    evidence: dict[str, JsonValue] = {
        "proxies": [
            {
                "proxy": p.proxy,
                "source": p.source,
                "connected": p.connected,
                "status": p.status,
                "error": p.error,
            }
            for p in facts.proxies
        ]
    }
    if broken is not None:
        return fail(
            "proxy.reach", "proxy.unreachable", texts.PROXY_UNREACHABLE, evidence,
            proxy=broken.proxy, source=broken.source, error=broken.error or f"HTTP {broken.status}",
        )  # fmt: skip
    return ok("proxy.reach", texts.PROXY_OK, evidence, proxy=facts.proxies[0].proxy)


# --- double NAT --------------------------------------------------------------------------------------------


def judge_double_nat(facts: Facts) -> Judgement | None:
    """The router after ours has a private (RFC 1918) address: a second home router. The provider's
    carrier-grade NAT (100.64.0.0/10) is not counted: the user cannot change it."""
    hop = facts.second_hop
    if hop is None:
        return None
    address = ipaddress.ip_address(hop)
    evidence: dict[str, JsonValue] = {"second_hop": hop}
    if address.is_private and address not in ipaddress.ip_network("100.64.0.0/10"):
        return warn("router.nat", "router.double_nat", texts.DOUBLE_NAT, evidence, hop=hop)
    return ok("router.nat", texts.DOUBLE_NAT_NONE, evidence, hop=hop)


# --- the check host's DNS, and the last resort ------------------------------------------------------------


def judge_check_host_lie(facts: Facts) -> Judgement | None:
    """The check failed at the address the user's resolvers gave, and works at the (different) address
    the reference resolvers give: the user's DNS lies about the very host we use."""
    http, ref = facts.http, facts.http_reference
    if http is None or ref is None or _http_ok(http) or not _http_ok(ref):
        return None
    if http.resolved_via != "configured" or http.address is None or http.address == ref.address:
        return None
    if http.status is not None:
        return None  # something answered the check at the forged address: that is the portal rule's case
    host = http.url.split("/")[2].split(":")[0]
    server = facts.local.resolvers.servers[0] if facts.local.resolvers.servers else "?"
    evidence: dict[str, JsonValue] = {
        "server": server,
        "name": host,
        "addresses": [http.address],
        "expected": [ref.address],
        "kind": "check_host",
        "error": http.error,
        "reference_check": "ok",
    }
    return fail(
        "dns.integrity", "dns.hijack", texts.DNS_CHECK_LIE, evidence,
        server=server, name=host, addresses=http.address, expected=ref.address or "?",
    )  # fmt: skip


def judge_upstream(facts: Facts, evidence: dict[str, JsonValue]) -> Judgement:
    http = facts.http
    error = "?" if http is None else (http.error or f"HTTP {http.status}")
    return fail(
        "internet.upstream", "internet.upstream_unknown", texts.UPSTREAM_UNKNOWN, evidence, error=error
    )
