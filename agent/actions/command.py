"""Running one consented command: contained, sandboxed, a timeout, output capped, everything killed.

The command line is exactly the text the user saw and allowed; it runs through the platform shell
(`/bin/sh -c` on POSIX, `cmd.exe /d /s /c` on Windows) because that is what an engineer types.

Containment (`agent/sandbox`): on Linux each command gets its own cgroup v2 and ending it is one write to
`cgroup.kill` — a double fork, `setsid` or a daemon cannot escape. On Windows it runs in its own Job
Object (kill-on-close). Where neither is possible it starts in a new session (its own process group) and
psutil collects descendants by parentage before anything is killed — then a process that deliberately
leaves the group survives. Sandbox: given the vault and the data dir, the command runs where they do
not exist (`agent/sandbox/launch.py`).

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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

from agent.sandbox import CommandCgroup, Launch, prepare
from agent.sandbox.cgroup import PREFIX as CGROUP_PREFIX
from agent.sandbox.cgroup import cgroup_of, kill_path, sweep
from agent.sandbox.launch import runtime_dir
from agent.sandbox.windows_job import CREATE_SUSPENDED, JobObject, resume
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


class VaultPaths(Protocol):
    """What the sandbox needs from the vault (agent.vault.Vault has it)."""

    def vault_paths(self) -> list[Path]: ...


@dataclass
class RunningCommand:
    """A started command. `kill()` is synchronous and fast, for the kill switch."""

    process: asyncio.subprocess.Process
    started: float
    killed: bool = False
    cgroup: CommandCgroup | None = None
    job: JobObject | None = None
    sandbox: str = "none"  # what hides the vault from it: see agent/sandbox/launch.py
    exit_seen: asyncio.Future[None] | None = None  # the shell exited (its pipe may still be held open)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def exited(self) -> None:
        """The shell itself has exited. (`Process.wait()` also waits for every holder of its output
        pipe — a daemon it left — to close it; this does not.)"""
        if self.exit_seen is None:
            await self.process.wait()
        else:
            await asyncio.shield(self.exit_seen)

    def kill(self) -> list[int]:
        if self.process.returncode is not None and self.killed:
            return []
        self.killed = True
        return self._kill_all()

    def _kill_all(self) -> list[int]:
        """Everything the command started, wherever it went; returns the pids signalled."""
        if self.cgroup is not None:
            return [] if self.cgroup.removed else self.cgroup.kill()
        if self.job is not None:
            return self.job.kill()
        pgid = self.process.pid if sys.platform != "win32" else None
        return kill_tree(self.process.pid, pgid)

    async def release(self, within: float = 2.0) -> bool:
        """After the command: kill what it left behind, wait until its cgroup is empty (`populated 0`),
        remove the cgroup. True if nothing is left."""
        if self.job is not None:
            self.job.kill()
            self.job.close()
            return True
        if self.cgroup is None:
            return True
        if self.cgroup.removed:
            return True
        self.cgroup.kill()
        deadline = time.monotonic() + within
        while self.cgroup.populated():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.001)
        return self.cgroup.remove()


_releasing: set[asyncio.Task[bool]] = set()


def _release_later(running: RunningCommand) -> None:
    """A cancelled finish_command cannot wait for the cgroup to empty: a task does it."""

    async def release() -> bool:
        with contextlib.suppress(Exception):
            await running.exited()
        return await running.release()

    task = asyncio.ensure_future(release())
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


def paths_to_hide(vault: VaultPaths | None, data_dir: Path | None) -> list[Path]:
    """The agent's data dir (device key, panel secret, the vault's store and session lock, the user's
    log), every vault folder and its temporary siblings, and the user's runtime dir (see launch.py)."""
    if vault is None and data_dir is None:
        return []
    paths: list[Path] = [data_dir] if data_dir is not None else []
    if vault is not None:
        # A vault whose metadata cannot be read: its store is in the data dir (hidden anyway) and its
        # folders are closed during a session; the request check refuses their names.
        with contextlib.suppress(Exception):
            paths += vault.vault_paths()
    return paths + runtime_dir()


async def _prepare(hide: list[Path], cwd: Path | None) -> Launch:
    """`prepare` in a worker thread; if we are cancelled meanwhile (End while a command starts), what
    it made — a cgroup directory, a ruleset descriptor — is undone when it finishes."""
    planning = asyncio.ensure_future(asyncio.to_thread(prepare, hide, cwd))
    try:
        return await asyncio.shield(planning)
    except asyncio.CancelledError:

        def undo(done: asyncio.Future[Launch]) -> None:
            if not done.cancelled() and done.exception() is None:
                done.result().failed()

        planning.add_done_callback(undo)
        raise


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's own protocol for `create_subprocess_exec`, plus a future set when the process exits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=READ_SIZE, loop=loop)
        self.exit_seen: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exit_seen.done():
            self.exit_seen.set_result(None)


async def start_command(
    command: str,
    cwd: Path | None = None,
    *,
    vault: VaultPaths | None = None,
    data_dir: Path | None = None,
    hide: Iterable[Path] = (),
) -> RunningCommand:
    """Start a command contained (always) and sandboxed (when `vault`, `data_dir` or `hide` name
    something to hide). Raises OSError/SubprocessError if the sandbox could not be built: a command that
    was to run without the vault never runs with it."""
    kwargs: dict[str, object] = {}
    launch = Launch()
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED
    else:
        kwargs["start_new_session"] = True
        launch = await _prepare([*paths_to_hide(vault, data_dir), *hide], cwd)
        if launch.needed:
            kwargs["preexec_fn"] = launch.child
    loop = asyncio.get_running_loop()
    protocol = _Protocol(loop)
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *shell_argv(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(cwd) if cwd else None,
            **kwargs,  # type: ignore[arg-type]
        )
    except BaseException:
        launch.failed()
        raise
    launch.started()
    process = asyncio.subprocess.Process(transport, protocol, loop)
    running = RunningCommand(
        process, time.perf_counter(), cgroup=launch.cgroup, sandbox=launch.mode, exit_seen=protocol.exit_seen
    )
    if sys.platform == "win32":
        _contain_windows(running)
    return running


def _contain_windows(running: RunningCommand) -> None:
    """Job Object, then resume the suspended process; if no job can be made, resume it anyway (the
    process-group kill still applies) — see agent/sandbox/windows_job.py."""
    transport = running.process._transport  # type: ignore[attr-defined]
    handle = int(transport.get_extra_info("subprocess")._handle)
    try:
        running.job = JobObject.create()
        running.job.assign_and_resume(handle)
    except OSError:
        if running.job is not None:
            running.job.close()
            running.job = None
        resume(handle)


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
            await running.exited()
    except TimeoutError:
        timed_out = True
        running.kill()
        await running.exited()
    except asyncio.CancelledError:
        running.kill()
        reader.cancel()
        _release_later(running)
        raise
    # Whatever the command left running dies with it (a grandchild may keep the pipe open after the
    # shell exits): its cgroup or job, else its process group; then stop reading.
    if running.cgroup is not None or running.job is not None:
        running._kill_all()
    elif sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.pid, signal.SIGKILL)
    try:
        async with asyncio.timeout(2.0):
            truncated = await reader
    except TimeoutError:  # something that escaped the group still holds the pipe: keep what we have
        truncated = True
    await running.release()
    text = decode_output(bytes(kept))[:cap]
    duration_ms = round((time.perf_counter() - running.started) * 1000)
    return CommandOutcome(
        exit_code=None if timed_out else running.process.returncode,
        output=text,
        truncated=truncated,
        duration_ms=max(0, duration_ms),
    )


async def run_command(
    command: str,
    timeout_s: float,
    cwd: Path | None = None,
    *,
    vault: VaultPaths | None = None,
    data_dir: Path | None = None,
) -> CommandOutcome:
    return await finish_command(await start_command(command, cwd, vault=vault, data_dir=data_dir), timeout_s)


class CommandLedger:
    """Commands running now, on disk: if the agent itself is killed (SIGKILL, a crash, power cut while
    the PC stays up), the next agent start kills what the dead one left behind. Each entry is a pid and
    its start time, so a recycled pid is never mistaken for ours — and, on Linux, the command's cgroup,
    which holds everything the command started even after its shell is gone.

    File: `{"pids": {pid: start time}, "cgroups": {pid: path}}` (a flat `{pid: start time}` from older
    agents is read too)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        if "pids" not in data:
            return {"pids": data, "cgroups": {}}
        return data

    def _load(self) -> dict[str, float]:
        pids = self._read().get("pids")
        if not isinstance(pids, dict):
            return {}
        entries: dict[str, float] = {}
        for key, value in pids.items():
            with contextlib.suppress(TypeError, ValueError):
                entries[str(key)] = float(value)
        return entries

    def _cgroups(self) -> dict[str, str]:
        groups = self._read().get("cgroups")
        return {str(k): str(v) for k, v in groups.items()} if isinstance(groups, dict) else {}

    def _save(self, entries: dict[str, float], cgroups: dict[str, str] | None = None) -> None:
        if cgroups is None:
            cgroups = {k: v for k, v in self._cgroups().items() if k in entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps({"pids": entries, "cgroups": cgroups}), "utf-8")
        temp.replace(self.path)

    def add(self, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            entries = self._load()
            groups = self._cgroups()
            entries[str(pid)] = psutil.Process(pid).create_time()
            group = cgroup_of(pid) if sys.platform.startswith("linux") else None
            if group is not None and group.name.startswith(CGROUP_PREFIX):
                groups[str(pid)] = str(group)
            self._save(entries, groups)

    def remove(self, pid: int) -> None:
        entries = self._load()
        if entries.pop(str(pid), None) is not None:
            self._save(entries)

    def kill_leftovers(self) -> int:
        """Kill every recorded command tree still alive; returns how many trees were found."""
        found = 0
        groups = self._cgroups()
        for pid_text, created in self._load().items():
            pid = int(pid_text)
            group = groups.get(pid_text)
            # The cgroup is named after the agent that made it and holds only that command: whatever is
            # in it (the shell may be gone, its daemons not) is a leftover.
            if group is not None and kill_path(Path(group)):
                found += 1
                continue
            with contextlib.suppress(psutil.Error):
                if abs(psutil.Process(pid).create_time() - created) < 0.01:
                    found += 1
                    kill_tree(pid, pid if sys.platform != "win32" else None)
        self._save({}, {})
        if sys.platform.startswith("linux"):
            sweep()  # command cgroups of any other dead agent beside ours (not in this ledger)
        return found
