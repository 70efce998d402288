"""The diagnosis report: the JSON contract of `rme-agent diagnose --json` (BRIEF §4).

The same model travels inside a help request and an action result, so the agent's CLI, the server and
the console all read one shape.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from protocol.limits import (
    MAX_EVIDENCE_CHARS,
    MAX_EVIDENCE_DEPTH,
    MAX_FINDINGS,
    MAX_SHORT_TEXT,
    MAX_SUMMARY_TEXT,
)

Verdict = Literal["ok", "degraded", "offline"]
FindingStatus = Literal["ok", "warn", "fail", "skipped"]

# Root causes in layer order: the root cause is the lowest failing layer that explains the rest.
ROOT_CAUSE_CODES: tuple[str, ...] = (
    "nic.none",
    "nic.disabled",
    "nic.driver",
    "link.down",
    "wifi.not_associated",
    "wifi.auth_failed",
    "wifi.weak_signal",
    "pppoe.no_answer",
    "pppoe.auth_failed",
    "pppoe.no_address",
    "pppoe.unstable",
    "dhcp.no_answer",
    "ip.none",
    "ip.apipa",
    "ip.conflict",
    "route.no_default",
    "gateway.unreachable",
    "dns.none",
    "dns.unreachable",
    "dns.hijack",
    "internet.unreachable",
    "internet.captive_portal",
    "mtu.blackhole",
    "ipv6.broken",
    "proxy.unreachable",
    "internet.upstream_unknown",
)
# Warning families that may appear in findings but never as the root cause.
WARNING_PREFIXES: tuple[str, ...] = (
    "dns.slow",
    "gateway.slow",
    "router.double_nat",
    "mtu.",
    "proxy.",
    "pppoe.",
    "wifi.",
)

CODE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]
ShortText = Annotated[str, Field(max_length=MAX_SHORT_TEXT)]


def _depth(value: JsonValue, limit: int) -> int:
    """Nesting depth of a JSON value, stopping early once it passes `limit` (iterative: no recursion)."""
    deepest = 0
    stack: list[tuple[JsonValue, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _small_evidence(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Evidence is a few facts (addresses, timings, counts), not a channel: bounded depth and size."""
    if _depth(value, MAX_EVIDENCE_DEPTH) > MAX_EVIDENCE_DEPTH:
        raise ValueError(f"evidence nested deeper than {MAX_EVIDENCE_DEPTH} levels")
    if len(json.dumps(value, ensure_ascii=False)) > MAX_EVIDENCE_CHARS:
        raise ValueError(f"evidence larger than {MAX_EVIDENCE_CHARS} characters")
    return value


Evidence = Annotated[dict[str, JsonValue], AfterValidator(_small_evidence)]


class Finding(BaseModel):
    """One check's outcome. `summary` is already in the report's language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: Code
    status: FindingStatus
    code: Code | None = None
    summary: Annotated[str, Field(max_length=MAX_SUMMARY_TEXT)]
    evidence: Evidence = Field(default_factory=dict)
    repair: Code | None = None


class DiagnosisReport(BaseModel):
    """`verdict`, `root_cause` (a code of ROOT_CAUSE_CODES or null) and the findings behind them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    root_cause: Code | None
    findings: Annotated[list[Finding], Field(max_length=MAX_FINDINGS)]
    interface: ShortText | None
    duration_ms: Annotated[int, Field(ge=0, le=3_600_000)]
    lang: Literal["zh-CN", "en"] = "en"
