"""The supervisor's alerts on a real database (SQLite and PostgreSQL), two evaluators racing as two
nodes would, and the outbound event delivered to a real webhook receiver that verifies signatures."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import tickets as tickets_table
from server.kpi.alerts import Alerts, decide, measure
from tests.server.kpi.test_store import db, make_device
from tests.server.kpi.webhook_receiver import Receiver
from tests.server.tickets.test_store import new_ticket

__all__ = ["db"]


def test_decide() -> None:
    assert decide(10, 11) is True
    assert decide(10, 10) is False
    assert decide(None, 1e9) is False
    assert decide(10, None) is False


async def waiting_tickets(db: AsyncEngine, count: int, age_s: float) -> None:
    device = await make_device(db, "W")
    for _ in range(count):
        ticket = await new_ticket(db, device, words="help", lang="en")
        created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s)
        async with db.begin() as conn:
            await conn.execute(
                tickets_table.update().where(tickets_table.c.id == ticket.id).values(created_at=created)
            )


async def test_measure_counts_the_waiting(db: AsyncEngine) -> None:
    empty = await measure(db, dt.datetime.now(dt.UTC))
    assert (empty.response_s, empty.queue_length) == (None, 0)
    await waiting_tickets(db, 3, age_s=40)
    values = await measure(db, dt.datetime.now(dt.UTC))
    assert values.queue_length == 3
    assert values.response_s == pytest.approx(40, abs=5)


async def test_one_node_announces_each_change_and_the_webhook_gets_it_once(db: AsyncEngine) -> None:
    recorded: list[tuple[str, dict[str, Any]]] = []

    async def record(kind: str, data: dict[str, Any]) -> None:
        recorded.append((kind, data))

    with Receiver(fail_first=2) as receiver:
        nodes = [Alerts(db, record, receiver.url, receiver.secret) for _ in range(2)]
        try:
            await nodes[0].set_threshold("queue_length", 2, "engineer:sup")
            await nodes[0].set_threshold("response_time", 30, "engineer:sup")
            with pytest.raises(ValueError):
                await nodes[0].set_threshold("queue_length", float("nan"), "engineer:sup")
            with pytest.raises(ValueError):
                await nodes[0].set_threshold("coffee", 1, "engineer:sup")
            _, states = await nodes[1].evaluate()
            assert not any(s.active for s in states)

            await waiting_tickets(db, 3, age_s=45)
            results = await asyncio.gather(*(n.evaluate() for n in nodes for _ in range(3)))
            for _, states in results:
                assert {s.kind: s.active for s in states} == {"response_time": True, "queue_length": True}
            raised = [k for k, _ in recorded if k == "alert.raised"]
            assert len(raised) == 2  # one per kind, whichever node won
            # Delivered despite two failed attempts, verified by signature, once per change.
            for _ in range(300):
                if len(receiver.events) == 2:
                    break
                await asyncio.sleep(0.05)
            assert sorted(receiver.kinds()) == [
                ("alert.raised", "queue_length"),
                ("alert.raised", "response_time"),
            ]
            assert receiver.rejected == 0

            # The queue empties: both clear, once each.
            async with db.begin() as conn:
                await conn.execute(sa.update(tickets_table).values(state="ended", outcome="ended_by_user"))
            await asyncio.gather(*(n.evaluate() for n in nodes))
            assert [k for k, _ in recorded].count("alert.cleared") == 2
            states = await nodes[0].states()
            assert not any(s.active for s in states)
            assert {s.kind: s.threshold for s in states} == {"response_time": 30, "queue_length": 2}
        finally:
            for node in nodes:
                await node.stop()
