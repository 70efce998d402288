"""Two real `rme-server serve` processes sharing PostgreSQL deliver every outbox event exactly once to
a real webhook receiver process: each `webhook-id` is POSTed once (not merely deduplicated), every
signature verifies, and both nodes take part (`FOR UPDATE SKIP LOCKED` claims)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from server.billing.outbox import enqueue
from tests.server.billing.receiver_process import receiver_process
from tests.server.helpers import start_server

EVENTS = 800


def received(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_nodes_deliver_each_event_exactly_once(database_url: str, tmp_path: Path) -> None:
    fast = {"billing_period": "0.1"}
    node_a = start_server(tmp_path / "a", database_url, **fast)
    try:
        node_b = start_server(tmp_path / "b", database_url, **fast)
        try:
            with receiver_process(tmp_path) as (url, secret_file, log):
                secret_file.write_text(node_a.cli("billing", "endpoint", "add", url).stdout.strip())
                engine = create_async_engine(database_url)
                try:
                    now = dt.datetime.now(dt.UTC)
                    for start in range(0, EVENTS, 200):  # in batches, while both nodes are delivering
                        async with engine.begin() as conn:
                            for n in range(start, start + 200):
                                payload = {"session_id": f"s{n}", "billable_cents": n, "currency": "CNY"}
                                await enqueue(conn, "session.completed", payload, now, key=f"session:s{n}")
                        await asyncio.sleep(0.05)
                finally:
                    await engine.dispose()
                for _ in range(600):  # up to two minutes on a loaded machine
                    if len({r["id"] for r in received(log)}) >= EVENTS:
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.5)  # a duplicate would arrive within a lease's retry, not later
                lines = received(log)
        finally:
            node_b.stop()
    finally:
        node_a.stop()
    posts = Counter(str(r["id"]) for r in lines)
    assert len(posts) == EVENTS, f"{len(posts)} of {EVENTS} events arrived"
    assert max(posts.values()) == 1, [i for i, n in posts.items() if n > 1][:5]  # exactly once each
    assert all(r["ok"] for r in lines)  # every signature verified
    nodes = Counter(str(r["agent"]) for r in lines)
    assert len(nodes) == 2 and min(nodes.values()) > 0, nodes  # both nodes delivered
