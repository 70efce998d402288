"""The delivery's HTTP client (`server.billing.poster`) against real loopback servers: connections are
kept alive and reused, and a refused connection, a silent server and one that hangs up are each a
`PostError` (so the outbox retries), never a hang."""

from __future__ import annotations

import asyncio
import socket

import pytest

from server.billing.poster import Poster, PostError


async def serve(handler: object) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook?x=1"


async def test_keep_alive_and_answers() -> None:
    connections = 0
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
            if not head:
                break
            lines = head.split(b"\r\n")
            length = int(next(f.split(b":")[1] for f in lines if f.lower().startswith(b"content-length")))
            seen.append(head.split(b"\r\n")[0] + b" " + await reader.readexactly(length))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    server, url = await serve(handler)
    poster = Poster(url, size=2)
    for n in range(5):
        assert await poster.post(f"body{n}".encode(), {"webhook-id": f"m{n}"}) == 204
    await poster.close()
    server.close()
    assert connections == 1  # one connection, kept alive for all five
    assert seen[0] == b"POST /hook?x=1 HTTP/1.1 body0" and len(seen) == 5


async def test_failures_are_post_errors_not_hangs() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    with pytest.raises(PostError):
        await Poster(closed).post(b"x", {})

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    for handler in (silent, hangs_up):
        server, url = await serve(handler)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(PostError):
            await Poster(url, timeout=0.5).post(b"x", {})
        assert loop.time() - start < 2
        server.close()
