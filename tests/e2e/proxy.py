"""A loopback TCP forwarder that can be cut: the network between agent and server, as a real socket path.

`cut()` turns it into a black hole — existing connections stay open but nothing passes either way, and new
connections are accepted and ignored — which is what a dead DSL line looks like to both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future


class ThreadedProxy:
    """The proxy on its own thread and loop, so it forwards while the test blocks on real processes."""

    def __init__(self, target_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = CuttableProxy(target_port)
        asyncio.run_coroutine_threadsafe(self._init(), self.loop).result(10)

    async def _init(self) -> None:
        self.proxy.open = asyncio.Event()
        self.proxy.open.set()
        await self.proxy.start()

    @property
    def port(self) -> int:
        return self.proxy.port

    def cut(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.cut)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.restore)

    def stop(self) -> None:
        done: Future[None] = asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop)
        done.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class CuttableProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.open = asyncio.Event()
        self.open.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.open.clear()

    def restore(self) -> None:
        """Back online; connections that lived through the cut are reset, as after a real outage."""
        for writer in list(self._writers):
            writer.transport.abort()
        self.open.set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                await self.open.wait()
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self.open.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
