"""Commands: output capped at 64 KiB, timeout kills the whole tree, the exit code comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil

from agent.actions.command import CommandLedger, finish_command, run_command, start_command, wait_dead
from protocol.limits import MAX_COMMAND_OUTPUT


async def test_output_and_exit_code(tmp_path: Path) -> None:
    outcome = await run_command("echo out; echo err >&2; exit 3", 10, cwd=tmp_path)
    assert outcome.exit_code == 3
    assert outcome.output == "out\nerr\n"
    assert not outcome.truncated


async def test_output_is_capped_but_the_command_is_not_blocked() -> None:
    outcome = await run_command("head -c 5000000 /dev/zero | tr '\\0' 'a'; echo done >&2", 20)
    assert outcome.exit_code == 0
    assert len(outcome.output) == MAX_COMMAND_OUTPUT
    assert outcome.truncated


async def test_timeout_kills_the_whole_tree() -> None:
    running = await start_command("sleep 60 & sleep 60 & sleep 60; wait")
    await asyncio.sleep(0.3)
    family = [psutil.Process(running.pid), *psutil.Process(running.pid).children(recursive=True)]
    assert len(family) >= 4
    start = time.monotonic()
    outcome = await finish_command(running, timeout_s=0.5)
    assert outcome.exit_code is None
    assert time.monotonic() - start < 3
    assert wait_dead(family, 0.5) == []


async def test_cancel_kills_the_tree() -> None:
    running = await start_command("sleep 60 & sleep 60; wait")
    await asyncio.sleep(0.2)
    family = [psutil.Process(running.pid), *psutil.Process(running.pid).children(recursive=True)]
    task = asyncio.ensure_future(finish_command(running, timeout_s=60))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert wait_dead(family, 0.5) == []


async def test_invalid_utf8_output_is_replaced() -> None:
    outcome = await run_command("printf 'ok\\377\\376'", 10)
    assert outcome.output.startswith("ok") and "\ufffd" in outcome.output


async def test_ledger_kills_what_a_dead_agent_left(tmp_path: Path) -> None:
    ledger = CommandLedger(tmp_path / "running.json")
    # A tree started by "another agent" (a detached shell) and recorded, then its agent died.
    running = await start_command("sleep 60 & sleep 60; wait")
    ledger.add(running.pid)
    await asyncio.sleep(0.2)
    family = [psutil.Process(running.pid), *psutil.Process(running.pid).children(recursive=True)]
    assert len(family) >= 3
    # A recycled pid must not be touched: an entry with the wrong start time is ignored.
    innocent = await start_command("sleep 60")
    ledger._save({**ledger._load(), str(innocent.pid): 1.0})
    assert CommandLedger(tmp_path / "running.json").kill_leftovers() == 1
    assert wait_dead(family, 0.5) == []
    assert wait_dead([psutil.Process(innocent.pid)], 0.05) != []  # still running
    innocent.kill()
    await running.process.wait()
    await innocent.process.wait()
