"""A judgement (one finding before it is put into words), its helpers, and the repair for each code.

Shared by every rule module (`rules`, `dialup`, `wifi`, `pathrules`), so none imports another's internals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import JsonValue

from agent.diagnosis import texts
from agent.i18n import Text
from protocol.report import FindingStatus

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
    "pppoe.no_answer": "pppoe.redial",
    "pppoe.no_address": "pppoe.reset_config",
    "pppoe.unstable": "pppoe.redial",
    "dhcp.no_answer": "dhcp.renew",
    "mtu.blackhole": "mtu.set",
}


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


def fail(
    check: str, code: str, text: Text, evidence: dict[str, JsonValue] | None = None, **fields: str | Text
) -> Judgement:
    return Judgement(check, "fail", text, fields, code, evidence or {}, REPAIR_FOR.get(code))


def ok(
    check: str, text: Text, evidence: dict[str, JsonValue] | None = None, **fields: str | Text
) -> Judgement:
    return Judgement(check, "ok", text, fields, None, evidence or {})


def warn(
    check: str, code: str, text: Text, evidence: dict[str, JsonValue] | None = None, **fields: str | Text
) -> Judgement:
    return Judgement(check, "warn", text, fields, code, evidence or {}, REPAIR_FOR.get(code))


def skipped(check: str, reason: Text) -> Judgement:
    return Judgement(check, "skipped", texts.SKIPPED, {"reason": reason})


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
