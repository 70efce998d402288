"""The server tests' own helpers can fail: `closed_with` on a connection the server never closes."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from protocol import Connection, Peer
from tests.server.helpers import ProtocolClient, closed_with


async def test_closed_with_fails_when_the_server_keeps_the_connection_open() -> None:
    async def hold(ws: ServerConnection) -> None:
        await asyncio.sleep(30)

    async with serve(hold, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            client = ProtocolClient(ws, Connection(local=Peer.AGENT, remote=Peer.SERVER))
            with pytest.raises(AssertionError, match="did not close"):
                await closed_with(client, wait=0.5)


async def test_closed_with_returns_the_close_code() -> None:
    async def refuse(ws: ServerConnection) -> None:
        await ws.close(4403, "no")

    async with serve(refuse, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            client = ProtocolClient(ws, Connection(local=Peer.AGENT, remote=Peer.SERVER))
            assert await closed_with(client) == 4403
