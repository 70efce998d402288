"""Running one consented command: its own process group, a timeout, output capped, the tree killed.

The command line is exactly the text the user saw and allowed; it runs through the platform shell
(`/bin/sh -c` on POSIX, `cmd.exe /d /s /c` on Windows) because that is what an engineer types. On POSIX it
starts in a new session (its own process group), so ending it reaches every child that did not
deliberately escape with setsid; psutil collects the rest by parentage before anything is killed.

Output (stdout and stderr interleaved) is kept up to MAX_COMMAND_OUTPUT bytes; beyond that the pipe is
still drained — a command blocked on a full pipe would never finish — but the bytes are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from protocol.actions import CommandOutcome
from protocol.limits import MAX_COMMAND_OUTPUT

READ_SIZE = 64 * 1024


def is_dead(proc: psutil.Process) -> bool:
    """Gone, or a zombie: it runs no more code (whoever reaps it — us, init or a subreaper)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def wait_dead(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until every process is dead; returns those still running at the timeout."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not is_dead(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.002)
        alive = [p for p in alive if not is_dead(p)]
    return alive


def kill_tree(pid: int, pgid: int | None = None) -> list[int]:
    """Kill a process, its process group and every descendant; returns the pids signalled.

    Descendants are collected *before* killing (a dead parent's children are re-parented and lose the
    link). SIGKILL, not SIGTERM: the user asked for it to stop, now.
    """
    victims: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        victims = [root, *root.children(recursive=True)]
    if pgid is not None and sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    for proc in wait_dead(victims, 0.1):  # a child forked between listing and killing: once more
        for late in [proc, *_children(proc)]:
            with contextlib.suppress(psutil.Error):
                late.kill()
    return [p.pid for p in victims]


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def shell_argv(command: str) -> list[str]:
    if sys.platform == "win32":
        return [os.environ.get("COMSPEC", "cmd.exe"), "/d", "/s", "/c", command]
    return ["/bin/sh", "-c", command]


@dataclass
class RunningCommand:
    """A started command. `kill()` is synchronous and fast, for the kill switch."""

    process: asyncio.subprocess.Process
    started: float
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> list[int]:
        if self.process.returncode is not None and self.killed:
            return []
        self.killed = True
        pgid = self.process.pid if sys.platform != "win32" else None
        return kill_tree(self.process.pid, pgid)


async def start_command(command: str, cwd: Path | None = None) -> RunningCommand:
    kwargs: dict[str, object] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    process = await asyncio.create_subprocess_exec(
        *shell_argv(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=str(cwd) if cwd else None,
        **kwargs,  # type: ignore[arg-type]
    )
    return RunningCommand(process, time.perf_counter())


async def _read_capped(stream: asyncio.StreamReader, cap: int, kept: bytearray) -> bool:
    """Read to EOF, keeping the first `cap` bytes in `kept`; True if more came than was kept."""
    truncated = False
    while chunk := await stream.read(READ_SIZE):
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > room:
            truncated = True
    return truncated


def decode_output(data: bytes) -> str:
    """Bytes from a console in any code page → text; undecodable bytes become U+FFFD, never an error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if sys.platform == "win32":
            with contextlib.suppress(LookupError, UnicodeDecodeError):
                return data.decode("oem")
        return data.decode("utf-8", "replace")


async def finish_command(
    running: RunningCommand, timeout_s: float, cap: int = MAX_COMMAND_OUTPUT
) -> CommandOutcome:
    """Wait for the command (killing the whole tree at the timeout) and collect its capped output."""
    assert running.process.stdout is not None
    kept = bytearray()
    reader = asyncio.ensure_future(_read_capped(running.process.stdout, cap, kept))
    timed_out = False
    try:
        async with asyncio.timeout(timeout_s):
            await running.process.wait()
    except TimeoutError:
        timed_out = True
        running.kill()
        await running.process.wait()
    except asyncio.CancelledError:
        running.kill()
        reader.cancel()
        raise
    # A grandchild may keep the pipe open after the shell exits: kill the group, then stop reading.
    if sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.pid, signal.SIGKILL)
    try:
        async with asyncio.timeout(2.0):
            truncated = await reader
    except TimeoutError:  # something that escaped the group still holds the pipe: keep what we have
        truncated = True
    text = decode_output(bytes(kept))[:cap]
    duration_ms = round((time.perf_counter() - running.started) * 1000)
    return CommandOutcome(
        exit_code=None if timed_out else running.process.returncode,
        output=text,
        truncated=truncated,
        duration_ms=max(0, duration_ms),
    )


async def run_command(command: str, timeout_s: float, cwd: Path | None = None) -> CommandOutcome:
    return await finish_command(await start_command(command, cwd), timeout_s)


class CommandLedger:
    """Commands running now, on disk: if the agent itself is killed (SIGKILL, a crash, power cut while
    the PC stays up), the next agent start kills what the dead one left behind. Each entry is a pid and
    its start time, so a recycled pid is never mistaken for ours."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save(self, entries: dict[str, float]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(entries), "utf-8")
        temp.replace(self.path)

    def add(self, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            entries = self._load()
            entries[str(pid)] = psutil.Process(pid).create_time()
            self._save(entries)

    def remove(self, pid: int) -> None:
        entries = self._load()
        if entries.pop(str(pid), None) is not None:
            self._save(entries)

    def kill_leftovers(self) -> int:
        """Kill every recorded command tree still alive; returns how many trees were found."""
        found = 0
        for pid_text, created in self._load().items():
            pid = int(pid_text)
            with contextlib.suppress(psutil.Error):
                if abs(psutil.Process(pid).create_time() - created) < 0.01:
                    found += 1
                    kill_tree(pid, pid if sys.platform != "win32" else None)
        self._save({})
        return found
