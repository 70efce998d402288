"""Landlock (Linux ≥ 5.13): a file-system allow-list the sandboxed process can never lift.

The ruleset is built in the agent (parent) — path file descriptors opened, rules added — and only
`landlock_restrict_self` runs in the child before exec, so the child does one system call here.

Two policies:
- **wall** (used with the private mount namespace, which already hides the paths): everything beneath
  `/` is allowed. What the domain adds is what Landlock gives every sandboxed process: it cannot ptrace
  or read `/proc/PID/{root,cwd,fd,environ,mem}` of any process outside its domain (so not the agent's
  view of the file system), cannot mount or unmount (so not uncover a hidden folder, even as root), and
  with ABI ≥ 6 cannot signal processes outside (the agent cannot be stopped or killed by the command) or
  connect to their abstract Unix sockets (an old D-Bus session bus, X11).
- **holes** (no mount namespace possible): every hidden path is simply not on the allow-list. Landlock
  rules are inherited by everything beneath a directory and cannot be subtracted, so the list is: every
  entry of every ancestor of a hidden path, except the hidden paths and the ancestors themselves. The
  ancestors (`/`, `/home`, `~`, …) get no right at all: they can be entered and their other entries used,
  but not listed, and nothing can be created or removed directly in them.

Why ctypes rather than a binding: three system calls with fixed structures; the one PyPI binding
(`landlock`, 1.0.0.dev5) is a development release, and the call in the child must not import anything.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.sandbox import syscalls

CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

# include/uapi/linux/landlock.h: file-system rights, and the ABI that introduced each.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_ABI1 = (1 << 13) - 1
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@functools.cache
def abi_version() -> int:
    """The kernel's Landlock ABI (0: absent or disabled). Asked once."""
    try:
        return syscalls.syscall(
            syscalls.SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION
        )
    except OSError:
        return 0


def fs_rights(abi: int) -> int:
    rights = _ABI1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


@dataclass
class Ruleset:
    """A built ruleset: its descriptor, to be applied in the child, then closed in the parent."""

    fd: int
    policy: str  # "wall" or "holes"

    def restrict_self(self) -> None:
        """In the child: enter the domain. For good: no call undoes it, exec keeps it."""
        syscalls.syscall(syscalls.SYS_LANDLOCK_RESTRICT_SELF, self.fd, 0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _create(abi: int) -> int:
    attr = _RulesetAttr(fs_rights(abi), 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    # Pass only the part of the structure this ABI knows (8 bytes before ABI 4, 16 before ABI 6).
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    return syscalls.syscall(
        syscalls.SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0
    )


def _allow(ruleset: int, path_fd: int, access: int) -> None:
    rule = _PathBeneath(access, path_fd)
    syscalls.syscall(syscalls.SYS_LANDLOCK_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0)


def _allow_path(ruleset: int, path: Path, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        _allow(ruleset, fd, rights if is_dir else rights & _FILE_RIGHTS)
    finally:
        os.close(fd)


def wall() -> Ruleset:
    """Everything allowed beneath `/`: the domain's other walls are what we want (see the docstring)."""
    abi = abi_version()
    fd = _create(abi)
    try:
        _allow_path(fd, Path("/"), fs_rights(abi))
    except OSError:
        os.close(fd)
        raise
    return Ruleset(fd, "wall")


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def holes(hidden: Iterable[Path]) -> Ruleset:
    """Everything allowed except the hidden paths (and the rights of their ancestors, see above)."""
    abi = abi_version()
    rights = fs_rights(abi)
    hidden = [Path(os.path.realpath(p)) for p in hidden]
    ancestors = {parent for path in hidden for parent in path.parents}
    fd = _create(abi)
    try:
        for ancestor in sorted(ancestors):
            try:
                entries = list(ancestor.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry in ancestors or _inside(entry, hidden):
                    continue
                # A link that leads to an ancestor or into a hidden path would open the whole
                # hierarchy: follow it, and skip it if it does.
                if entry.is_symlink():
                    target = Path(os.path.realpath(entry))
                    if target in ancestors or _inside(target, hidden):
                        continue
                with contextlib.suppress(OSError):  # vanished, or a dangling link: nothing to allow
                    _allow_path(fd, entry, rights)
    except OSError:
        os.close(fd)
        raise
    return Ruleset(fd, "holes")
