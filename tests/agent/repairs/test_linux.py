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
