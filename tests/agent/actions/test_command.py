"""Commands: output capped at 64 KiB, timeout kills the whole tree, the exit code comes back."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from agent.actions.command import CommandLedger, finish_command, run_command, start_command, wait_dead
from agent.sandbox import Launch
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
    await innocent.release()


# -- escapes: what a process group cannot hold, the command's cgroup does (issue 12) -------------------

DAEMON = """
import os, sys, time
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    sys.exit(0)
os.chdir("/")
os.umask(0)
os.closerange(0, 1024)
fd = os.open(os.devnull, os.O_RDWR)
os.dup2(fd, 1); os.dup2(fd, 2)
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
time.sleep(300)
"""


def escapes(tmp: Path) -> tuple[str, list[Path]]:
    """A command that starts a double-forked child, a `setsid -f` one and a python-daemon style daemon
    (fork, setsid, fork, chdir /, every descriptor closed), each writing its pid to a file."""
    files = [tmp / "double-fork.pid", tmp / "setsid.pid", tmp / "daemon.pid"]
    script = tmp / "daemon.py"
    script.write_text(DAEMON)
    command = (
        f"( sh -c 'echo $$ > {files[0]}; exec sleep 300' & ) ; "
        f"setsid -f sh -c 'echo $$ > {files[1]}; exec sleep 300' ; "
        f"{sys.executable} {script} {files[2]} ; "
    )
    return command, files


def _family(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)} | {pid}
    except psutil.NoSuchProcess:
        return set()


async def _escaped(files: list[Path], command_pid: int) -> list[psutil.Process]:
    """Wait until all three run outside the command's process tree and session (the intermediate
    processes of a double fork take a moment to exit); then they are what a process group misses."""
    for _ in range(1000):
        if all(f.exists() and f.read_text().strip() for f in files):
            procs = [psutil.Process(int(f.read_text())) for f in files]
            family = _family(command_pid)
            if all(p.pid not in family for p in procs) and all(
                os.getsid(p.pid) != command_pid for p in procs[1:]
            ):
                return procs
        await asyncio.sleep(0.01)
    raise AssertionError("the escapes never left the command's tree")


async def test_kill_reaches_double_fork_setsid_and_daemon_within_200ms(tmp_path: Path) -> None:
    command, files = escapes(tmp_path)
    running = await start_command(command + "sleep 300")
    assert running.cgroup is not None, "no cgroup for commands on this machine"
    procs = await _escaped(files, running.pid)
    start = time.perf_counter()
    killed = running.kill()
    assert wait_dead(procs, 0.2) == [], "something escaped the kill switch"
    elapsed = time.perf_counter() - start
    assert elapsed < 0.2
    assert {p.pid for p in procs} <= set(killed)
    await finish_command(running, 5)
    assert not running.cgroup.path.exists()  # emptied (populated 0), then removed


async def test_what_a_finished_command_left_running_dies_with_it(tmp_path: Path) -> None:
    command, files = escapes(tmp_path)
    running = await start_command(command + "echo done")
    procs = await _escaped(files, running.pid)
    outcome = await finish_command(running, 10)
    assert outcome.exit_code == 0 and outcome.output.endswith("done\n")
    assert wait_dead(procs, 0.2) == []
    assert running.cgroup is not None and not running.cgroup.path.exists()


async def test_a_command_cannot_move_itself_out_of_its_cgroup(tmp_path: Path) -> None:
    from agent.sandbox.cgroup import cgroup2_mounts, cgroup_of, place

    mount = cgroup2_mounts()[0]
    parent = place()
    marker = tmp_path / "pid"
    command = (
        f"echo $$ > {marker}; echo $$ > {parent}/cgroup.procs; echo $$ > {mount}/cgroup.procs; "
        "mkdir -p /tmp/x; sleep 300"
    )
    running = await start_command(command)
    for _ in range(500):
        if marker.exists() and marker.read_text().strip():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert running.cgroup is not None
    assert cgroup_of(running.pid) == running.cgroup.path  # still inside
    running.kill()
    outcome = await finish_command(running, 5)
    assert "cgroup.procs" in outcome.output  # the writes were refused, not silently ignored


async def test_ledger_kills_a_dead_agents_cgroup_even_after_its_shell_is_gone(tmp_path: Path) -> None:
    command, files = escapes(tmp_path)
    running = await start_command(command + "sleep 300")
    ledger = CommandLedger(tmp_path / "running.json")
    ledger.add(running.pid)
    procs = await _escaped(files, running.pid)
    os.kill(running.pid, 9)  # the shell dies; its escaped children live on in the cgroup
    await running.exited()
    assert CommandLedger(tmp_path / "running.json").kill_leftovers() == 1
    assert wait_dead(procs, 0.5) == []
    assert running.cgroup is not None and not running.cgroup.path.exists()


async def test_end_while_a_command_is_being_prepared_leaves_no_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from agent.actions import command as module
    from agent.sandbox.cgroup import place
    from agent.sandbox.launch import prepare

    started = threading.Event()

    def slow_prepare(hide: list[Path], cwd: Path | None) -> Launch:
        started.set()
        time.sleep(0.2)  # End arrives while the plan is being made
        return prepare(hide, cwd)

    monkeypatch.setattr(module, "prepare", slow_prepare)
    before = set(os.listdir(place()))
    task = asyncio.ensure_future(start_command("sleep 300", data_dir=tmp_path))
    assert await asyncio.to_thread(started.wait, 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.5)  # the plan finishes in its thread, and is undone
    made = {p for p in set(os.listdir(place())) - before if p.startswith(f"rme-cmd-{os.getpid()}-")}
    assert not made
