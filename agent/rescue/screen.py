"""The rescue screen's terminals: the same text drawn on every tty (the PC's screen and its serial
port), keys read from all of them. Raw mode, one key at a time; a line prompt for PPPoE's account."""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from pathlib import Path


class Terminals:
    def __init__(self, paths: list[Path]) -> None:
        self.fds: list[int] = []
        self.paths: dict[int, Path] = {}
        self.saved: dict[int, list[object]] = {}
        self.lost: set[Path] = set()  # terminals that went away (a pseudo-terminal whose owner ended)
        self.started = False
        for path in paths:
            with contextlib.suppress(OSError):
                self._open(path)
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.last = ""

    def _open(self, path: Path) -> int:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        with contextlib.suppress(termios.error):
            self.saved[fd] = termios.tcgetattr(fd)
            tty.setraw(fd)
        self.fds.append(fd)
        self.paths[fd] = path
        self.lost.discard(path)
        if self.started:
            asyncio.get_running_loop().add_reader(fd, self._read, fd)
        return fd

    def start(self) -> None:
        self.started = True
        loop = asyncio.get_running_loop()
        for fd in self.fds:
            loop.add_reader(fd, self._read, fd)

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        if not data:  # EOF or EIO: the other end of a pseudo-terminal closed; stop watching it
            asyncio.get_running_loop().remove_reader(fd)
            self.lost.add(self.paths[fd])
            return
        for ch in data.decode("utf-8", "replace"):
            self.keys.put_nowait(ch)

    def swap(self, old: Path, new: Path) -> bool:
        """Draw on and read from `new` instead of `old` (fbterm's pseudo-terminal for tty1 and back);
        the current screen is drawn on `new` at once. False, and nothing changed, if `new` does not open."""
        try:
            fd = self._open(new)
        except OSError:
            return False
        for other, path in list(self.paths.items()):
            if path == old and other != fd:
                self._close(other)
        if self.last:
            with contextlib.suppress(OSError):
                os.write(fd, self._frame(self.last))
        return True

    def draw(self, lines: list[str]) -> None:
        text = "\r\n".join(lines)
        if text == self.last:
            return
        self.last = text
        frame = self._frame(text)
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.write(fd, frame)

    async def read_line(self, secret: bool = False) -> str:
        """A line typed on any terminal (Enter ends it; shown as * when secret)."""
        buf = ""
        while True:
            ch = await self.keys.get()
            if ch in "\r\n":
                return buf
            if ch in "\x7f\b":
                buf = buf[:-1]
            elif ch.isprintable():
                buf += ch
            echo = ("*" if secret else ch) if ch.isprintable() else ""
            for fd in self.fds:
                with contextlib.suppress(OSError):
                    os.write(fd, echo.encode())

    def drop(self, path: Path) -> None:
        for fd, named in list(self.paths.items()):
            if named == path:
                self._close(fd)

    @staticmethod
    def _frame(text: str) -> bytes:
        return ("\x1b[2J\x1b[H" + text + "\r\n").encode()

    def _close(self, fd: int) -> None:
        if self.started:
            with contextlib.suppress(RuntimeError, ValueError, OSError):  # RuntimeError: no loop left
                asyncio.get_running_loop().remove_reader(fd)
        with contextlib.suppress(termios.error, OSError):
            if fd in self.saved:
                termios.tcsetattr(fd, termios.TCSADRAIN, self.saved.pop(fd))  # type: ignore[arg-type]
        with contextlib.suppress(OSError):
            os.close(fd)
        self.fds.remove(fd)
        del self.paths[fd]

    def close(self) -> None:
        for fd in list(self.fds):
            self._close(fd)
