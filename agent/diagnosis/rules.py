"""The functional core: facts in, judgements and a root cause out. No I/O, no clock, no randomness.

Theory of operation
-------------------
Checks are judged bottom-up in the layer order of `protocol.report.ROOT_CAUSE_CODES`: adapter, link, IPv4
address, default route, gateway, resolvers, the internet by IP, DNS answers and their honesty, the HTTP
connectivity check. Local layers (adapter … route) are decided from `LocalFacts` alone; when one fails,
the runner does not send a single packet (`needs_active_probes`) and every later check is `skipped`.

Some codes are only meaningful given another fact, so the rules say so explicitly:
- `dns.unreachable` needs the internet to answer by IP (else it is `internet.unreachable`);
- a gateway that ignores every probe is not a fault if anything beyond it answers;
- an HTTP answer that is not the expected body means a captive portal, which also explains probes by IP
  being blocked.
The root cause is the failing code that comes first in layer order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue

from agent.diagnosis import texts
from agent.diagnosis.facts import DnsAnswer, Facts, HttpProbe, Interface, LocalFacts, ResolverProbe
from agent.i18n import Text
from protocol.report import ROOT_CAUSE_CODES, FindingStatus, Verdict

# The repair (from `agent.repairs.catalogue`) that addresses each code.
REPAIR_FOR: Mapping[str, str] = {
    "nic.disabled": "nic.enable",
    "nic.driver": "nic.restart",
    "ip.none": "dhcp.renew",
    "ip.apipa": "dhcp.renew",
    "ip.conflict": "dhcp.renew",
    "route.no_default": "dhcp.renew",
    "gateway.unreachable": "nic.restart",
    "dns.none": "dns.set_reference",
    "dns.unreachable": "dns.set_reference",
    "dns.hijack": "dns.set_reference",
    "dns.slow": "dns.set_reference",
}

ACTIVE_CHECKS = (
    "gateway.reach",
    "dns.configured",
    "internet.ip",
    "dns.answer",
    "dns.integrity",
    "dns.latency",
    "internet.http",
)
LOCAL_CHECKS = ("nic.present", "nic.enabled", "nic.driver", "link.carrier", "ip.address", "route.default")


@dataclass(frozen=True)
class Judgement:
    """One finding before it is put into words: `text` is rendered with `fields` in the user's language."""

    check: str
    status: FindingStatus
    text: Text
    fields: Mapping[str, str | Text] = field(default_factory=dict)
    code: str | None = None
    evidence: dict[str, JsonValue] = field(default_factory=dict)
    repair: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    verdict: Verdict
    root_cause: str | None
    judgements: tuple[Judgement, ...]
    interface: str | None


def _fail(
    check: str, code: str, text: Text, evidence: dict[str, JsonValue] | None = None, **fields: str | Text
) -> Judgement:
    return Judgement(check, "fail", text, fields, code, evidence or {}, REPAIR_FOR.get(code))


def _ok(
    check: str, text: Text, evidence: dict[str, JsonValue] | None = None, **fields: str | Text
) -> Judgement:
    return Judgement(check, "ok", text, fields, None, evidence or {})


def _skipped(check: str, reason: Text) -> Judgement:
    return Judgement(check, "skipped", texts.SKIPPED, {"reason": reason})


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


# --- choosing the adapter ---------------------------------------------------------------------------------


def adapters(local: LocalFacts) -> list[Interface]:
    """The interfaces that are network adapters a user could mean (no bridges, tunnels or loopback)."""
    return [i for i in local.interfaces if i.kind != "virtual"]


def choose_interface(local: LocalFacts, wanted: str | None = None) -> Interface | None:
    """The adapter to judge: the one asked for, else the default route's, else the most alive one."""
    candidates = adapters(local)
    if wanted is not None:
        return next((i for i in local.interfaces if i.name == wanted), None)
    by_name = {i.name: i for i in candidates}
    for route in sorted(local.default_routes, key=lambda r: r.metric):
        if route.interface in by_name:
            return by_name[route.interface]

    def liveliness(i: Interface) -> tuple[bool, bool, bool, bool]:
        usable = any(not a.is_apipa for a in i.ipv4)
        return (i.admin_up, i.carrier is not False, usable, i.kind == "ethernet")

    return max(candidates, key=liveliness, default=None)


# --- local layers -----------------------------------------------------------------------------------------


def judge_local(local: LocalFacts, wanted: str | None = None) -> list[Judgement]:
    """Adapter → link → address → default route. Stops at the first failure (later ones are skipped)."""
    out: list[Judgement] = []
    iface = choose_interface(local, wanted)
    if iface is None:
        names: list[JsonValue] = [i.name for i in local.interfaces]
        if wanted is not None:
            out.append(
                _fail(
                    "nic.present",
                    "nic.none",
                    texts.NIC_NONE_NAMED,
                    {"wanted": wanted, "seen": names},
                    name=wanted,
                )
            )
        else:
            out.append(_fail("nic.present", "nic.none", texts.NIC_NONE, {"seen": names}))
        return out
    name = iface.name
    evidence: dict[str, JsonValue] = {"interface": name, "kind": iface.kind}
    if iface.description:
        evidence["description"] = iface.description
    out.append(_ok("nic.present", texts.NIC_PRESENT, evidence, name=name))
    if not iface.admin_up:
        out.append(_fail("nic.enabled", "nic.disabled", texts.NIC_DISABLED, {"admin_up": False}, name=name))
        return out
    out.append(_ok("nic.enabled", texts.NIC_ENABLED, {"admin_up": True}, name=name))
    if not iface.driver_ok:
        error = iface.driver_error or "?"
        out.append(
            _fail("nic.driver", "nic.driver", texts.NIC_DRIVER, {"error": error}, name=name, error=error)
        )
        return out
    out.append(_ok("nic.driver", texts.NIC_DRIVER_OK))
    if iface.carrier is False:
        text = texts.WIFI_DOWN if iface.kind == "wifi" else texts.LINK_DOWN
        out.append(_fail("link.carrier", "link.down", text, {"carrier": False}, name=name))
        return out
    if iface.carrier is None:
        out.append(Judgement("link.carrier", "warn", texts.LINK_UNKNOWN, {"name": name}))
    else:
        link_evidence: dict[str, JsonValue] = {"carrier": True}
        if iface.wifi_ssid:
            link_evidence["ssid"] = iface.wifi_ssid
        out.append(_ok("link.carrier", texts.LINK_UP, link_evidence, name=name))
    out.append(_judge_address(iface))
    if out[-1].status == "fail" and out[-1].code in ("ip.none", "ip.apipa"):
        return out
    out.append(_judge_route(local, iface))
    return out


def _judge_address(iface: Interface) -> Judgement:
    addresses: list[JsonValue] = [f"{a.address}/{a.prefix}" for a in iface.ipv4]
    evidence: dict[str, JsonValue] = {"ipv4": addresses}
    if not iface.ipv4:
        return _fail("ip.address", "ip.none", texts.IP_NONE, evidence, name=iface.name)
    usable = [a for a in iface.ipv4 if not a.is_apipa]
    if not usable:
        return _fail(
            "ip.address", "ip.apipa", texts.IP_APIPA, evidence, name=iface.name, address=iface.ipv4[0].address
        )
    duplicate = next((a for a in usable if a.duplicate), None)
    if duplicate is not None:
        return _fail("ip.address", "ip.conflict", texts.IP_CONFLICT, evidence, address=duplicate.address)
    return _ok("ip.address", texts.IP_OK, evidence, name=iface.name, address=usable[0].address)


def _judge_route(local: LocalFacts, iface: Interface) -> Judgement:
    routes = [r for r in local.default_routes if r.interface == iface.name]
    if not routes:
        others: list[JsonValue] = [r.interface for r in local.default_routes]
        return _fail("route.default", "route.no_default", texts.ROUTE_NONE, {"other_interfaces": others})
    route = min(routes, key=lambda r: r.metric)
    if route.gateway is None:
        return _ok("route.default", texts.ROUTE_PPP, {"gateway": None}, name=iface.name)
    return _ok("route.default", texts.ROUTE_OK, {"gateway": route.gateway}, gateway=route.gateway)


def needs_active_probes(local: LocalFacts, wanted: str | None = None) -> bool:
    """False when the local layers already fail below the gateway (no packet could get out)."""
    return not any(j.status == "fail" and j.code != "ip.conflict" for j in judge_local(local, wanted))


def default_gateway(local: LocalFacts, interface: str | None) -> str | None:
    routes = [r for r in local.default_routes if r.interface == interface and r.gateway]
    return min(routes, key=lambda r: r.metric).gateway if routes else None


# --- active layers ----------------------------------------------------------------------------------------


def _http_ok(http: HttpProbe | None) -> bool:
    return http is not None and http.status == 200 and http.body_matches


def _captive(http: HttpProbe | None) -> bool:
    """Something answered the check URL, but not with the expected page: a redirect or another body."""
    return http is not None and http.status is not None and not _http_ok(http)


def _internet_by_ip(facts: Facts) -> bool:
    return any(t.ok for t in facts.tcp) or any(r.answering for r in facts.references)


def _judge_gateway(facts: Facts, beyond_answers: bool) -> Judgement:
    probe = facts.gateway
    if probe is None:
        return _ok("gateway.reach", texts.GATEWAY_NONE)
    evidence: dict[str, JsonValue] = {
        "gateway": probe.gateway,
        "method": probe.method,
        "icmp_answered": probe.icmp_answered,
        "rtt_ms": probe.rtt_ms,
    }
    if probe.answered:
        if probe.method == "icmp" and probe.rtt_ms is not None and probe.rtt_ms > facts.gateway_slow_ms:
            return Judgement(
                "gateway.reach",
                "warn",
                texts.GATEWAY_SLOW,
                {"gateway": probe.gateway, "rtt": _ms(probe.rtt_ms)},
                "gateway.slow",
                evidence,
            )
        if probe.icmp_answered is False:
            return _ok("gateway.reach", texts.GATEWAY_NO_PING, evidence, gateway=probe.gateway)
        return _ok(
            "gateway.reach",
            texts.GATEWAY_OK,
            evidence,
            gateway=probe.gateway,
            rtt=_ms(probe.rtt_ms) if probe.method == "icmp" else probe.method or "",
        )
    if beyond_answers:
        return _ok("gateway.reach", texts.GATEWAY_SILENT_OK, evidence, gateway=probe.gateway)
    return _fail(
        "gateway.reach", "gateway.unreachable", texts.GATEWAY_UNREACHABLE, evidence, gateway=probe.gateway
    )


def _judge_internet_ip(facts: Facts) -> Judgement:
    evidence: dict[str, JsonValue] = {
        "tcp": {t.target: t.ok for t in facts.tcp},
        "reference_dns": {r.server: r.answering for r in facts.references},
    }
    winner = next((t.target for t in facts.tcp if t.ok), None) or next(
        (f"DNS {r.server}" for r in facts.references if r.answering), None
    )
    if winner is not None:
        return _ok("internet.ip", texts.INTERNET_IP_OK, evidence, target=winner)
    if _captive(facts.http):
        return Judgement("internet.ip", "warn", texts.INTERNET_IP_PORTAL, {}, None, evidence)
    if _http_ok(facts.http):
        return _ok("internet.ip", texts.INTERNET_IP_WEB_ONLY, evidence)
    targets = ", ".join([t.target for t in facts.tcp] + [r.server for r in facts.references])
    return _fail("internet.ip", "internet.unreachable", texts.INTERNET_UNREACHABLE, evidence, targets=targets)


def _judge_dns_answer(facts: Facts, servers: Sequence[str]) -> Judgement:
    answering = [r.server for r in facts.resolvers if r.answering]
    evidence: dict[str, JsonValue] = {
        "answering": list[JsonValue](answering),
        "silent": [s for s in servers if s not in answering],
    }
    errors: dict[str, JsonValue] = {
        r.server: next((a.error or a.rcode for a in r.known if not a.resolved), None)
        for r in facts.resolvers
        if not r.answering
    }
    if errors:
        evidence["errors"] = errors
    if answering:
        return _ok("dns.answer", texts.DNS_OK, evidence, servers=", ".join(answering))
    if _internet_by_ip(facts):
        return _fail(
            "dns.answer", "dns.unreachable", texts.DNS_UNREACHABLE, evidence, servers=", ".join(servers)
        )
    return Judgement(
        "dns.answer", "fail", texts.DNS_SILENT_OFFLINE, {"servers": ", ".join(servers)}, None, evidence
    )


def _reference_addresses(references: Sequence[ResolverProbe]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for probe in references:
        for answer in probe.known:
            if answer.rcode == "NOERROR" and answer.addresses:
                seen.setdefault(answer.name.lower(), set()).update(answer.addresses)
    return seen


def _judge_integrity(facts: Facts) -> Judgement:
    reference = _reference_addresses(facts.references)
    for probe in facts.resolvers:
        nx = probe.nonexistent
        if nx is not None and nx.rcode == "NOERROR" and nx.addresses:
            return _fail(
                "dns.integrity",
                "dns.hijack",
                texts.DNS_NX_HIJACK,
                {
                    "server": probe.server,
                    "name": nx.name,
                    "addresses": list(nx.addresses),
                    "kind": "nxdomain",
                },
                server=probe.server,
                name=nx.name,
                addresses=", ".join(nx.addresses),
            )
        for answer in probe.known:
            expected = reference.get(answer.name.lower())
            if (
                expected
                and answer.rcode == "NOERROR"
                and answer.addresses
                and not expected & set(answer.addresses)
            ):
                return _fail(
                    "dns.integrity",
                    "dns.hijack",
                    texts.DNS_LIE,
                    {
                        "server": probe.server,
                        "name": answer.name,
                        "addresses": list(answer.addresses),
                        "expected": list[JsonValue](sorted(expected)),
                        "kind": "mismatch",
                    },
                    server=probe.server,
                    name=answer.name,
                    addresses=", ".join(answer.addresses),
                    expected=", ".join(sorted(expected)),
                )
    if not reference:
        return Judgement("dns.integrity", "ok", texts.DNS_UNCOMPARED)
    return _ok("dns.integrity", texts.DNS_HONEST, {"compared": list[JsonValue](sorted(reference))})


def _latency(answers: Sequence[DnsAnswer]) -> float | None:
    values = [a.latency_ms for a in answers if a.resolved and a.latency_ms is not None]
    return max(values) if values else None


def _judge_latency(facts: Facts) -> Judgement:
    # The first answering server is the one the system asks first: its speed is what the user feels.
    probe = next(r for r in facts.resolvers if r.answering)
    latency = _latency([*probe.known, *([probe.nonexistent] if probe.nonexistent else [])])
    evidence: dict[str, JsonValue] = {
        "server": probe.server,
        "latency_ms": latency,
        "threshold_ms": facts.dns_slow_ms,
    }
    if latency is not None and latency > facts.dns_slow_ms:
        return Judgement(
            "dns.latency",
            "warn",
            texts.DNS_SLOW,
            {"server": probe.server, "latency": _ms(latency)},
            "dns.slow",
            evidence,
            REPAIR_FOR["dns.slow"],
        )
    return _ok("dns.latency", texts.DNS_FAST, evidence, latency=_ms(latency))


def _judge_http(http: HttpProbe) -> Judgement:
    evidence: dict[str, JsonValue] = {
        "url": http.url,
        "address": http.address,
        "resolved_via": http.resolved_via,
        "status": http.status,
        "latency_ms": http.latency_ms,
    }
    if _http_ok(http):
        return _ok("internet.http", texts.HTTP_OK, evidence, url=http.url)
    if _captive(http):
        evidence.update(location=http.location, body_excerpt=http.body_excerpt)
        detail = f"HTTP {http.status}" + (f" → {http.location}" if http.location else "")
        return _fail("internet.http", "internet.captive_portal", texts.HTTP_PORTAL, evidence, detail=detail)
    evidence["error"] = http.error
    return Judgement("internet.http", "fail", texts.HTTP_FAILED, {"error": http.error or "?"}, None, evidence)


def judge_active(facts: Facts) -> list[Judgement]:
    beyond = _internet_by_ip(facts) or _http_ok(facts.http) or _captive(facts.http)
    out = [_judge_gateway(facts, beyond)]
    servers = list(facts.local.resolvers.servers)
    dns_evidence: dict[str, JsonValue] = {
        "servers": list[JsonValue](servers),
        "source": facts.local.resolvers.source,
    }
    if facts.local.resolvers.stub:
        dns_evidence["stub"] = facts.local.resolvers.stub
    if servers:
        out.append(_ok("dns.configured", texts.DNS_CONFIGURED, dns_evidence, servers=", ".join(servers)))
    else:
        out.append(_fail("dns.configured", "dns.none", texts.DNS_NONE, dns_evidence))
    out.append(_judge_internet_ip(facts))
    if not servers:
        out += [_skipped(c, texts.SKIP_NO_RESOLVERS) for c in ("dns.answer", "dns.integrity", "dns.latency")]
    else:
        out.append(_judge_dns_answer(facts, servers))
        if any(r.answering for r in facts.resolvers):
            out += [_judge_integrity(facts), _judge_latency(facts)]
        else:
            out += [_skipped(c, texts.SKIP_NO_ANSWER) for c in ("dns.integrity", "dns.latency")]
    out.append(
        _judge_http(facts.http) if facts.http is not None else _skipped("internet.http", texts.SKIP_NO_CHECK)
    )
    return out


# --- the whole ---------------------------------------------------------------------------------------------


def root_cause(judgements: Sequence[Judgement]) -> str | None:
    failing = {j.code for j in judgements if j.status == "fail" and j.code in ROOT_CAUSE_CODES}
    return next((code for code in ROOT_CAUSE_CODES if code in failing), None)


def judge(facts: Facts) -> Diagnosis:
    """Facts → every check's judgement, the root cause and the verdict."""
    local = judge_local(facts.local, facts.interface)
    local_failed = any(j.status == "fail" and j.code != "ip.conflict" for j in local)
    done = {j.check for j in local}
    judgements = list(local)
    judgements += [_skipped(c, texts.SKIP_BELOW) for c in LOCAL_CHECKS if c not in done]
    if local_failed or not facts.active_probes:
        judgements += [_skipped(c, texts.SKIP_BELOW) for c in ACTIVE_CHECKS]
    else:
        judgements += judge_active(facts)
    cause = root_cause(judgements)
    # "Usable" means a browser would work as configured: the check page loaded via the user's own resolvers.
    usable = _http_ok(facts.http) and facts.http is not None and facts.http.resolved_via != "reference"
    verdict: Verdict
    if cause is not None:
        verdict = "degraded" if usable else "offline"
    elif any(j.status in ("warn", "fail") for j in judgements):
        verdict = "degraded"
    else:
        verdict = "ok"
    chosen = choose_interface(facts.local, facts.interface)
    return Diagnosis(verdict, cause, tuple(judgements), chosen.name if chosen else facts.interface)
