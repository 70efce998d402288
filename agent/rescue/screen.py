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
        self.saved: dict[int, list[object]] = {}
        for path in paths:
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
            except OSError:
                continue
            with contextlib.suppress(termios.error):
                self.saved[fd] = termios.tcgetattr(fd)
                tty.setraw(fd)
            self.fds.append(fd)
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.last = ""

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in self.fds:
            loop.add_reader(fd, self._read, fd)

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        for ch in data.decode("utf-8", "replace"):
            self.keys.put_nowait(ch)

    def draw(self, lines: list[str]) -> None:
        text = "\r\n".join(lines)
        if text == self.last:
            return
        self.last = text
        frame = ("\x1b[2J\x1b[H" + text + "\r\n").encode()
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

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(termios.error, OSError):
                if fd in self.saved:
                    termios.tcsetattr(fd, termios.TCSADRAIN, self.saved[fd])  # type: ignore[arg-type]
            with contextlib.suppress(OSError):
                os.close(fd)
