"""One vault operation at a time across processes (CLI, panel, agent), and the session lock.

The operation lock is an OS file lock (flock / msvcrt.locking): the OS drops it when the holder dies,
even by SIGKILL, so a crash never leaves the vault locked — recovery runs under it instead.

The session lock lives in the process that holds the session (vault.py). For the other processes there
are two marks, neither of which a file command can lift while that process runs:
* the *beacon* (Linux): an abstract-namespace Unix socket named after the data directory, bound by the
  holder for the session. It is no file, so `rm` cannot touch it; the kernel drops it when the holder
  exits, even by SIGKILL (then the session is over too). Windows would use a named mutex the same way.
* the session file: "an engineer session is active, owned by process P (started at T)", for systems
  without the beacon and for crash recovery. It survives the agent's death on purpose; it is only
  treated as stale when that process no longer exists, which the next recovery clears.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from agent.vault.durable import atomic_write, remove_file
from agent.vault.errors import LockTimeout

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def operation_lock(path: Path, timeout: float = 30.0) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout()
            time.sleep(0.05)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _process_identity(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def write_session(path: Path, owner_pid: int) -> None:
    doc = {"pid": owner_pid, "started": _process_identity(owner_pid), "since": time.time()}
    atomic_write(path, json.dumps(doc).encode(), crash_name="session")


def read_session_owner(path: Path) -> int | None:
    """The pid of the live process owning the session lock, or None (no lock, or a stale one)."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        return 0  # unreadable: err on the safe side, a session may be active
    pid = int(doc.get("pid", 0))
    started = doc.get("started")
    alive = _process_identity(pid)
    if alive is None or (started is not None and abs(alive - float(started)) > 1.0):
        return None
    return pid


def clear_session(path: Path) -> None:
    remove_file(path)


_ABSTRACT = sys.platform.startswith("linux")


def _beacon_name(data_dir: Path) -> bytes:
    digest = hashlib.sha256(os.fsencode(os.path.realpath(data_dir))).hexdigest()[:32]
    return b"\0rme-vault-session-" + digest.encode("ascii")


class SessionBeacon:
    """The holder's mark that a session is on, which no file command can remove (Linux; else a no-op)."""

    def __init__(self, data_dir: Path) -> None:
        self.name = _beacon_name(data_dir)
        self._sock: socket.socket | None = None

    def raise_(self) -> None:
        if not _ABSTRACT or self._sock is not None:
            return
        for _ in range(20):  # a prober holds the name for a moment: try again
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(self.name)
            except OSError:
                sock.close()
                time.sleep(0.01)
                continue
            self._sock = sock
            return
        # Someone else holds the name (another holder, or a squatter): the session shows either way.

    def lower(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def beacon_up(data_dir: Path) -> bool:
    """Does a live process hold the session beacon for this data dir? (False where there is none.)"""
    if not _ABSTRACT:
        return False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(_beacon_name(data_dir))
    except OSError:
        return True  # the name is taken: the holder is alive
    finally:
        sock.close()
    return False
