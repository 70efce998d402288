"""Request bodies are limited before they are read: a real server's memory stays flat under several
large anonymous POSTs (declared and chunked), small bodies still work, and each route has its limit."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.web.body_limit import DEFAULT_LIMIT, LIMITS, MAX_EXPORT_BYTES
from tests.server.helpers import RunningServer, start_server

MIB = 1024 * 1024
BIG = 64 * MIB  # per request; four at once (on main the node grew by ~3 × what it was sent)
BLOCK = b"x" * (256 * 1024)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("body-limit")
    running = start_server(folder, f"sqlite+aiosqlite:///{folder / 'rme.db'}")
    try:
        yield running
    finally:
        running.stop()


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak RSS since the process started), in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


async def post_big(server: RunningServer, path: str, size: int, *, chunked: bool) -> int | None:
    """POST `size` bytes (streamed, never held) over a raw TLS socket; the status the server answers,
    or None if it closed without one. Stops sending as soon as the server stops reading."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=server.ssl_context(), server_hostname="127.0.0.1"
    )
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {server.origin}\r\n"
        f"Content-Type: application/json\r\n{length}\r\n\r\n"
    )
    try:
        writer.write(head.encode())
        sent = 0
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while sent < size:
                block = BLOCK[: size - sent]
                writer.write(b"%x\r\n%b\r\n" % (len(block), block) if chunked else block)
                sent += len(block)
                # The server stops reading a refused body: the first drain that blocks for long is
                # the server's answer being ready (or the socket closed).
                await asyncio.wait_for(writer.drain(), 2)
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
            status_line = await asyncio.wait_for(reader.readline(), 10)
            return int(status_line.split()[1]) if status_line.startswith(b"HTTP/1.1") else None
        return None
    except TimeoutError:
        with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
            status_line = await asyncio.wait_for(reader.readline(), 10)
            return int(status_line.split()[1]) if status_line.startswith(b"HTTP/1.1") else None
        return None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_memory_stays_flat_under_large_anonymous_posts(server: RunningServer) -> None:
    pid = server.process.pid
    # VmHWM is the peak since start-up (which may be above today's RSS: the dummy Argon2 hash takes
    # 64 MiB for a moment), so the growth is the peak past both.
    start = memory(pid)
    before = max(start["VmRSS"], start["VmHWM"])
    statuses = await asyncio.gather(
        post_big(server, "/api/auth/login", BIG, chunked=False),
        post_big(server, "/api/auth/login", BIG, chunked=True),
        post_big(server, "/api/engineers", BIG, chunked=True),
        post_big(server, "/api/console/audit/verify", BIG, chunked=False),
    )
    peak = memory(pid)["VmHWM"]
    assert peak - before < 48 * MIB, f"server grew by {(peak - before) / MIB:.0f} MiB"
    # Declared too large: 413 before reading. Chunked: 413 when the count passes the limit (or the
    # connection is cut while the client is still sending; either way nothing was buffered).
    assert statuses[0] == 413 and statuses[3] == 413
    assert all(s in (413, None) for s in statuses), statuses


async def test_small_bodies_pass_and_limits_are_per_route(server: RunningServer) -> None:
    async with server.http() as http:
        # A normal login form reaches the handler (unknown user: 401).
        reply = await http.post("/api/auth/login", json={"username": "nobody", "password": "x" * 20})
        assert reply.status_code == 401
        # The login's limit is small; the same size is fine on another JSON route (which then
        # refuses the anonymous caller).
        padded = {"username": "nobody", "password": "x" * 1000, "pad": "y" * (LIMITS["/api/auth/login"])}
        assert (await http.post("/api/auth/login", json=padded)).status_code == 413
        assert (await http.post("/api/customers", json=padded)).status_code == 401
        over = {"name": "z" * DEFAULT_LIMIT}
        assert (await http.post("/api/customers", json=over)).status_code == 413
        # The audit export check takes up to 32 MiB, but only from a supervisor: checked first.
        export = b"{" + b" " * (2 * MIB) + b"}"
        reply = await http.post("/api/console/audit/verify", content=export)
        assert reply.status_code == 401
    too_big = await post_big(server, "/api/console/audit/verify", MAX_EXPORT_BYTES + 1, chunked=False)
    assert too_big == 413


async def test_bad_content_length_is_a_400(server: RunningServer) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=server.ssl_context(), server_hostname="127.0.0.1"
    )
    try:
        writer.write(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert status_line.split()[1] in (b"400", b"413")
    finally:
        writer.close()
