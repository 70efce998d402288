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

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from agent.diagnosis import pathrules, texts, wifi
from agent.diagnosis.facts import DnsAnswer, Facts, HttpProbe, ResolverProbe
from agent.diagnosis.judgement import REPAIR_FOR, Judgement
from agent.diagnosis.judgement import fail as _fail
from agent.diagnosis.judgement import ms as _ms
from agent.diagnosis.judgement import ok as _ok
from agent.diagnosis.judgement import skipped as _skipped
from agent.diagnosis.linklayer import (
    LOCAL_CHECKS,
    OPTIONAL_LOCAL,
    adapters,
    choose_interface,
    default_gateway,
    judge_local,
    judged_interface,
    needs_active_probes,
    plan_link_probes,
    wifi_link,
)
from protocol.report import ROOT_CAUSE_CODES, Verdict

__all__ = [
    "LOCAL_CHECKS",
    "OPTIONAL_LOCAL",
    "REPAIR_FOR",
    "Diagnosis",
    "Judgement",
    "adapters",
    "choose_interface",
    "default_gateway",
    "judge",
    "judge_local",
    "judged_interface",
    "needs_active_probes",
    "plan_link_probes",
]

ACTIVE_CHECKS = (
    "gateway.reach",
    "dns.configured",
    "internet.ip",
    "dns.answer",
    "dns.integrity",
    "dns.latency",
    "internet.http",
)
# Shown only when they apply: the path MTU, IPv6, a proxy, the router after ours, the Wi-Fi radio, and
# the last resort when a failing check is explained by nothing else.
OPTIONAL_ACTIVE = (
    "mtu.path",
    "ipv6.reach",
    "proxy.reach",
    "router.nat",
    "wifi.signal",
    "wifi.channel",
    "internet.upstream",
)
# Failures a weak radio makes (lost frames): with a weak signal, the signal is their root cause.
WEAK_SIGNAL_EXPLAINS = frozenset(
    {
        "dhcp.no_answer",
        "ip.none",
        "ip.apipa",
        "gateway.unreachable",
        "internet.unreachable",
        "internet.upstream_unknown",
    }
)


@dataclass(frozen=True)
class Diagnosis:
    verdict: Verdict
    root_cause: str | None
    judgements: tuple[Judgement, ...]
    interface: str | None


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


def judge_active(facts: Facts, interface: str | None = None) -> list[Judgement]:
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
            integrity = _judge_integrity(facts)
            if integrity.status != "fail":
                integrity = pathrules.judge_check_host_lie(facts) or integrity
            out += [integrity, _judge_latency(facts)]
        else:
            out += [_skipped(c, texts.SKIP_NO_ANSWER) for c in ("dns.integrity", "dns.latency")]
    out.append(
        _judge_http(facts.http) if facts.http is not None else _skipped("internet.http", texts.SKIP_NO_CHECK)
    )
    ipv4_works = _internet_by_ip(facts) or _http_ok(facts.http)
    extra = (
        pathrules.judge_mtu(facts.mtu) if ipv4_works else None,
        pathrules.judge_ipv6(facts, interface, ipv4_works),
        pathrules.judge_proxy(facts) if ipv4_works else None,
        pathrules.judge_double_nat(facts),
    )
    out += [j for j in extra if j is not None]
    return out


# --- the whole ---------------------------------------------------------------------------------------------


def root_cause(judgements: Sequence[Judgement]) -> str | None:
    failing = {j.code for j in judgements if j.status == "fail" and j.code in ROOT_CAUSE_CODES}
    return next((code for code in ROOT_CAUSE_CODES if code in failing), None)


def _radio(facts: Facts, judgements: list[Judgement]) -> list[Judgement]:
    """Signal and channel of the Wi-Fi adapter in use; a weak signal explains the failures it causes."""
    iface = choose_interface(facts.local, facts.interface)
    link = wifi_link(facts.local, iface) if iface is not None and iface.kind == "wifi" else None
    if link is None:
        return []
    failing = {j.code for j in judgements if j.status == "fail"}
    signal = wifi.judge_signal(link, bool(failing & WEAK_SIGNAL_EXPLAINS))
    channel = wifi.judge_channel(link)
    return [j for j in (signal, channel) if j is not None]


def _upstream_evidence(facts: Facts) -> dict[str, JsonValue]:
    http = facts.http
    evidence: dict[str, JsonValue] = {
        "tcp": {t.target: t.ok for t in facts.tcp},
        "reference_dns": {r.server: r.answering for r in facts.references},
        "resolvers": {r.server: r.answering for r in facts.resolvers},
    }
    if http is not None:
        evidence["check"] = {
            "url": http.url,
            "address": http.address,
            "resolved_via": http.resolved_via,
            "status": http.status,
            "error": http.error,
            "latency_ms": http.latency_ms,
        }
    if facts.http_reference is not None:
        ref = facts.http_reference
        evidence["check_via_reference"] = {"address": ref.address, "status": ref.status, "error": ref.error}
    if facts.gateway is not None:
        evidence["gateway"] = {"address": facts.gateway.gateway, "answered": facts.gateway.answered}
    return evidence


def judge(facts: Facts) -> Diagnosis:
    """Facts → every check's judgement, the root cause and the verdict."""
    local = judge_local(facts.local, facts.interface, facts.pppoe, facts.dhcp)
    local_failed = any(j.status == "fail" and j.code != "ip.conflict" for j in local)
    done = {j.check for j in local}
    judgements = list(local)
    judgements += [_skipped(c, texts.SKIP_BELOW) for c in LOCAL_CHECKS if c not in done]
    if local_failed or not facts.active_probes:
        judgements += [_skipped(c, texts.SKIP_BELOW) for c in ACTIVE_CHECKS]
    else:
        upper = judged_interface(facts.local, facts.interface)
        judgements += judge_active(facts, upper.name if upper else None)
    judgements += _radio(facts, judgements)
    cause = root_cause(judgements)
    http_failed = any(j.check == "internet.http" and j.status == "fail" for j in judgements)
    if cause is None and http_failed:
        # A failing check always ends in a cause: name the unknown upstream fault, with everything seen.
        judgements.append(pathrules.judge_upstream(facts, _upstream_evidence(facts)))
        cause = "internet.upstream_unknown"
    # "Usable" means a browser would work as configured: the check page loaded via the user's own
    # resolvers, and through the proxy when one is set.
    usable = (
        _http_ok(facts.http)
        and facts.http is not None
        and facts.http.resolved_via != "reference"
        and all(pathrules.proxy_works(p) for p in facts.proxies)
    )
    verdict: Verdict
    if cause is not None:
        verdict = "degraded" if usable else "offline"
    elif any(j.status in ("warn", "fail") for j in judgements):
        verdict = "degraded"
    else:
        verdict = "ok"
    chosen = choose_interface(facts.local, facts.interface)
    return Diagnosis(verdict, cause, tuple(judgements), chosen.name if chosen else facts.interface)
