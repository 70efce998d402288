"""The delivery loop's batch against its lease (real database, real loopback receiver)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math

from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.admin import add_endpoint
from server.billing.delivery import CONCURRENCY, TIMEOUT_S, Deliverer
from server.billing.outbox import LEASE, enqueue
from tests.server.kpi.test_store import db

__all__ = ["db"]


async def test_a_claimed_batch_is_sent_within_its_lease(db: AsyncEngine) -> None:
    """A slow receiver (every POST near the timeout) must not make a batch outlive its lease: then
    another node claims the unsent rest again and the receiver gets those events twice."""
    answered = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        while not reader.at_eof():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(
                int(f.split(b":")[1]) for f in head.split(b"\r\n") if f.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            answered += 1
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await add_endpoint(db, f"http://127.0.0.1:{port}/events")
    now = dt.datetime.now(dt.UTC)
    async with db.begin() as conn:
        for n in range(400):
            await enqueue(conn, "session.completed", {"n": n}, now, key=f"k{n}")
    deliverer = Deliverer(db)
    try:
        claimed = await deliverer.run_once()
    finally:
        await deliverer.stop()
        server.close()
    assert claimed == answered > 0
    # Sent CONCURRENCY at a time, each POST at most TIMEOUT_S: the whole batch within the lease.
    assert math.ceil(claimed / CONCURRENCY) * TIMEOUT_S < LEASE.total_seconds(), claimed
