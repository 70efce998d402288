"""`sftp put` and `scp` into the session's inbox: a put-only SFTP server.

The only thing it does is take a file: `open` for writing spools it to a private temporary file
(hashing as it comes), and `close` pushes it to the user through the desk — the console's own push:
the user's consent, chunks through the relay, the agent's SHA-256 check and atomic rename into the
inbox. `close` answers when the file is in the inbox, so `sftp put` / `scp` return only then, and fail
if the user denied it.

Everything else is refused with a message on the channel's stderr (which OpenSSH's `sftp` and `scp`
print): reading (`get`), listing (`ls`), stat of anything but the inbox itself, removing, renaming,
links. The one directory there is, `/`, is the session's inbox as a write-only drop box with no
contents; it lives on the gateway and holds nothing from the user's PC.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from protocol.limits import MAX_FILE_NAME, MAX_FILE_SIZE
from server.ssh.desk import DeskError
from server.ssh.login import Login
from server.ssh.prompt import say, state_label

log = logging.getLogger("rme.ssh.sftp")

ROOT = b"/"
# Files one engineer may be uploading at once (over all their connections): each holds a descriptor
# and up to MAX_FILE_SIZE of the server's disk until it is closed.
MAX_OPEN_FILES = 8
CLOSE_AFTER = 0.2  # seconds between refusing an upload whose session ended and closing the channel


@dataclass
class Spool:
    """One file being received: a private temporary file, hashed while the writes come in order."""

    session: str
    name: str
    path: Path
    handle: object
    size: int = 0
    next_offset: int = 0
    in_order: bool = True
    ended: bool = False  # its session ended while it came in: refused, said once
    opened_at: float = field(default_factory=time.monotonic)
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def write(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end > MAX_FILE_SIZE:
            raise asyncssh.SFTPFailure(f"files are at most {MAX_FILE_SIZE} bytes")
        fd = self.fd
        os.pwrite(fd, data, offset)
        if offset == self.next_offset and self.in_order:
            self.digest.update(data)
            self.next_offset = end
        else:
            self.in_order = False
        self.size = max(self.size, end)

    @property
    def fd(self) -> int:
        assert isinstance(self.handle, int)
        return self.handle

    def sha256(self) -> str:
        if self.in_order and self.next_offset == self.size:
            return self.digest.hexdigest()
        digest = hashlib.sha256()  # written out of order: hash the spooled file once, in order
        with self.path.open("rb") as source:
            while piece := source.read(1 << 20):
                digest.update(piece)
        return digest.hexdigest()


class PutOnlySFTP(asyncssh.SFTPServer):
    """One SFTP (or scp) channel of a logged-in engineer."""

    def __init__(
        self, chan: asyncssh.SSHServerChannel[bytes], login_of: Callable[[object], Login | None]
    ) -> None:
        super().__init__(chan)
        login = login_of(chan.get_connection())
        if login is None:  # cannot happen after authentication; refuse everything if it does
            raise asyncssh.SFTPPermissionDenied("not logged in")
        self.login = login
        self.lang = login.lang
        self.spools: dict[int, Spool] = {}  # by file descriptor: open files not closed yet

    # -- refusals ------------------------------------------------------------------------------------

    def _refusal(
        self, key: str, exc: Callable[[str], Exception] = asyncssh.SFTPPermissionDenied, **fields: object
    ) -> Exception:
        """The error refusing something (`key`: its text), also written to the client's stderr."""
        message = say(self.lang, key, **fields)
        with contextlib.suppress(OSError, asyncssh.Error, RuntimeError):
            self.channel.write_stderr(f"rme: {message}\r\n".encode())
        return exc(message)

    def _refuse(
        self, key: str, exc: Callable[[str], Exception] = asyncssh.SFTPPermissionDenied, **fields: object
    ) -> NoReturn:
        raise self._refusal(key, exc, **fields)

    def _name(self, path: bytes) -> tuple[str, str]:
        """The session and the file name a target path means: `/name` (the one active session) or
        `/<session id>/name`."""
        try:
            text = path.decode("utf-8")
        except UnicodeDecodeError:
            self._refuse("sftp_bad_name", asyncssh.SFTPFailure)
        parts = [p for p in text.split("/") if p and p != "."]
        desk = self.login.desk
        active = [v.id for v in desk.sessions.values() if v.state == "active"]
        if len(parts) == 2 and parts[0] in active:
            session, name = parts
        elif len(parts) == 1 and len(active) == 1:
            session, name = active[0], parts[0]
        elif not active:
            self._refuse("sftp_no_session")
        elif len(parts) == 1:
            self._refuse("sftp_which_session")
        else:
            self._refuse("sftp_no_folders", asyncssh.SFTPFailure)
        if not name or len(name.encode()) > MAX_FILE_NAME or ".." in parts:
            self._refuse("sftp_bad_name", asyncssh.SFTPFailure)
        return session, name

    def _is_root(self, path: bytes) -> bool:
        return path.strip(b"/") in (b"", b".")

    # -- the inbox as a write-only drop box --------------------------------------------------------

    def realpath(self, path: bytes) -> bytes:
        parts = [p for p in path.split(b"/") if p and p != b"."]
        return b"/" + b"/".join(parts)

    async def stat(self, path: bytes) -> SFTPAttrs:
        await self.login.ready.wait()
        if self._is_root(path):
            return SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=0o40300, size=0)
        desk = self.login.desk
        parts = [p for p in path.decode("utf-8", "replace").split("/") if p]
        if len(parts) == 1 and parts[0] in desk.sessions:
            return SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=0o40300, size=0)
        # `scp FILE server:NAME` and `put FILE NAME` ask first whether NAME is a folder: "no such file"
        # is the true answer (the drop box holds nothing), said without a refusal on the screen.
        raise asyncssh.SFTPNoSuchFile("no such file")

    async def lstat(self, path: bytes) -> SFTPAttrs:
        """`get` and `ls NAME` look with lstat: the refusal is said."""
        await self.login.ready.wait()
        if self._is_root(path):
            return SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=0o40300, size=0)
        self._refuse("sftp_no_stat", asyncssh.SFTPNoSuchFile)

    def fstat(self, file_obj: object) -> SFTPAttrs:
        if isinstance(file_obj, Spool):
            return SFTPAttrs(type=asyncssh.FILEXFER_TYPE_REGULAR, permissions=0o100200, size=file_obj.size)
        self._refuse("sftp_no_stat")

    def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        return _Refused(self._refusal("sftp_no_list"))

    async def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> Spool:
        await self.login.ready.wait()
        if pflags & asyncssh.FXF_READ or not pflags & asyncssh.FXF_WRITE:
            self._refuse("sftp_no_read")
        if pflags & asyncssh.FXF_APPEND:
            self._refuse("sftp_no_append", asyncssh.SFTPOpUnsupported)
        session, name = self._name(path)
        desk = self.login.desk
        if desk.open_files >= MAX_OPEN_FILES:
            self._refuse("sftp_too_many", asyncssh.SFTPFailure, limit=MAX_OPEN_FILES)
        spool_dir = self.login.spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, raw = tempfile.mkstemp(prefix="push-", dir=spool_dir)
        spool = self.spools[fd] = Spool(session, name, Path(raw), fd)
        desk.open_files += 1
        return spool

    def _release(self, spool: Spool) -> None:
        """The spool is no longer being received (closed, or its channel ended)."""
        if self.spools.pop(spool.fd, None) is not None:
            self.login.desk.open_files -= 1

    def _ended(self, spool: Spool) -> bool:
        view = self.login.desk.sessions.get(spool.session)
        return view is None or view.state == "ended"

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        if not isinstance(file_obj, Spool):
            self._refuse("sftp_no_read")
        if file_obj.ended:
            self._refuse_ended(file_obj, say_it=False)
        if self._ended(file_obj):
            # The kill switch: the user ended the session, so the upload stops now, not when it is done.
            # OpenSSH's `sftp`/`scp` go on sending the whole file after a failed write: once nothing
            # this channel receives can be delivered, the channel closes (after this answer goes out).
            file_obj.ended = True
            if all(spool.ended for spool in self.spools.values()):
                asyncio.get_running_loop().call_later(CLOSE_AFTER, self._close_channel)
            self._refuse_ended(file_obj)
        file_obj.write(offset, data)
        return len(data)

    def _client_gone(self) -> bool:
        """The channel is ending. asyncssh then closes the files still open itself (an `sftp` or `scp`
        killed mid-upload, the connection lost): such a file was never finished, so it is discarded,
        never offered to the user truncated."""
        recv_state = getattr(self.channel, "_recv_state", "open")  # asyncssh 2.24 has no public accessor
        return self.channel.is_closing() or recv_state != "open"

    def _close_channel(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error, RuntimeError):
            self.channel.close()

    def _refuse_ended(self, spool: Spool, say_it: bool = True) -> NoReturn:
        message = say(self.lang, "sftp_session_ended", session=spool.session, name=spool.name)
        if say_it:
            with contextlib.suppress(OSError, asyncssh.Error, RuntimeError):
                self.channel.write_stderr(f"rme: {message}\r\n".encode())
        raise asyncssh.SFTPFailure(message)

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        self._refuse("sftp_no_read")

    async def close(self, file_obj: object) -> None:
        if not isinstance(file_obj, Spool):
            return
        self._release(file_obj)
        try:
            os.close(file_obj.fd)
            if self._client_gone():
                log.info("sftp upload abandoned", extra={"size": file_obj.size})
                return
            if file_obj.ended or self._ended(file_obj):
                self._refuse_ended(file_obj, say_it=not file_obj.ended)
            sha = file_obj.sha256()
            closed_at = time.monotonic()
            try:
                action = await self.login.desk.push(
                    file_obj.session,
                    name=file_obj.name,
                    path=file_obj.path,
                    size=file_obj.size,
                    sha256=sha,
                    fingerprint=self.login.fingerprint,
                )
            except (DeskError, ConnectionError) as exc:
                if isinstance(exc, DeskError) and exc.code == "session.unknown":
                    self._refuse_ended(file_obj)  # ended between the last write and the push
                reason = exc.message or exc.code if isinstance(exc, DeskError) else "the relay link closed"
                message = f"rme: {reason}"
                with contextlib.suppress(OSError, asyncssh.Error, RuntimeError):
                    self.channel.write_stderr(f"{message}\r\n".encode())
                raise asyncssh.SFTPFailure(message) from None
            log.info(
                "sftp push",
                extra={
                    "action": action.id,
                    "state": action.state,
                    "size": file_obj.size,
                    "upload_s": round(closed_at - file_obj.opened_at, 3),
                    "push_s": round(time.monotonic() - closed_at, 3),
                },
            )
            if action.state != "done":
                label = state_label(self.lang, action.state)
                reason = f": {action.reason}" if action.reason else ""
                message = say(self.lang, "sftp_not_delivered", name=file_obj.name, why=f"{label}{reason}")
                self.channel.write_stderr(f"rme: {message}\r\n".encode())
                raise asyncssh.SFTPFailure(message)
        finally:
            file_obj.path.unlink(missing_ok=True)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        """Times and modes the client wants (`scp -p`): accepted and ignored, the inbox keeps its own."""

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Times and modes by name (`scp -O -p` sets them on the file it just sent): accepted and
        ignored as `fsetstat`, nothing on the PC changes."""

    lsetstat = setstat

    def remove(self, path: bytes) -> None:
        self._refuse("sftp_no_change")

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse("sftp_no_change")

    posix_rename = rename

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        self._refuse("sftp_no_change")

    def rmdir(self, path: bytes) -> None:
        self._refuse("sftp_no_change")

    def readlink(self, path: bytes) -> bytes:
        self._refuse("sftp_no_stat")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse("sftp_no_change")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse("sftp_no_change")

    def statvfs(self, path: bytes) -> NoReturn:
        self._refuse("sftp_no_stat", asyncssh.SFTPOpUnsupported)

    def fstatvfs(self, file_obj: object) -> NoReturn:
        self._refuse("sftp_no_stat", asyncssh.SFTPOpUnsupported)

    def exit(self) -> None:
        """The SFTP session is over: files opened and never closed are removed, and the channel says
        exit status 0 (asyncssh closes it without one, and `scp` then reports a failure)."""
        for spool in list(self.spools.values()):
            self._release(spool)
            with contextlib.suppress(OSError):
                os.close(spool.fd)
            spool.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError, asyncssh.Error, RuntimeError):
            self.channel.exit(0)


class _Refused:
    """A directory listing that is a refusal (what `ls` gets)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __aiter__(self) -> _Refused:
        return self

    async def __anext__(self) -> SFTPName:
        raise self.exc
