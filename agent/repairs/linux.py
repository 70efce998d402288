"""Repairs on Linux. Each takes a `RepairContext`, runs plain commands (`ip`, a DHCP client, `resolvectl`)
or edits resolv.conf in place, and returns a `RepairOutcome` with undo data when it can be undone.

resolv.conf is rewritten in place (never replaced by rename): it may be a bind mount (`ip netns exec`,
containers) or a file another tool watches, and both survive an in-place write."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.diagnosis.dialup import parse_peers_file
from agent.diagnosis.linux import RESOLVED_STUBS, parse_resolv_conf
from agent.repairs import commands
from agent.repairs.models import CommandRun, RepairContext, RepairError, RepairOutcome, UndoRecord

Repair = Callable[[RepairContext], Awaitable[RepairOutcome]]


def _iface(context: RepairContext) -> str:
    if not context.interface:
        raise RepairError("this repair needs an adapter name")
    return context.interface


def _outcome(
    repair_id: str, runs: list[CommandRun], undo: UndoRecord | None = None, detail: str = ""
) -> RepairOutcome:
    ok = commands.succeeded(runs)
    if not detail:
        detail = "ok" if ok else (runs[-1].output if runs else "nothing ran")
    return RepairOutcome(
        repair_id=repair_id,
        status="done" if ok else "failed",
        detail=detail,
        commands=tuple(runs),
        undo=undo if ok else None,
    )


def _uses_resolved(resolv_conf: Path) -> bool:
    try:
        servers = parse_resolv_conf(resolv_conf.read_text())
    except OSError:
        return False
    return (
        bool(servers) and all(s in RESOLVED_STUBS for s in servers) and shutil.which("resolvectl") is not None
    )


def _write_in_place(path: Path, text: str) -> None:
    """Truncate and write, keeping the inode (see the module docstring). A few hundred bytes: no thread."""
    with path.open("w") as handle:
        handle.write(text)


def _dhcp_client(context: RepairContext) -> str:
    if context.dhcp_client != "auto":
        return context.dhcp_client
    if Path("/run/systemd/netif/links").is_dir() and shutil.which("networkctl"):
        return "networkctl"
    if Path("/run/NetworkManager").is_dir() and shutil.which("nmcli"):
        return "nmcli"
    return "dhclient"


async def renew_dhcp(context: RepairContext) -> RepairOutcome:
    iface = _iface(context)
    client = _dhcp_client(context)
    if client == "networkctl":
        runs = [await commands.run(["networkctl", "renew", iface], context.timeout_s)]
    elif client == "nmcli":
        runs = [await commands.run(["nmcli", "device", "reapply", iface], context.timeout_s)]
    else:
        state = context.state_dir
        state.mkdir(parents=True, exist_ok=True)
        files = ["-pf", str(state / f"dhclient.{iface}.pid"), "-lf", str(state / f"dhclient.{iface}.leases")]
        if context.dhclient_script:
            files += ["-sf", context.dhclient_script]
        runs = []
        if (state / f"dhclient.{iface}.pid").exists():
            # A client from an earlier renew still holds the lease: stop it (without releasing) first.
            stop = await commands.run(["dhclient", "-x", *files, iface], context.timeout_s)
            runs += [stop] if stop.returncode == 0 else []
        # -1: try once and give up (instead of retrying forever); the client stays to keep the lease.
        runs.append(await commands.run(["dhclient", "-1", *files, iface], context.timeout_s))
    return _outcome("dhcp.renew", runs)


async def flush_dns(context: RepairContext) -> RepairOutcome:
    if _uses_resolved(context.resolv_conf):
        return _outcome(
            "dns.flush_cache", [await commands.run(["resolvectl", "flush-caches"], context.timeout_s)]
        )
    if shutil.which("nscd"):
        return _outcome("dns.flush_cache", [await commands.run(["nscd", "-i", "hosts"], context.timeout_s)])
    return RepairOutcome(
        repair_id="dns.flush_cache",
        status="not_applicable",
        detail="no local DNS cache (systemd-resolved, nscd) is running",
    )


async def set_reference_dns(context: RepairContext) -> RepairOutcome:
    iface = _iface(context)
    servers = list(context.reference_dns)
    if _uses_resolved(context.resolv_conf):
        run = await commands.run(["resolvectl", "dns", iface, *servers], context.timeout_s)
        undo = UndoRecord(
            repair_id="dns.set_reference", platform="linux", interface=iface, data={"method": "resolvectl"}
        )
        return _outcome("dns.set_reference", [run], undo)
    path = context.resolv_conf
    try:
        previous = path.read_text()
    except FileNotFoundError:
        previous = ""
    except OSError as exc:
        return RepairOutcome(repair_id="dns.set_reference", status="failed", detail=str(exc))
    # Keep every line but the nameservers (search domains, options), then put ours first.
    kept = [line for line in previous.splitlines() if not line.strip().startswith("nameserver")]
    content = "".join(f"nameserver {s}\n" for s in servers) + "".join(f"{line}\n" for line in kept)
    try:
        _write_in_place(
            path, "# written by rme-agent (dns.set_reference); undo restores the previous file\n" + content
        )
    except OSError as exc:
        return RepairOutcome(repair_id="dns.set_reference", status="failed", detail=str(exc))
    undo = UndoRecord(
        repair_id="dns.set_reference",
        platform="linux",
        interface=iface,
        data={"method": "resolv.conf", "path": str(path), "previous": previous},
    )
    return RepairOutcome(
        repair_id="dns.set_reference", status="done", detail=f"{path}: {', '.join(servers)}", undo=undo
    )


async def enable_adapter(context: RepairContext) -> RepairOutcome:
    iface = _iface(context)
    run = await commands.run(["ip", "link", "set", "dev", iface, "up"], context.timeout_s)
    return _outcome(
        "nic.enable", [run], UndoRecord(repair_id="nic.enable", platform="linux", interface=iface)
    )


async def restart_adapter(context: RepairContext) -> RepairOutcome:
    iface = _iface(context)
    runs = [await commands.run(["ip", "link", "set", "dev", iface, "down"], context.timeout_s)]
    runs.append(await commands.run(["ip", "link", "set", "dev", iface, "up"], context.timeout_s))
    return _outcome("nic.restart", runs)


# --- MTU and dial-up ------------------------------------------------------------------------------------


def _current_mtu(iface: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{iface}/mtu").read_text().strip())
    except (OSError, ValueError):
        return None


async def set_mtu(context: RepairContext) -> RepairOutcome:
    iface = _iface(context)
    if context.mtu is None:
        raise RepairError("mtu.set needs the MTU to set (from the mtu.blackhole finding)")
    previous = _current_mtu(iface)
    run = await commands.run(["ip", "link", "set", "dev", iface, "mtu", str(context.mtu)], context.timeout_s)
    undo = UndoRecord(repair_id="mtu.set", platform="linux", interface=iface, data={"previous": previous})
    return _outcome("mtu.set", [run], undo if previous is not None else None)


def _nm_dialer(context: RepairContext) -> bool:
    return (context.dialer_source or "").startswith("NetworkManager")


def redial_plan(context: RepairContext) -> list[list[str]]:
    """Hang up and dial again: `poff`/`pon` for a pppd peer, `nmcli` for a NetworkManager connection."""
    if not context.dialer:
        raise RepairError("pppoe.redial needs the dialer's name")
    if _nm_dialer(context):
        return [
            ["nmcli", "connection", "down", "id", context.dialer],
            ["nmcli", "connection", "up", "id", context.dialer],
        ]
    return [["poff", context.dialer], ["pon", context.dialer]]


async def redial(context: RepairContext) -> RepairOutcome:
    plan = redial_plan(context)
    hang_up = await commands.run(plan[0], context.timeout_s)  # fails harmlessly when nothing is up
    dial = await commands.run(plan[1], context.timeout_s)
    outcome = _outcome("pppoe.redial", [dial])
    return outcome.model_copy(update={"commands": (hang_up, dial)})


def reset_peers_text(previous: str, device: str | None) -> str:
    """Known-good pppd settings for PPPoE that keep what identifies the account and the line (user,
    adapter, log file, interface name) and drop everything else (a static address, odd options)."""
    parsed = parse_peers_file(previous)
    user = next(
        (line.split(None, 1)[1].strip() for line in previous.splitlines() if line.split()[:1] == ["user"]),
        None,
    )
    lines = [
        "# written by rme-agent (pppoe.reset_config); undo restores the previous file",
        f"plugin rp-pppoe.so {parsed.device or device or 'eth0'}",
        *([f"user {user}"] if user else []),
        "noipdefault",
        "usepeerdns",
        "defaultroute",
        "persist",
        "maxfail 0",
        "hide-password",
        "noauth",
        "lcp-echo-interval 20",
        "lcp-echo-failure 3",
        "mtu 1492",
        "mru 1492",
        *([f"ifname {parsed.ifname}"] if parsed.ifname else []),
        *([f"logfile {parsed.logfile}"] if parsed.logfile else []),
    ]
    return "\n".join(lines) + "\n"


async def reset_dialer(context: RepairContext) -> RepairOutcome:
    if not context.dialer or "/" in context.dialer or _nm_dialer(context):
        return RepairOutcome(
            repair_id="pppoe.reset_config",
            status="not_applicable",
            detail="only pppd peers files are reset (NetworkManager keeps its own settings)",
        )
    path = context.ppp_peers / context.dialer
    try:
        previous = path.read_text()
        _write_in_place(path, reset_peers_text(previous, context.interface))
    except OSError as exc:
        return RepairOutcome(repair_id="pppoe.reset_config", status="failed", detail=str(exc))
    undo = UndoRecord(
        repair_id="pppoe.reset_config",
        platform="linux",
        interface=context.interface,
        data={"path": str(path), "previous": previous},
    )
    dialed = await redial(context)
    return RepairOutcome(
        repair_id="pppoe.reset_config",
        status="done",
        detail=f"{path} reset; redial: {dialed.status}",
        commands=dialed.commands,
        undo=undo,
    )


REPAIRS: dict[str, Repair] = {
    "dhcp.renew": renew_dhcp,
    "dns.flush_cache": flush_dns,
    "dns.set_reference": set_reference_dns,
    "nic.enable": enable_adapter,
    "nic.restart": restart_adapter,
    "mtu.set": set_mtu,
    "pppoe.redial": redial,
    "pppoe.reset_config": reset_dialer,
}


async def undo(record: UndoRecord, context: RepairContext) -> RepairOutcome:
    if record.repair_id == "nic.enable" and record.interface:
        run = await commands.run(["ip", "link", "set", "dev", record.interface, "down"], context.timeout_s)
        return _outcome("nic.enable", [run])
    if (
        record.repair_id == "dns.set_reference"
        and record.data.get("method") == "resolvectl"
        and record.interface
    ):
        run = await commands.run(["resolvectl", "revert", record.interface], context.timeout_s)
        return _outcome("dns.set_reference", [run])
    if record.repair_id == "dns.set_reference" and record.data.get("method") == "resolv.conf":
        path, previous = record.data.get("path"), record.data.get("previous")
        if not isinstance(path, str) or not isinstance(previous, str):
            raise RepairError("corrupt undo record")
        try:
            _write_in_place(Path(path), previous)
        except OSError as exc:
            return RepairOutcome(repair_id=record.repair_id, status="failed", detail=str(exc))
        return RepairOutcome(repair_id=record.repair_id, status="done", detail=f"{path} restored")
    if record.repair_id == "mtu.set" and record.interface and isinstance(record.data.get("previous"), int):
        previous = str(record.data["previous"])
        run = await commands.run(
            ["ip", "link", "set", "dev", record.interface, "mtu", previous], context.timeout_s
        )
        return _outcome("mtu.set", [run])
    if record.repair_id == "pppoe.reset_config":
        path, previous = record.data.get("path"), record.data.get("previous")
        if not isinstance(path, str) or not isinstance(previous, str):
            raise RepairError("corrupt undo record")
        try:
            _write_in_place(Path(path), previous)
        except OSError as exc:
            return RepairOutcome(repair_id=record.repair_id, status="failed", detail=str(exc))
        return RepairOutcome(repair_id=record.repair_id, status="done", detail=f"{path} restored")
    raise RepairError(f"{record.repair_id} cannot be undone on linux")
