"""One cgroup v2 per engineer command, so that nothing it starts escapes the kill switch.

Whatever a command does — fork twice, `setsid`, daemonise, close every descriptor — its processes stay
in the cgroup it was started in. A process leaves a cgroup only by being moved, by someone allowed to
write `cgroup.procs` of a cgroup above it (root; the user, inside a delegated subtree): the sandbox
hides the cgroup file system from the command (an empty tmpfs in its mount namespace, or Landlock), and
gives it a cgroup namespace rooted at its own cgroup. (The namespace alone is not enough: it bars moves
out only when cgroup2 is mounted with `nsdelegate`, as systemd does on pure-v2 systems but not here.)

Ending it is one write: `cgroup.kill` SIGKILLs every process in the cgroup and its descendants,
atomically with respect to forks (kernel ≥ 5.14; before that we freeze the cgroup, kill each member and
thaw). `cgroup.events` says `populated 0` when the last one is gone; then the empty directory is removed.

Where: a child of the agent's own cgroup (`0::/…` in /proc/self/cgroup, under the cgroup2 mount from
/proc/mounts — on hybrid systems that is /sys/fs/cgroup/unified, not /sys/fs/cgroup). That works as root,
and for a user whose session manager delegated the subtree (systemd's user@UID.service: a desktop
terminal, an app started from the menu). It does not in a cgroup the user does not own (a login over SSH
or a text console: session-N.scope belongs to root), nor without cgroup v2: then `place()` says why and
the command runs in its own process group as before — a `setsid` or double fork can then escape End.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "rme-cmd-"
_counter = itertools.count(1)


class CgroupUnavailable(Exception):
    """No cgroup for commands here; the message says why (for the log and the docs)."""


def _unescape(field_text: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field_text = field_text.replace(code, char)
    return field_text


def cgroup2_mount(mounts: str) -> Path | None:
    """The first cgroup2 mount point in a /proc/mounts text."""
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "cgroup2":
            return Path(_unescape(parts[1]))
    return None


def cgroup2_mounts() -> list[Path]:
    """Every cgroup2 mount point: the sandbox hides them from commands (see launch.py)."""
    try:
        text = Path("/proc/mounts").read_text()
    except OSError:
        return []
    return [
        Path(_unescape(parts[1]))
        for parts in (line.split() for line in text.splitlines())
        if len(parts) >= 3 and parts[2] == "cgroup2"
    ]


def own_cgroup(proc_cgroup: str) -> str | None:
    """The unified-hierarchy path in a /proc/PID/cgroup text (the `0::` line)."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def cgroup_of(pid: int) -> Path | None:
    """Where a process sits in the cgroup2 tree, as a directory, or None."""
    try:
        mount = cgroup2_mount(Path("/proc/mounts").read_text())
        rel = own_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    if mount is None or rel is None or rel.endswith("(deleted)"):
        return None
    return mount / rel.lstrip("/")


def place() -> Path:
    """The directory new command cgroups go in (our own cgroup), checked once; or CgroupUnavailable."""
    found = _find_place()
    if isinstance(found, CgroupUnavailable):
        raise found
    return found


@functools.cache
def _find_place() -> Path | CgroupUnavailable:
    try:
        mounts = Path("/proc/mounts").read_text()
    except OSError as exc:
        return CgroupUnavailable(f"cannot read /proc/mounts: {exc}")
    mount = cgroup2_mount(mounts)
    if mount is None:
        return CgroupUnavailable("no cgroup2 file system is mounted (cgroup v1 only)")
    here = cgroup_of(os.getpid())
    if here is None:
        return CgroupUnavailable("this process has no cgroup v2 path")
    # Moving a process needs write access to cgroup.procs of the source/destination's common ancestor
    # (our own cgroup) and the right to make a child directory there.
    if not (os.access(here, os.W_OK | os.X_OK) and os.access(here / "cgroup.procs", os.W_OK)):
        return CgroupUnavailable(f"{here} is not delegated to this user")
    return here


@dataclass
class CommandCgroup:
    """A command's cgroup. `procs_fd` is cgroup.procs opened by the agent: the child writes "0" to it
    between fork and exec, so the shell is inside before it runs a single instruction of its own."""

    path: Path
    procs_fd: int
    removed: bool = field(default=False)

    @classmethod
    def create(cls, parent: Path | None = None) -> CommandCgroup:
        parent = parent if parent is not None else place()
        path = parent / f"{PREFIX}{os.getpid()}-{next(_counter)}-{os.urandom(3).hex()}"
        path.mkdir(mode=0o755)
        try:
            fd = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            raise
        return cls(path, fd)

    def join(self) -> None:
        """In the child, before exec: move the calling process in."""
        os.write(self.procs_fd, b"0")

    def close_fd(self) -> None:
        if self.procs_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.procs_fd)
            self.procs_fd = -1

    def pids(self) -> list[int]:
        """Every process in the cgroup and its descendants."""
        found: list[int] = []
        for procs in [self.path / "cgroup.procs", *self.path.glob("**/cgroup.procs")]:
            with contextlib.suppress(OSError, ValueError):
                found += [int(line) for line in procs.read_text().split()]
        return sorted(set(found))

    def kill(self) -> list[int]:
        """SIGKILL everything inside, now; returns the pids that were there. Does not wait."""
        victims = self.pids()
        try:
            (self.path / "cgroup.kill").write_text("1")
        except FileNotFoundError:
            if self.path.exists():
                self._freeze_and_kill()
        except OSError:
            self._freeze_and_kill()
        return victims

    def _freeze_and_kill(self) -> None:
        """Kernels 5.2–5.13: no cgroup.kill. Frozen, nothing can fork while we kill each member."""
        freeze = self.path / "cgroup.freeze"
        with contextlib.suppress(OSError):
            freeze.write_text("1")
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        with contextlib.suppress(OSError):
            freeze.write_text("0")  # a frozen SIGKILLed task dies only once thawed

    def populated(self) -> bool:
        try:
            events = (self.path / "cgroup.events").read_text()
        except FileNotFoundError:
            return False
        return "populated 1" in events

    def wait_empty(self, timeout: float) -> bool:
        """Block until `populated 0` (every process gone, zombies reaped); False at the timeout."""
        deadline = time.monotonic() + timeout
        while self.populated():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)
        return True

    def remove(self) -> bool:
        """Remove the (empty) cgroup and any sub-cgroups the command made; False if still busy."""
        self.close_fd()
        if self.removed:
            return True
        try:
            subdirs = sorted(
                (p for p in self.path.glob("**/") if p != self.path), key=lambda p: len(p.parts), reverse=True
            )
            for sub in [*subdirs, self.path]:
                with contextlib.suppress(FileNotFoundError):
                    sub.rmdir()
        except OSError as exc:
            if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
                return False
            raise
        self.removed = True
        return True


def kill_path(path: Path, timeout: float = 1.0) -> bool:
    """Kill and remove a cgroup known only by its path (left behind by an agent that died)."""
    if not path.name.startswith(PREFIX) or not path.is_dir():
        return False
    group = CommandCgroup(path, -1)
    group.kill()
    group.wait_empty(timeout)
    return group.remove()


def sweep() -> int:
    """At agent start: kill and remove command cgroups (beside ours) whose agent no longer runs.
    Returns how many were found. Another agent's, still running, are left alone."""
    try:
        parent = place()
    except CgroupUnavailable:
        return 0
    found = 0
    for path in parent.glob(f"{PREFIX}*"):
        owner = path.name[len(PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid() or _alive(int(owner)):
            continue
        found += 1
        kill_path(path)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
