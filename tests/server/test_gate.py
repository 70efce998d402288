"""`server.gate` on a real uvloop server and real TLS clients: a connection under the limit gets TLS and
reaches the inner protocol with every byte (also those sent right after the handshake); one past the
limit is reset before any TLS work, and the agent takes that reset as "busy"; a slot held by a peer that
never finishes its handshake is freed by the handshake timeout."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Coroutine
from pathlib import Path

import pytest
import uvloop

from agent.connection.client import refused_before_tls
from server.gate import TlsGate, gated
from server.shedding import ShedLog
from server.tls import ensure_local_tls


class Echo(asyncio.Protocol):
    """The stand-in for uvicorn's protocol: echoes, and says whether the transport is TLS."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        tls = transport.get_extra_info("sslcontext") is not None
        transport.write(b"tls\n" if tls else b"plain\n")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def gate_server(
    tmp_path: Path, limit: int, handshake_s: float
) -> tuple[TlsGate, asyncio.Server, ssl.SSLContext]:
    files = ensure_local_tls(tmp_path / "tls", ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.cert), str(files.key))
    gate = TlsGate(context, limit, handshake_s, ShedLog())
    factory = gated(gate, lambda **_: Echo())
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    client = ssl.create_default_context(cafile=str(files.ca))
    return gate, server, client


async def open_tls(port: int, client: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="127.0.0.1")


def on_uvloop(test: Callable[[Path], Coroutine[None, None, None]]) -> Callable[[Path], None]:
    """Run the test on uvloop, the loop the server runs on (its TLS layer is uvloop's own)."""

    def run(tmp_path: Path) -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(test(tmp_path))

    run.__name__ = test.__name__
    return run


@on_uvloop
async def test_under_the_limit_tls_reaches_the_inner_protocol_with_every_byte(tmp_path: Path) -> None:
    gate, server, client = await gate_server(tmp_path, limit=4, handshake_s=5)
    port = server.sockets[0].getsockname()[1]
    async with server:
        for _ in range(20):  # sequential: each frees its slot
            reader, writer = await open_tls(port, client)
            writer.write(b"hello\n")  # sent at once, maybe before the server's handshake waiter wakes
            assert await reader.readline() == b"tls\n"
            assert await reader.readline() == b"hello\n"
            writer.close()
        assert gate.in_flight == 0 and gate.refused == 0


@on_uvloop
async def test_past_the_limit_it_is_reset_before_tls_and_the_agent_reads_busy(tmp_path: Path) -> None:
    gate, server, client = await gate_server(tmp_path, limit=1, handshake_s=1.0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        # A peer that connects and never sends its ClientHello holds the only slot…
        holder = socket.create_connection(("127.0.0.1", port))
        try:
            for _ in range(50):
                if gate.in_flight == 1:
                    break
                await asyncio.sleep(0.02)
            assert gate.in_flight == 1
            # …so the next one is refused at accept: reset, no TLS.
            with pytest.raises((ConnectionResetError, ssl.SSLError)) as refused:
                await open_tls(port, client)
            assert refused_before_tls(refused.value)
            assert gate.refused == 1 and gate.shed.counts == {"tls": 1}
            # The handshake timeout frees the slot; the next agent gets in.
            await asyncio.sleep(1.5)
            assert gate.in_flight == 0
            reader, writer = await open_tls(port, client)
            assert await reader.readline() == b"tls\n"
            writer.close()
        finally:
            holder.close()
