"""The local layers: which adapter to judge, then adapter → link (cable or Wi-Fi association) → dial-up
session (PPPoE) → DHCP → IPv4 address → default route. Pure.

Everything here is decided from `LocalFacts` plus the two link-layer probes that need no IP address
(PPPoE discovery, a DHCP discover): they run only when local facts already stop at this layer, so a
local fault still sends no IP packet at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from agent.diagnosis import dialup, texts, wifi
from agent.diagnosis.facts import DhcpProbe, Dialer, Interface, LocalFacts, PppoeDiscovery, WifiLink
from agent.diagnosis.judgement import Judgement, fail, ok, skipped

LOCAL_CHECKS = ("nic.present", "nic.enabled", "nic.driver", "link.carrier", "ip.address", "route.default")
# Shown only when they apply (a dialer is configured; DHCP was probed).
OPTIONAL_LOCAL = ("pppoe.session", "dhcp.offer")


def adapters(local: LocalFacts) -> list[Interface]:
    """The interfaces that are network adapters a user could mean (no bridges, tunnels or loopback)."""
    return [i for i in local.interfaces if i.kind != "virtual"]


def choose_interface(local: LocalFacts, wanted: str | None = None) -> Interface | None:
    """The adapter to judge: the one asked for, else the default route's, else a down dialer's adapter,
    else the most alive one."""
    candidates = adapters(local)
    if wanted is not None:
        return next((i for i in local.interfaces if i.name == wanted), None)
    by_name = {i.name: i for i in candidates}
    for route in sorted(local.default_routes, key=lambda r: r.metric):
        if route.interface in by_name:
            return by_name[route.interface]
    for dialer in local.dialers:
        if dialer.device in by_name and not _dormant(local, dialer):
            return by_name[dialer.device]

    def liveliness(i: Interface) -> tuple[bool, bool, bool, bool]:
        usable = any(not a.is_apipa for a in i.ipv4)
        return (i.admin_up, i.carrier is not False, usable, i.kind == "ethernet")

    return max(candidates, key=liveliness, default=None)


def _dormant(local: LocalFacts, dialer: Dialer) -> bool:
    """A dialer that is not in use: down, over an adapter that has its own address and default route
    (a PC behind a router with a leftover PPPoE configuration, such as Debian's `dsl-provider`)."""
    if dialer.connected:
        return False
    device = next((i for i in local.interfaces if i.name == dialer.device), None)
    if device is None:
        return False
    routed = any(r.interface == device.name and r.gateway for r in local.default_routes)
    return routed and any(not a.is_apipa for a in device.ipv4)


def dialer_for(local: LocalFacts, iface: Interface) -> Dialer | None:
    """The PPPoE dialer that runs over (or as) this adapter, unless it is dormant."""
    dialers = [d for d in local.dialers if not _dormant(local, d)]
    for dialer in dialers:
        if iface.name in (dialer.device, dialer.interface):
            return dialer
    if iface.kind == "ppp" and len(dialers) == 1:
        return dialers[0]
    return None


def ppp_interface(local: LocalFacts, dialer: Dialer) -> Interface | None:
    ppps = [i for i in local.interfaces if i.kind == "ppp" and i.admin_up]
    named = next((i for i in ppps if i.name == dialer.interface), None)
    return named or (ppps[0] if len(ppps) == 1 else None)


def wifi_link(local: LocalFacts, iface: Interface) -> WifiLink | None:
    return next((w for w in local.wifi if w.interface == iface.name), None)


@dataclass(frozen=True)
class LinkProbes:
    """Which probes below IP the runner should send: PPPoE discovery, a DHCP discover."""

    pppoe_device: Interface | None = None
    dhcp_device: Interface | None = None


def plan_link_probes(local: LocalFacts, wanted: str | None = None) -> LinkProbes:
    judged = judge_local(local, wanted)
    iface = choose_interface(local, wanted)
    if iface is None or any(j.check == "link.carrier" and j.status == "fail" for j in judged):
        return LinkProbes()
    dialer = dialer_for(local, iface)
    session = next((j for j in judged if j.check == "pppoe.session"), None)
    if dialer is not None and session is not None and session.status == "fail":
        device = next((i for i in local.interfaces if i.name == dialer.device), None)
        return LinkProbes(pppoe_device=device if device is not None and device.mac else None)
    address = next((j for j in judged if j.check == "ip.address"), None)
    if address is not None and address.code in ("ip.none", "ip.apipa") and iface.kind != "ppp" and iface.mac:
        return LinkProbes(dhcp_device=iface)
    return LinkProbes()


def judge_local(
    local: LocalFacts,
    wanted: str | None = None,
    pppoe: PppoeDiscovery | None = None,
    dhcp: DhcpProbe | None = None,
) -> list[Judgement]:
    """Adapter → link → dial-up → address → default route. Stops at the first failure."""
    out: list[Judgement] = []
    iface = choose_interface(local, wanted)
    if iface is None:
        names: list[JsonValue] = [i.name for i in local.interfaces]
        if wanted is not None:
            evidence: dict[str, JsonValue] = {"wanted": wanted, "seen": names}
            out.append(fail("nic.present", "nic.none", texts.NIC_NONE_NAMED, evidence, name=wanted))
        else:
            out.append(fail("nic.present", "nic.none", texts.NIC_NONE, {"seen": names}))
        return out
    name = iface.name
    evidence = {"interface": name, "kind": iface.kind}
    if iface.description:
        evidence["description"] = iface.description
    out.append(ok("nic.present", texts.NIC_PRESENT, evidence, name=name))
    if not iface.admin_up:
        out.append(fail("nic.enabled", "nic.disabled", texts.NIC_DISABLED, {"admin_up": False}, name=name))
        return out
    out.append(ok("nic.enabled", texts.NIC_ENABLED, {"admin_up": True}, name=name))
    if not iface.driver_ok:
        error = iface.driver_error or "?"
        out.append(
            fail("nic.driver", "nic.driver", texts.NIC_DRIVER, {"error": error}, name=name, error=error)
        )
        return out
    out.append(ok("nic.driver", texts.NIC_DRIVER_OK))
    link = _judge_link(local, iface)
    out.append(link)
    if link.status == "fail":
        return out
    dialer = dialer_for(local, iface)
    if dialer is not None:
        ppp = ppp_interface(local, dialer)
        session = dialup.judge_dialer(dialer, ppp, pppoe)
        out.append(session)
        if session.status == "fail" or ppp is None:
            return out
        iface = ppp
    address = _judge_address(iface)
    out.append(address)
    if address.status == "fail" and address.code in ("ip.none", "ip.apipa"):
        if dhcp is not None:
            out.append(_judge_dhcp(dhcp))
        return out
    out.append(_judge_route(local, iface))
    return out


def _judge_link(local: LocalFacts, iface: Interface) -> Judgement:
    name = iface.name
    link = wifi_link(local, iface) if iface.kind == "wifi" else None
    if link is not None:
        return wifi.judge_association(iface, link)
    if iface.carrier is False:
        text = texts.WIFI_DOWN if iface.kind == "wifi" else texts.LINK_DOWN
        return fail("link.carrier", "link.down", text, {"carrier": False}, name=name)
    if iface.carrier is None:
        return Judgement("link.carrier", "warn", texts.LINK_UNKNOWN, {"name": name})
    link_evidence: dict[str, JsonValue] = {"carrier": True}
    if iface.wifi_ssid:
        link_evidence["ssid"] = iface.wifi_ssid
    return ok("link.carrier", texts.LINK_UP, link_evidence, name=name)


def _judge_dhcp(probe: DhcpProbe) -> Judgement:
    evidence: dict[str, JsonValue] = {
        "interface": probe.interface,
        "answered": probe.answered,
        "server": probe.server,
        "offered": probe.offered,
        "router": probe.router,
        "dns": list[JsonValue](probe.dns),
        "latency_ms": probe.latency_ms,
        "error": probe.error,
    }
    if probe.error is not None:
        return skipped("dhcp.offer", texts.SKIP_NO_PROBE)
    if probe.answered:
        return ok(
            "dhcp.offer",
            texts.DHCP_OFFERED,
            evidence,
            server=probe.server or "?",
            offered=probe.offered or "?",
        )
    waited = f"{probe.latency_ms / 1000:.1f} s" if probe.latency_ms is not None else "?"
    return fail(
        "dhcp.offer",
        "dhcp.no_answer",
        texts.DHCP_NO_ANSWER,
        evidence,
        interface=probe.interface,
        waited=waited,
    )


def _judge_address(iface: Interface) -> Judgement:
    addresses: list[JsonValue] = [f"{a.address}/{a.prefix}" for a in iface.ipv4]
    evidence: dict[str, JsonValue] = {"ipv4": addresses}
    if not iface.ipv4:
        return fail("ip.address", "ip.none", texts.IP_NONE, evidence, name=iface.name)
    usable = [a for a in iface.ipv4 if not a.is_apipa]
    if not usable:
        address = iface.ipv4[0].address
        return fail("ip.address", "ip.apipa", texts.IP_APIPA, evidence, name=iface.name, address=address)
    duplicate = next((a for a in usable if a.duplicate), None)
    if duplicate is not None:
        return fail("ip.address", "ip.conflict", texts.IP_CONFLICT, evidence, address=duplicate.address)
    return ok("ip.address", texts.IP_OK, evidence, name=iface.name, address=usable[0].address)


def _judge_route(local: LocalFacts, iface: Interface) -> Judgement:
    routes = [r for r in local.default_routes if r.interface == iface.name]
    if not routes:
        others: list[JsonValue] = [r.interface for r in local.default_routes]
        return fail("route.default", "route.no_default", texts.ROUTE_NONE, {"other_interfaces": others})
    route = min(routes, key=lambda r: r.metric)
    if route.gateway is None:
        return ok("route.default", texts.ROUTE_PPP, {"gateway": None}, name=iface.name)
    return ok("route.default", texts.ROUTE_OK, {"gateway": route.gateway}, gateway=route.gateway)


def judged_interface(local: LocalFacts, wanted: str | None = None) -> Interface | None:
    """The interface whose address and route the upper layers use: a connected dialer's PPP interface
    rather than the Ethernet adapter under it."""
    iface = choose_interface(local, wanted)
    if iface is None:
        return None
    dialer = dialer_for(local, iface)
    if dialer is not None:
        return ppp_interface(local, dialer) or iface
    return iface


def needs_active_probes(local: LocalFacts, wanted: str | None = None) -> bool:
    """False when the local layers already fail below the gateway (no packet could get out)."""
    return not any(j.status == "fail" and j.code != "ip.conflict" for j in judge_local(local, wanted))


def default_gateway(local: LocalFacts, interface: str | None) -> str | None:
    routes = [r for r in local.default_routes if r.interface == interface and r.gateway]
    return min(routes, key=lambda r: r.metric).gateway if routes else None
