"""PPPoE dial-up: recorded dialer output → classified events (pure parsers), and the rule that judges a
dialer from its events and the discovery probe.

Sources, each turned into `DialerEvent`s:
- Linux pppd log lines (its `logfile`, or syslog/journal lines tagged `pppd`), `parse_pppd_log`;
- Windows RAS errors (the dialer's error number: 651, 678, 691, 718, 720, 769 …), `ras_event`, and the
  RasClient event-log messages that carry them, `parse_rasclient_event`;
- pppd peers files (`/etc/ppp/peers/NAME`) and Windows phonebooks (`rasphone.pbk`), which say that a
  PPPoE dialer exists, over which adapter, and where pppd logs.

Theory of the rule (`judge_dialer`): a dialer that is connected with an address is fine (a warning if it
dropped several times recently). A dialer that is down is judged in the order its phases run: discovery
(did any access concentrator answer a PADI, now — the probe — or at the last attempt — the log), then
authentication, then IPCP (an address); what the last attempt got furthest to decides. The probe beats
the log for discovery: a concentrator answering now means the modem and line are back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from agent.diagnosis import texts
from agent.diagnosis.facts import Dialer, DialerEvent, DialerEventKind, Interface, PppoeDiscovery
from agent.diagnosis.judgement import Judgement, fail, ok, warn

UNSTABLE_DROPS = 3  # this many sessions ended by the line (not the user) in the recorded window

# Windows RAS error numbers a PPPoE dialer reports (raserror.h), and what each means for the rules.
RAS_ERRORS: dict[int, tuple[DialerEventKind, str]] = {
    619: ("no_answer", "a connection to the remote computer could not be established"),
    629: ("dropped", "the connection was closed by the remote computer"),
    633: ("adapter", "the connecting device is already in use or not configured"),
    651: ("no_answer", "the modem (or other connecting device) has reported an error"),
    676: ("no_answer", "the line is busy"),
    678: ("no_answer", "the remote computer did not respond"),
    691: ("auth_failed", "the user name or password was refused"),
    692: ("no_answer", "hardware failure in the modem"),
    718: ("auth_timeout", "the remote computer did not respond in time (authentication)"),
    720: ("no_address", "no PPP control protocol could be negotiated (no address)"),
    734: ("dropped", "the PPP link control protocol was terminated"),
    769: ("adapter", "the specified destination is not reachable (adapter off or unplugged)"),
    797: ("adapter", "the connecting device was not found"),
    815: ("no_answer", "the broadband connection could not be established (no answer)"),
}

# What an access concentrator says when the account, not the password, is the problem (zh and en).
_SUSPENDED = re.compile(
    r"arrear|suspend|expire|disabled|overdue|balance|欠费|停机|暂停|过期|到期|冻结|余额", re.IGNORECASE
)

# pppd log lines (pppd 2.4/2.5 and its rp-pppoe plugin) → event kind. Order matters: first match wins.
_PPPD_LINES: tuple[tuple[re.Pattern[str], DialerEventKind], ...] = (
    (re.compile(r"Timeout waiting for PADO|Unable to complete PPPoE Discovery|no PADO"), "no_answer"),
    (re.compile(r"(PAP|CHAP|EAP) authentication failed|authentication failed", re.IGNORECASE), "auth_failed"),
    (
        re.compile(r"Timeout waiting for PADS|peer refused to authenticate|Timed out waiting for auth"),
        "auth_timeout",
    ),
    (
        re.compile(r"IPCP: timeout sending Config-Requests|No IP address|IPCP terminated|IPCP.*rejected"),
        "no_address",
    ),
    (re.compile(r"local\s+IP address\s+\d"), "connected"),
    (re.compile(r"No response to \d+ echo-requests|LCP terminated by peer|Modem hangup|PADT"), "dropped"),
    (
        re.compile(r"Couldn't open the /dev/ppp|Interface \S+ has MTU|Failed to bind|No such device"),
        "adapter",
    ),
)
_REMOTE_MESSAGE = re.compile(r"Remote message:\s*(.*)$")
_CHAP_MESSAGE = re.compile(r"authentication failed:\s*(.*)$", re.IGNORECASE)
_SYSLOG_TIME = re.compile(r"^(\w{3}\s+\d+\s+[\d:]{8}|\d{4}-\d\d-\d\dT[\d:.+-]+)\s")


def ras_event(code: int, at: str | None = None) -> DialerEvent:
    """A Windows RAS error number as an event; unknown numbers are kept as `other` with the number."""
    kind, meaning = RAS_ERRORS.get(code, ("other", "error"))
    return DialerEvent(kind=kind, code=code, detail=f"{code}: {meaning}", at=at)


_RAS_CODE = re.compile(r"(?:error code|reason code|错误代码|原因代码)[^0-9]*(\d{3,4})", re.IGNORECASE)


def parse_rasclient_event(event_id: int, message: str, at: str | None = None) -> DialerEvent | None:
    """A RasClient event-log entry (20225 connected, 20226 disconnected, 20227 dial failed)."""
    if event_id == 20225:
        return DialerEvent(kind="connected", detail="connected", at=at)
    found = _RAS_CODE.search(message)
    code = int(found.group(1)) if found else None
    if event_id == 20227 and code is not None:
        return ras_event(code, at)
    if event_id == 20226:
        # Reason 0 is the user hanging up; anything else is the line or the server ending the session.
        if code in (None, 0):
            return None
        return DialerEvent(kind="dropped", code=code, detail=f"{code}: disconnected", at=at)
    return None


def parse_pppd_log(text: str) -> tuple[DialerEvent, ...]:
    """Classify pppd log lines (plain `logfile` lines or syslog/journal lines); unknown lines are dropped.
    A "Remote message" (what the access concentrator said) is attached to the failure that follows it."""
    events: list[DialerEvent] = []
    message: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        stamp = _SYSLOG_TIME.match(line)
        at = stamp.group(1) if stamp else None
        body = line.split("]: ", 1)[1] if "]: " in line else line
        remote = _REMOTE_MESSAGE.search(body)
        if remote:
            message = remote.group(1).strip() or None
            continue
        for pattern, matched in _PPPD_LINES:
            if pattern.search(body):
                said, kind = message, matched
                if kind == "auth_failed":
                    chap = _CHAP_MESSAGE.search(body)
                    said = said or (chap.group(1).strip() if chap and chap.group(1).strip() else None)
                    if said and _SUSPENDED.search(said):
                        kind = "suspended"
                    if said is None and events and events[-1].kind in ("auth_failed", "suspended"):
                        break  # pppd repeats "CHAP authentication failed" without the reason: same failure
                events.append(DialerEvent(kind=kind, detail=body[:200], at=at, message=said))
                message = None
                break
    return tuple(events)


@dataclass(frozen=True)
class PeersFile:
    """What a pppd peers file says about a PPPoE dialer."""

    device: str | None
    logfile: str | None
    ifname: str | None
    pppoe: bool


def parse_peers_file(text: str) -> PeersFile:
    """`plugin rp-pppoe.so eth0` / `plugin pppoe.so` + `nic-eth0` or a bare `eth0` line, `logfile`,
    `ifname`; a `pty "pppoe -I eth0"` line is the older user-space client."""
    device = logfile = ifname = None
    pppoe = False
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "plugin" and len(words) > 1 and "pppoe" in words[1]:
            pppoe = True
            device = words[2] if len(words) > 2 else device
        elif words[0] == "pty" and "pppoe" in raw:
            pppoe = True
            found = re.search(r"-I\s+(\S+?)[\"']?(\s|$)", raw)
            device = found.group(1) if found else device
        elif words[0].startswith("nic-"):
            device = words[0][4:]
        elif words[0] == "logfile" and len(words) > 1:
            logfile = words[1].strip("\"'")
        elif words[0] == "ifname" and len(words) > 1:
            ifname = words[1]
        elif len(words) == 1 and re.fullmatch(r"(eth|en|em)[\w.-]*", words[0]):
            device = words[0]
    return PeersFile(device, logfile, ifname, pppoe)


def parse_rasphone(text: str) -> list[tuple[str, str]]:
    """PPPoE entries of a Windows phonebook (`rasphone.pbk`): (entry name, device name)."""
    entries: list[tuple[str, str]] = []
    name: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1]
        elif name and line.lower().startswith("device=") and "pppoe" in line.lower():
            entries.append((name, line.split("=", 1)[1]))
    return entries


# --- the rule ---------------------------------------------------------------------------------------------


def count_drops(events: Sequence[DialerEvent]) -> int:
    """Sessions that were up and then ended by the line or the server (not by the user)."""
    drops, up = 0, False
    for event in events:
        if event.kind == "connected":
            up = True
        elif event.kind == "dropped" and (up or event.code is not None):
            drops += 1
            up = False
    return drops


_ATTEMPT_KINDS = frozenset({"no_answer", "auth_failed", "auth_timeout", "suspended", "no_address", "adapter"})


def last_failure(events: Sequence[DialerEvent]) -> DialerEvent | None:
    """The failure of the last attempt, if the last attempt failed (a later `connected` clears it)."""
    for event in reversed(events):
        if event.kind == "connected":
            return None
        if event.kind in _ATTEMPT_KINDS:
            return event
    return None


def _evidence(dialer: Dialer, discovery: PppoeDiscovery | None) -> dict[str, JsonValue]:
    evidence: dict[str, JsonValue] = {
        "dialer": dialer.name,
        "source": dialer.source,
        "device": dialer.device,
        "connected": dialer.connected,
        "drops": count_drops(dialer.events),
    }
    if discovery is not None:
        evidence["discovery"] = {
            "answered": discovery.answered,
            "concentrator": discovery.concentrator,
            "concentrator_mac": discovery.concentrator_mac,
            "service": discovery.service,
            "latency_ms": discovery.latency_ms,
            "error": discovery.error,
        }
    failure = last_failure(dialer.events)
    if failure is not None:
        evidence["last_error"] = {"kind": failure.kind, "code": failure.code, "detail": failure.detail}
        if failure.message:
            evidence["server_message"] = failure.message
    return evidence


def judge_dialer(dialer: Dialer, ppp: Interface | None, discovery: PppoeDiscovery | None) -> Judgement:
    """The `pppoe.session` check. `ppp` is the dialer's PPP interface if it exists."""
    evidence = _evidence(dialer, discovery)
    drops = count_drops(dialer.events)
    name = dialer.name
    connected = dialer.connected or (ppp is not None and ppp.admin_up)
    if connected and ppp is not None:
        evidence["interface"] = ppp.name
        if not ppp.ipv4:
            return fail(
                "pppoe.session",
                "pppoe.no_address",
                texts.PPPOE_NO_ADDRESS,
                evidence,
                name=name,
                detail=texts.PPPOE_UP_NO_ADDRESS,
            )
        if drops >= UNSTABLE_DROPS:
            return warn(
                "pppoe.session", "pppoe.unstable", texts.PPPOE_UNSTABLE, evidence, name=name, drops=str(drops)
            )
        return ok("pppoe.session", texts.PPPOE_OK, evidence, name=name, interface=ppp.name)
    failure = last_failure(dialer.events)
    detail = failure.detail if failure is not None else ""
    if discovery is not None and discovery.error is None and not discovery.answered:
        return fail(
            "pppoe.session",
            "pppoe.no_answer",
            texts.PPPOE_NO_ANSWER,
            evidence,
            name=name,
            device=dialer.device or "?",
        )
    answered_now = discovery is not None and discovery.answered
    if failure is not None and failure.kind in ("no_answer", "adapter") and not answered_now:
        return fail(
            "pppoe.session",
            "pppoe.no_answer",
            texts.PPPOE_NO_ANSWER_LOGGED,
            evidence,
            name=name,
            detail=detail,
        )
    if failure is not None and failure.kind == "suspended":
        evidence["reason"] = "suspended"
        return fail(
            "pppoe.session",
            "pppoe.auth_failed",
            texts.PPPOE_SUSPENDED,
            evidence,
            name=name,
            message=failure.message or detail,
        )
    if failure is not None and failure.kind == "auth_failed":
        evidence["reason"] = "refused"
        return fail(
            "pppoe.session", "pppoe.auth_failed", texts.PPPOE_AUTH_FAILED, evidence, name=name, detail=detail
        )
    if failure is not None and failure.kind == "auth_timeout":
        evidence["reason"] = "no_answer"
        return fail(
            "pppoe.session", "pppoe.auth_failed", texts.PPPOE_AUTH_TIMEOUT, evidence, name=name, detail=detail
        )
    if failure is not None and failure.kind == "no_address":
        return fail(
            "pppoe.session", "pppoe.no_address", texts.PPPOE_NO_ADDRESS, evidence, name=name, detail=detail
        )
    if drops >= UNSTABLE_DROPS:
        return fail(
            "pppoe.session", "pppoe.unstable", texts.PPPOE_UNSTABLE, evidence, name=name, drops=str(drops)
        )
    return fail("pppoe.session", "pppoe.unstable", texts.PPPOE_DOWN, evidence, name=name)
