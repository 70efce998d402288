"""The billing outbox and the entitlement rules on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.admin import add_endpoint
from server.billing.catalogue import decide
from server.billing.outbox import GIVE_UP_AFTER, claim, delivered, enqueue, failed, replay, retry_delay
from server.db.tables import billing_outbox
from tests.server.kpi.test_store import db

__all__ = ["db"]

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


async def test_two_claimers_never_take_the_same_event(db: AsyncEngine) -> None:
    await add_endpoint(db, "http://127.0.0.1:9/a")
    await add_endpoint(db, "http://127.0.0.1:9/b")
    async with db.begin() as conn:
        for i in range(60):
            ids = await enqueue(conn, "session.completed", {"n": i}, NOW, key=f"k{i}")
            assert len(ids) == 2  # one row per endpoint
    got = await asyncio.gather(*(claim(db, NOW, limit=25) for _ in range(6)))
    taken = [e.id for batch in got for e in batch]
    assert len(taken) == len(set(taken)) == 120
    # Leased: nothing is due again until the lease runs out.
    assert await claim(db, NOW) == []
    again = await claim(db, NOW + dt.timedelta(minutes=2), limit=500)
    assert len(again) == 120  # a dead node's lease expires


async def test_retry_back_off_dead_letter_and_replay(db: AsyncEngine) -> None:
    await add_endpoint(db, "http://127.0.0.1:9/x")
    async with db.begin() as conn:
        (event_id,) = await enqueue(conn, "subscription.changed", {"x": 1}, NOW, key="one")
    (event,) = await claim(db, NOW)
    assert not await failed(db, event, "HTTP 500", NOW)
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(billing_outbox).where(billing_outbox.c.id == event_id))).one()
    assert row.state == "pending" and row.attempts == 1 and row.last_error == "HTTP 500"
    # Past three days of trying: dead, listed, and replayable with the same id.
    (late,) = await claim(db, NOW + dt.timedelta(hours=2))
    assert await failed(db, late, "timeout", NOW + GIVE_UP_AFTER)
    assert await claim(db, NOW + GIVE_UP_AFTER + dt.timedelta(hours=2)) == []
    assert await replay(db, event_id, NOW + GIVE_UP_AFTER)
    assert not await replay(db, event_id, NOW + GIVE_UP_AFTER)  # not dead any more
    (back,) = await claim(db, NOW + GIVE_UP_AFTER + dt.timedelta(seconds=1))
    assert back.id == event_id
    await delivered(db, [back.id], NOW + GIVE_UP_AFTER)
    async with db.connect() as conn:
        assert (
            await conn.scalar(sa.select(billing_outbox.c.state).where(billing_outbox.c.id == event_id))
        ) == "delivered"


def test_retry_delay_doubles_with_jitter_and_a_ceiling() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, 2.0, rng).total_seconds() for n in range(1, 20)]
    assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4 and 4 <= delays[2] <= 8
    assert max(delays) <= 3600
    assert len({round(d, 3) for d in delays}) == len(delays)  # jittered


def test_entitlement_rules() -> None:
    base = dict(status="active", item_known=True, item_active=True, included=True, used_this_month=0,
                allowance=2, extras_allowed=True, price_cents=3000, currency="CNY")  # fmt: skip
    assert decide(**base).code == "included" and decide(**base).price_cents == 0  # type: ignore[arg-type]
    assert decide(**{**base, "used_this_month": 2}).code == "extra"  # type: ignore[arg-type]
    assert decide(**{**base, "used_this_month": 2}).price_cents == 3000  # type: ignore[arg-type]
    assert decide(**{**base, "used_this_month": 2, "extras_allowed": False}).code == "plan.allowance_used"  # type: ignore[arg-type]
    assert decide(**{**base, "included": False, "extras_allowed": False}).code == "plan.item_not_included"  # type: ignore[arg-type]
    assert decide(**{**base, "status": "suspended"}).code == "subscription.suspended"  # type: ignore[arg-type]
    assert decide(**{**base, "status": None}).code == "subscription.none"  # type: ignore[arg-type]
    assert decide(**{**base, "item_known": False}).code == "item.unknown"  # type: ignore[arg-type]
    assert decide(**{**base, "allowance": None, "used_this_month": 99}).code == "included"  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["2026-13", "26-11", "", "2026/11"])
def test_export_month_is_checked(text: str) -> None:
    from server.billing.export import parse_month

    with pytest.raises(ValueError, match="month"):
        parse_month(text)
