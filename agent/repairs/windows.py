"""Repairs on Windows: each is a short list of commands (`ipconfig`, `netsh`, PowerShell's NetAdapter and
DnsClient cmdlets). The command lists are built by pure functions, tested here on Linux; running them is
the same `commands.run` as everywhere."""

from __future__ import annotations

import json

from agent.repairs import commands
from agent.repairs.models import CommandRun, RepairContext, RepairError, RepairOutcome, UndoRecord

POWERSHELL = ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command"]


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted literal: only the quote itself needs doubling."""
    return "'" + value.replace("'", "''") + "'"


def _iface(context: RepairContext) -> str:
    if not context.interface:
        raise RepairError("this repair needs an adapter name")
    return context.interface


def plan(repair_id: str, context: RepairContext) -> list[list[str]]:
    """The commands a repair runs, in order."""
    if repair_id == "dhcp.renew":
        return [["ipconfig", "/renew", _iface(context)]]
    if repair_id == "dns.flush_cache":
        return [["ipconfig", "/flushdns"]]
    if repair_id == "dns.set_reference":
        servers = ",".join(ps_quote(s) for s in context.reference_dns)
        return [
            [
                *POWERSHELL,
                f"Set-DnsClientServerAddress -InterfaceAlias {ps_quote(_iface(context))} "
                f"-ServerAddresses {servers}",
            ]
        ]
    if repair_id == "nic.enable":
        return [[*POWERSHELL, f"Enable-NetAdapter -Name {ps_quote(_iface(context))} -Confirm:$false"]]
    if repair_id == "nic.restart":
        return [[*POWERSHELL, f"Restart-NetAdapter -Name {ps_quote(_iface(context))} -Confirm:$false"]]
    if repair_id == "winsock.reset":
        return [["netsh", "winsock", "reset"]]
    if repair_id == "mtu.set":
        if context.mtu is None:
            raise RepairError("mtu.set needs the MTU to set")
        return [[*POWERSHELL, _set_mtu(_iface(context), context.mtu)]]
    if repair_id == "pppoe.redial":
        if not context.dialer:
            raise RepairError("pppoe.redial needs the dialer's name")
        # rasdial with only the entry name uses the credentials saved with the entry.
        return [["rasdial", context.dialer, "/disconnect"], ["rasdial", context.dialer]]
    raise RepairError(f"{repair_id} is not available on windows")


def _set_mtu(interface: str, mtu: int) -> str:
    return (
        f"Set-NetIPInterface -InterfaceAlias {ps_quote(interface)} -AddressFamily IPv4 -NlMtuBytes {int(mtu)}"
    )


def mtu_snapshot_command(interface: str) -> list[str]:
    """Prints the adapter's current IPv4 MTU (what undo restores)."""
    return [
        *POWERSHELL,
        f"(Get-NetIPInterface -InterfaceAlias {ps_quote(interface)} -AddressFamily IPv4).NlMtu",
    ]


def dns_snapshot_command(interface: str) -> list[str]:
    """Prints the adapter's DNS servers and whether they were set by hand (registry NameServer non-empty)
    or came from DHCP, as JSON — what undo needs to restore exactly the old state."""
    alias = ps_quote(interface)
    return [
        *POWERSHELL,
        (
            f"$a = Get-NetAdapter -Name {alias}; "
            "$p = Get-ItemProperty ('HKLM:\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
            "\\Interfaces\\' + $a.InterfaceGuid); "
            f"$s = (Get-DnsClientServerAddress -InterfaceAlias {alias} -AddressFamily IPv4).ServerAddresses; "
            "@{servers=@($s); static=[bool]$p.NameServer} | ConvertTo-Json -Compress"
        ),
    ]


def undo_plan(record: UndoRecord) -> list[list[str]]:
    alias = ps_quote(record.interface or "")
    if record.repair_id == "nic.enable":
        return [[*POWERSHELL, f"Disable-NetAdapter -Name {alias} -Confirm:$false"]]
    if record.repair_id == "dns.set_reference":
        servers = record.data.get("servers")
        if record.data.get("static") and isinstance(servers, list) and servers:
            listed = ",".join(ps_quote(str(s)) for s in servers)
            return [
                [*POWERSHELL, f"Set-DnsClientServerAddress -InterfaceAlias {alias} -ServerAddresses {listed}"]
            ]
        return [[*POWERSHELL, f"Set-DnsClientServerAddress -InterfaceAlias {alias} -ResetServerAddresses"]]
    if record.repair_id == "mtu.set" and isinstance(record.data.get("previous"), int):
        previous = record.data["previous"]
        assert isinstance(previous, int)
        return [[*POWERSHELL, _set_mtu(record.interface or "", previous)]]
    raise RepairError(f"{record.repair_id} cannot be undone on windows")


def _outcome(repair_id: str, runs: list[CommandRun], undo: UndoRecord | None = None) -> RepairOutcome:
    ok = commands.succeeded(runs)
    return RepairOutcome(
        repair_id=repair_id,
        status="done" if ok else "failed",
        detail="ok" if ok else (runs[-1].output if runs else ""),
        commands=tuple(runs),
        undo=undo if ok else None,
    )


async def apply(repair_id: str, context: RepairContext) -> RepairOutcome:
    undo: UndoRecord | None = None
    runs: list[CommandRun] = []
    if repair_id == "dns.set_reference":
        snapshot = await commands.run(dns_snapshot_command(_iface(context)), context.timeout_s)
        if snapshot.returncode != 0:
            return _outcome(repair_id, [snapshot])
        data = json.loads(snapshot.output or "{}")
        undo = UndoRecord(
            repair_id=repair_id,
            platform="windows",
            interface=context.interface,
            data={"servers": list(data.get("servers") or []), "static": bool(data.get("static"))},
        )
    elif repair_id == "nic.enable":
        undo = UndoRecord(repair_id=repair_id, platform="windows", interface=context.interface)
    elif repair_id == "mtu.set":
        snapshot = await commands.run(mtu_snapshot_command(_iface(context)), context.timeout_s)
        if snapshot.returncode != 0 or not snapshot.output.strip().isdigit():
            detail = snapshot.output or "cannot read the current MTU"
            return RepairOutcome(repair_id=repair_id, status="failed", detail=detail, commands=(snapshot,))
        undo = UndoRecord(
            repair_id=repair_id,
            platform="windows",
            interface=context.interface,
            data={"previous": int(snapshot.output.strip())},
        )
    for argv in plan(repair_id, context):
        runs.append(await commands.run(argv, context.timeout_s))
        if runs[-1].returncode != 0:
            break
    return _outcome(repair_id, runs, undo)


async def undo(record: UndoRecord, context: RepairContext) -> RepairOutcome:
    runs = [await commands.run(argv, context.timeout_s) for argv in undo_plan(record)]
    return _outcome(record.repair_id, runs)
