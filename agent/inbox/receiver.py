"""Receiving one pushed file into the inbox: the only way bytes ever move between engineer and PC.

Life of a push (one `PendingFile` per consented push_file action):

1. `Inbox.begin` checks the size against the agent's limit and the free disk space (size + a reserve
   that keeps the user's PC usable), then creates a hidden temporary file with O_EXCL, mode 0600.
2. `write` accepts chunks strictly in order (offset == bytes so far), never past the announced size,
   hashing as it goes: a chunk that would lie about the size, skip or rewrite bytes is an error.
3. On the last chunk: size and SHA-256 must match; the data is fsynced, then *linked* to its final
   name — link(2) fails if the name exists, so a file is never overwritten, even by a racing writer —
   and the directory is fsynced. The temporary name is then removed.
4. Any failure, the kill switch, or a dropped connection calls `abort`: the temporary file is deleted.

Nothing here ever opens an existing file, lists the inbox for anyone, or runs what it wrote: files are
created without execute bits, and on Windows they get a Mark of the Web (Zone.Identifier, Internet zone)
so the shell warns before opening them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.inbox.names import PARTIAL_PREFIX, numbered, sanitize_name
from protocol.codec import FileChunk

FILE_MODE = 0o644  # readable by the user, never executable
MAX_NAME_ATTEMPTS = 1000
_MOTW = "[ZoneTransfer]\r\nZoneId=3\r\n"


class InboxError(Exception):
    """A push that cannot be accepted or completed. `code` is stable (tests, the engineer's console)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def _fsync_dir(path: Path) -> None:
    if sys.platform == "win32":
        return  # NTFS journals directory entries; there is no directory handle to fsync
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class PendingFile:
    """One push in flight. Created by `Inbox.begin`; finished by `write(last=True)` or `abort`."""

    inbox: Path
    action_id: str
    wanted_name: str
    size: int
    sha256: str
    temp: Path
    _fd: int | None
    received: int = 0
    saved_as: str | None = None
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def done(self) -> bool:
        return self.saved_as is not None

    def write(self, chunk: FileChunk) -> str | None:
        """Append one chunk; returns the saved name after the last one. Raises InboxError (and aborts)."""
        try:
            return self._write(chunk)
        except InboxError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            code = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "write_failed"
            raise InboxError(code, os.strerror(exc.errno or 0)) from None

    def _write(self, chunk: FileChunk) -> str | None:
        if self._fd is None:
            raise InboxError("not_open", "the push was already finished or aborted")
        if chunk.offset != self.received:
            raise InboxError("out_of_order", f"chunk at {chunk.offset}, expected {self.received}")
        if chunk.end > self.size:
            raise InboxError("too_long", f"chunks go past the announced {self.size} bytes")
        view = memoryview(chunk.payload)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._hash.update(chunk.payload)
        self.received = chunk.end
        if not chunk.last:
            return None
        if self.received != self.size:
            raise InboxError("too_short", f"{self.received} of {self.size} bytes arrived")
        if self._hash.hexdigest() != self.sha256:
            raise InboxError("hash_mismatch", "SHA-256 of the received bytes differs from the announced one")
        return self._commit()

    def _commit(self) -> str:
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        for n in range(MAX_NAME_ATTEMPTS):
            name = numbered(self.wanted_name, n)
            try:
                os.link(self.temp, self.inbox / name)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                # No hard links here (FAT, some network shares): an exclusive create then rename.
                if not self._claim_by_rename(name):
                    continue
            else:
                self.temp.unlink()
            _fsync_dir(self.inbox)
            self._mark_of_the_web(self.inbox / name)
            self.saved_as = name
            return name
        raise InboxError("name_taken", f"{MAX_NAME_ATTEMPTS} names like {self.wanted_name!r} are taken")

    def _claim_by_rename(self, name: str) -> bool:
        target = self.inbox / name
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            return False
        self.temp.replace(target)  # replaces only the empty placeholder we just created
        return True

    @staticmethod
    def _mark_of_the_web(path: Path) -> None:
        if sys.platform == "win32":
            with contextlib.suppress(OSError), open(f"{path}:Zone.Identifier", "w") as stream:
                stream.write(_MOTW)

    def abort(self) -> None:
        """Close and delete the temporary file (idempotent; a finished file is left alone)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.saved_as is None:
            with contextlib.suppress(FileNotFoundError):
                self.temp.unlink()


class Inbox:
    """The folder pushed files land in. `max_size` per file; `reserve` bytes of disk always kept free."""

    def __init__(self, directory: Path, max_size: int, reserve: int = 0) -> None:
        self.directory = directory
        self.max_size = max_size
        self.reserve = reserve

    def ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def clean_partials(self) -> int:
        """Delete temporary files a crash left behind; returns how many."""
        removed = 0
        if self.directory.is_dir():
            for entry in self.directory.iterdir():
                if entry.name.startswith(PARTIAL_PREFIX) and entry.is_file() and not entry.is_symlink():
                    with contextlib.suppress(OSError):
                        entry.unlink()
                        removed += 1
        return removed

    def check(self, size: int) -> None:
        """Refuse before consent what could never land: too big, or not enough free disk."""
        if size > self.max_size:
            raise InboxError("too_large", f"{size} bytes is over this PC's limit of {self.max_size}")
        self.ensure()
        free = shutil.disk_usage(self.directory).free
        if size + self.reserve > free:
            raise InboxError("disk_full", f"{size} bytes needed (+{self.reserve} kept free), {free} free")

    def begin(self, action_id: str, name: str, size: int, sha256: str) -> PendingFile:
        self.check(size)
        temp = self.directory / f"{PARTIAL_PREFIX}{action_id}"
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        )
        try:
            fd = os.open(temp, flags, FILE_MODE)
        except FileExistsError:
            raise InboxError("duplicate", "a push with this action id is already in progress") from None
        pending = PendingFile(self.directory, action_id, sanitize_name(name), size, sha256, temp, fd)
        if hasattr(os, "posix_fallocate"):  # Linux, BSDs; not macOS or Windows
            # Reserve the space now: a disk that fills up midway fails here, not after minutes of transfer.
            try:
                if size:
                    os.posix_fallocate(fd, 0, size)  # writes then fill the reserved blocks in order
            except OSError as exc:
                pending.abort()
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise InboxError("disk_full", "the disk cannot hold the file") from None
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                    raise
        return pending
