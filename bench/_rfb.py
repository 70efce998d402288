"""A minimal RFB 3.8 client (RFC 6143) for the screen benchmark's anchor: x11vnc serving the same X
screen. No security (x11vnc -nopw on 127.0.0.1), ZRLE only (each rectangle carries its byte length, so
updates are counted and sized without decoding them); key and pointer events for the same workloads."""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

ZRLE = 16
RAW = 0


@dataclass
class Update:
    at: float
    size: int  # bytes of the whole FramebufferUpdate message
    rects: int


@dataclass
class RfbClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    width: int = 0
    height: int = 0
    bpp: int = 4
    updates: list[Update] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, port: int) -> RfbClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        await client._handshake()
        return client

    async def _handshake(self) -> None:
        r, w = self.reader, self.writer
        version = await r.readexactly(12)
        if not version.startswith(b"RFB 003."):
            raise OSError(f"not an RFB server: {version!r}")
        w.write(b"RFB 003.008\n")
        count = (await r.readexactly(1))[0]
        types = await r.readexactly(count)
        if 1 not in types:
            raise OSError("the VNC server wants a password")
        w.write(b"\x01")
        (result,) = struct.unpack(">I", await r.readexactly(4))
        if result != 0:
            raise OSError("VNC security handshake failed")
        w.write(b"\x01")  # ClientInit: shared
        self.width, self.height = struct.unpack(">HH", await r.readexactly(4))
        pixel = await r.readexactly(16)
        self.bpp = pixel[0] // 8
        (name_len,) = struct.unpack(">I", await r.readexactly(4))
        await r.readexactly(name_len)
        w.write(struct.pack(">BxHi", 2, 1, ZRLE))  # SetEncodings: ZRLE only
        self.request(incremental=False)
        await w.drain()
        self.task = asyncio.ensure_future(self._read())

    def request(self, incremental: bool = True) -> None:
        self.writer.write(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.width, self.height))

    async def _read(self) -> None:
        r = self.reader
        while True:
            kind = (await r.readexactly(1))[0]
            if kind == 0:  # FramebufferUpdate
                _, count = struct.unpack(">BH", await r.readexactly(3))
                size, rects = 4, 0
                for _ in range(count):
                    _x, _y, w, h, enc = struct.unpack(">HHHHi", await r.readexactly(12))
                    size += 12
                    if enc == ZRLE:
                        (length,) = struct.unpack(">I", await r.readexactly(4))
                        await r.readexactly(length)
                        size += 4 + length
                    elif enc == RAW:
                        await r.readexactly(w * h * self.bpp)
                        size += w * h * self.bpp
                    else:
                        raise OSError(f"unexpected encoding {enc}")
                    rects += 1
                if rects:
                    self.updates.append(Update(time.monotonic(), size, rects))
                self.request()  # as real viewers do: ask for the next change at once
                await self.writer.drain()
            elif kind == 2:  # Bell
                continue
            elif kind == 3:  # ServerCutText
                await r.readexactly(3)
                (length,) = struct.unpack(">I", await r.readexactly(4))
                await r.readexactly(length)
            elif kind == 1:  # SetColourMapEntries
                _, _, n = struct.unpack(">BHH", await r.readexactly(5))
                await r.readexactly(6 * n)
            else:
                raise OSError(f"unknown RFB server message {kind}")

    async def key(self, keysym: int) -> None:
        self.writer.write(struct.pack(">BBxxI", 4, 1, keysym) + struct.pack(">BBxxI", 4, 0, keysym))
        await self.writer.drain()

    async def wheel(self, x: int, y: int) -> None:
        self.writer.write(struct.pack(">BBHH", 5, 16, x, y) + struct.pack(">BBHH", 5, 0, x, y))
        await self.writer.drain()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.writer.close()
