"""Linux repairs that can run on this machine without touching its network: resolv.conf edits on a
temporary file (with undo), command running, and the engine's checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.repairs import RepairContext, RepairError, UndoRecord, apply, undo
from agent.repairs import linux as linux_repairs
from agent.repairs.commands import run


async def test_set_reference_dns_keeps_search_and_options_and_undoes(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    original = "search lan\nnameserver 192.168.1.1\noptions edns0\n"
    resolv.write_text(original)
    inode = resolv.stat().st_ino
    context = RepairContext(interface="eth0", resolv_conf=resolv, reference_dns=("223.5.5.5", "119.29.29.29"))
    outcome = await apply("dns.set_reference", context)
    assert outcome.status == "done" and outcome.undo is not None
    lines = resolv.read_text().splitlines()
    assert lines[1:] == ["nameserver 223.5.5.5", "nameserver 119.29.29.29", "search lan", "options edns0"]
    assert resolv.stat().st_ino == inode  # written in place: a bind mount would survive
    restored = await undo(outcome.undo, context)
    assert restored.status == "done" and resolv.read_text() == original


async def test_set_reference_dns_on_a_missing_file_creates_it(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    outcome = await apply("dns.set_reference", RepairContext(interface="eth0", resolv_conf=resolv))
    assert outcome.status == "done" and "nameserver 223.5.5.5" in resolv.read_text()


async def test_flush_without_a_cache_is_not_applicable(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.1\n")
    outcome = await apply("dns.flush_cache", RepairContext(resolv_conf=resolv))
    assert outcome.status in ("not_applicable", "done")  # "done" only where nscd is installed
    assert linux_repairs._uses_resolved(resolv) is False


async def test_engine_refuses_what_it_cannot_do() -> None:
    with pytest.raises(RepairError, match="unknown"):
        await apply("disk.format", RepairContext())
    with pytest.raises(RepairError, match="adapter"):
        await apply("nic.enable", RepairContext())
    winsock = await apply("winsock.reset", RepairContext())
    assert winsock.status == "not_applicable"
    with pytest.raises(RepairError, match="windows"):
        await undo(
            UndoRecord(repair_id="nic.enable", platform="windows", interface="Ethernet"), RepairContext()
        )
    with pytest.raises(RepairError, match="cannot be undone"):
        await undo(UndoRecord(repair_id="dhcp.renew", platform="linux", interface="eth0"), RepairContext())


async def test_failed_command_is_a_failed_outcome_without_undo() -> None:
    outcome = await apply("nic.enable", RepairContext(interface="rme-missing0"))
    assert outcome.status == "failed" and outcome.undo is None
    assert outcome.commands[0].argv == ("ip", "link", "set", "dev", "rme-missing0", "up")
    assert outcome.commands[0].returncode not in (0, None)


async def test_commands_run_bounded() -> None:
    slow = await run([sys.executable, "-c", "import time; time.sleep(5)"], 0.3)
    assert slow.returncode is None and "timed out" in slow.output
    missing = await run(["rme-no-such-program"], 1.0)
    assert missing.returncode is None
    echoed = await run([sys.executable, "-c", "print('hi')"], 5.0)
    assert (echoed.returncode, echoed.output) == (0, "hi")


def test_redial_uses_pon_or_networkmanager() -> None:
    peer = RepairContext(dialer="dsl-provider", dialer_source="/etc/ppp/peers/dsl-provider")
    assert linux_repairs.redial_plan(peer) == [["poff", "dsl-provider"], ["pon", "dsl-provider"]]
    nm = RepairContext(dialer="宽带", dialer_source="NetworkManager (dsl.nmconnection)")
    assert linux_repairs.redial_plan(nm) == [
        ["nmcli", "connection", "down", "id", "宽带"],
        ["nmcli", "connection", "up", "id", "宽带"],
    ]
    with pytest.raises(RepairError):
        linux_repairs.redial_plan(RepairContext())


def test_reset_peers_keeps_account_adapter_and_log_and_drops_the_rest() -> None:
    previous = (
        'pty "/usr/sbin/pppoe -I enp3s0 -T 80"\nuser "me@isp"\n10.99.0.2:\nnodefaultroute\n'
        "logfile /var/log/ppp.log\nifname dsl0\n"
    )
    text = linux_repairs.reset_peers_text(previous, None)
    lines = text.splitlines()
    assert lines[1:3] == ["plugin rp-pppoe.so enp3s0", 'user "me@isp"']
    assert "defaultroute" in lines and "usepeerdns" in lines and "noipdefault" in lines
    assert "10.99.0.2:" not in text and "nodefaultroute" not in text
    assert lines[-2:] == ["ifname dsl0", "logfile /var/log/ppp.log"]


async def test_reset_dialer_is_not_applicable_to_networkmanager(tmp_path: Path) -> None:
    context = RepairContext(dialer="宽带", dialer_source="NetworkManager (x)", ppp_peers=tmp_path)
    outcome = await linux_repairs.reset_dialer(context)
    assert outcome.status == "not_applicable"


async def test_set_mtu_needs_a_size() -> None:
    with pytest.raises(RepairError):
        await linux_repairs.set_mtu(RepairContext(interface="lo"))
