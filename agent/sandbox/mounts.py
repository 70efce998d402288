"""A private mount namespace in which the hidden folders are empty, read-only and cannot be uncovered.

In the child, between fork and exec:
1. `unshare(CLONE_NEWNS | CLONE_NEWCGROUP)`, plus `CLONE_NEWUSER` when the agent is not root (a user
   namespace mapping only the user's own uid and gid: that is what lets an ordinary user make a mount
   namespace at all; the shell exec'd afterwards has no capabilities in it);
2. every mount made private, so nothing done here propagates back to the user's real view;
3. over each hidden directory an empty read-only tmpfs (mode 0555); over a hidden file, /dev/null.
   Seen from the command the data dir and the vault folders are empty: `ls` lists nothing, `cat` and
   `rm` of a file in them fail with "No such file or directory", and nothing can be created there;
4. the cgroup namespace (taken after joining the command's cgroup) makes that cgroup the root of the
   command's cgroup tree: it cannot move itself out (`cgroup.procs` of any cgroup above is out of reach).

The command cannot unmount the tmpfs: without Landlock it has no capability (user) — and with Landlock,
which the sandbox adds where the kernel has it, no sandboxed process may mount or unmount at all (root).
Mounts copied into a further nested namespace are locked to their parents.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.sandbox import syscalls

TMPFS_OPTIONS = b"size=4k,nr_inodes=1,mode=0555"
TMPFS_FLAGS = syscalls.MS_RDONLY | syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC


@dataclass(frozen=True)
class Target:
    path: bytes
    is_dir: bool


@dataclass(frozen=True)
class MountPlan:
    """Everything the child needs, prepared (and encoded) in the parent."""

    targets: tuple[Target, ...]
    user_namespace: bool
    uid: int
    gid: int

    def enter(self) -> None:
        """In the child: the namespaces and the mounts. Raises OSError if any step fails."""
        flags = syscalls.CLONE_NEWNS | syscalls.CLONE_NEWCGROUP
        if self.user_namespace:
            flags |= syscalls.CLONE_NEWUSER
        syscalls.unshare(flags)
        if self.user_namespace:
            _write(b"/proc/self/setgroups", b"deny")
            _write(b"/proc/self/uid_map", b"%d %d 1" % (self.uid, self.uid))
            _write(b"/proc/self/gid_map", b"%d %d 1" % (self.gid, self.gid))
        syscalls.mount(None, b"/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)
        for target in self.targets:
            try:
                if target.is_dir:
                    syscalls.mount(
                        b"tmpfs", target.path, b"tmpfs", TMPFS_FLAGS, b"size=4k,nr_inodes=1,mode=0555"
                    )
                else:
                    syscalls.mount(b"/dev/null", target.path, None, syscalls.MS_BIND, None)
                    syscalls.mount(
                        None, target.path, None, syscalls.MS_REMOUNT | syscalls.MS_BIND | TMPFS_FLAGS, None
                    )
            except FileNotFoundError:
                continue  # gone since the plan was made: nothing to hide


def _write(path: bytes, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def outermost(paths: Iterable[Path]) -> list[Path]:
    """Absolute, symlinks resolved, `/` dropped, and a path inside another one dropped (the outer mount
    hides it already, and its mount point would no longer exist)."""
    resolved = sorted({Path(os.path.realpath(p)) for p in paths if Path(p).is_absolute()})
    kept: list[Path] = []
    for path in resolved:
        if path == Path("/") or any(k == path or k in path.parents for k in kept):
            continue
        kept.append(path)
    return kept


def plan(hidden: Iterable[Path]) -> MountPlan:
    targets = []
    for path in outermost(hidden):
        with contextlib.suppress(OSError):  # does not exist: nothing there to hide
            targets.append(Target(os.fsencode(path), path.is_dir()))
    return MountPlan(tuple(targets), os.geteuid() != 0, os.getuid(), os.getgid())


@functools.cache
def usable() -> bool:
    """Can this process make a private mount namespace with a tmpfs in it? Tried once, for real, in a
    short-lived child (unprivileged user namespaces are often off: Debian's sysctl, Ubuntu 24.04's
    AppArmor restriction, containers without CAP_SYS_ADMIN)."""
    probe = MountPlan((Target(b"/tmp", True),), os.geteuid() != 0, os.getuid(), os.getgid())
    try:
        done = subprocess.run(["/bin/sh", "-c", "exit 0"], preexec_fn=probe.enter, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
