"""The few Linux system calls the sandbox needs and Python does not wrap: prctl, unshare, mount and
the three Landlock calls. One libc handle, prototypes set once in the parent, errors raised as OSError.

Everything here may run in the forked child between fork and exec (`subprocess`'s `preexec_fn`), so the
functions allocate little and take arguments already encoded to bytes by the parent.
"""

from __future__ import annotations

import ctypes
import os
import sys

# Linux constants (include/uapi/linux/{sched,mount,prctl}.h). Identical on x86-64 and arm64.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

# Landlock: one syscall number on every architecture (new syscalls share the generic table).
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446


class _Libc:
    """libc with the prototypes we call; `None` off Linux."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(None, use_errno=True)
        self.syscall = lib.syscall
        self.syscall.restype = ctypes.c_long
        self.prctl = lib.prctl
        self.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.prctl.restype = ctypes.c_int
        self.unshare = lib.unshare
        self.unshare.argtypes = [ctypes.c_int]
        self.unshare.restype = ctypes.c_int
        self.mount = lib.mount
        self.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        self.mount.restype = ctypes.c_int


LIBC: _Libc | None = _Libc() if sys.platform.startswith("linux") else None


def _libc() -> _Libc:
    if LIBC is None:
        raise OSError(0, "not Linux")
    return LIBC


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def prctl(option: int, arg: int) -> None:
    _check(_libc().prctl(option, arg, 0, 0, 0), "prctl")


def unshare(flags: int) -> None:
    _check(_libc().unshare(flags), "unshare")


def mount(source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> None:
    _check(_libc().mount(source, target, fstype, flags, data), "mount")


def syscall(number: int, *args: object) -> int:
    return _check(int(_libc().syscall(number, *args)), f"syscall {number}")
