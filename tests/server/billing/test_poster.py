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


async def test_a_long_2xx_answer_is_still_a_2xx() -> None:
    """A receiver that accepts with a long page (an HTML "thanks", a debug dump) accepted it: the
    status is what counts, so the event is not retried for days and parked as dead."""

    async def long_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(f.split(b":")[1] for f in head.split(b"\r\n") if f.lower().startswith(b"content-length"))
        )
        await reader.readexactly(length)
        page = b"x" * (200 * 1024)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(page) + page)
        await writer.drain()
        writer.close()

    server, url = await serve(long_ok)
    poster = Poster(url, timeout=5)
    assert await poster.post(b"x", {}) == 200
    assert await poster.post(b"y", {}) == 200  # the half-read connection was not reused
    await poster.close()
    server.close()


async def test_a_keep_alive_connection_the_receiver_closed_is_replaced() -> None:
    """Receivers close idle keep-alive connections (nginx after 75 s, many after 5 s): the next POST
    goes on a fresh connection instead of failing (and waiting for the retry's back-off)."""
    connections = 0

    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(f.split(b":")[1] for f in head.split(b"\r\n") if f.lower().startswith(b"content-length"))
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # keep-alive, as far as the client knows
        await writer.drain()
        await asyncio.sleep(0.1)  # its idle timeout
        writer.close()

    server, url = await serve(one_answer_then_close)
    poster = Poster(url, timeout=5)
    assert await poster.post(b"x", {}) == 204
    await asyncio.sleep(0.5)
    assert await poster.post(b"y", {}) == 204
    assert connections == 2
    await poster.close()
    server.close()
