"""Repairs on macOS, the basics: `ipconfig set IF DHCP`, the DNS cache flush Apple documents, and
`ifconfig IF up/down`. Setting DNS needs the network *service* name (`networksetup`), not yet done."""

from __future__ import annotations

from agent.repairs import commands
from agent.repairs.models import RepairContext, RepairError, RepairOutcome, UndoRecord


def plan(repair_id: str, context: RepairContext) -> list[list[str]]:
    iface = context.interface or ""
    if repair_id != "dns.flush_cache" and not iface:
        raise RepairError("this repair needs an adapter name")
    plans = {
        "dhcp.renew": [["ipconfig", "set", iface, "DHCP"]],
        "dns.flush_cache": [["dscacheutil", "-flushcache"], ["killall", "-HUP", "mDNSResponder"]],
        "nic.enable": [["ifconfig", iface, "up"]],
        "nic.restart": [["ifconfig", iface, "down"], ["ifconfig", iface, "up"]],
    }
    if repair_id not in plans:
        raise RepairError(f"{repair_id} is not available on macos")
    return plans[repair_id]


async def apply(repair_id: str, context: RepairContext) -> RepairOutcome:
    runs = [await commands.run(argv, context.timeout_s) for argv in plan(repair_id, context)]
    ok = commands.succeeded(runs)
    undo = (
        UndoRecord(repair_id=repair_id, platform="macos", interface=context.interface)
        if (ok and repair_id == "nic.enable")
        else None
    )
    return RepairOutcome(
        repair_id=repair_id,
        status="done" if ok else "failed",
        detail="ok" if ok else runs[-1].output,
        commands=tuple(runs),
        undo=undo,
    )


async def undo(record: UndoRecord, context: RepairContext) -> RepairOutcome:
    if record.repair_id != "nic.enable" or not record.interface:
        raise RepairError(f"{record.repair_id} cannot be undone on macos")
    run = await commands.run(["ifconfig", record.interface, "down"], context.timeout_s)
    return RepairOutcome(
        repair_id=record.repair_id, status="done" if run.returncode == 0 else "failed", commands=(run,)
    )
