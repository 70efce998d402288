"""Presence spans: the sampler stretches an engineer's span, starts a new one after an absence, and
one engineer on two nodes counts once."""

from __future__ import annotations

import asyncio
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import engineer_presence
from server.kpi.presence import PresenceSampler, load_spans, merge_spans, record_sample
from server.kpi.week import PresenceSpan
from tests.server.kpi.test_store import db

__all__ = ["db"]

T0 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def test_samples_stretch_a_span_and_an_absence_starts_a_new_one(db: AsyncEngine) -> None:
    for second in (0, 30, 60, 90):
        await record_sample(db, "n1", ["e1"], at(second), 30)
    # Away for five minutes, back.
    for second in (400, 430):
        await record_sample(db, "n1", ["e1"], at(second), 30)
    await record_sample(db, "n1", ["e2"], at(430), 30)
    async with db.connect() as conn:
        rows = (
            await conn.execute(sa.select(engineer_presence).order_by(engineer_presence.c.started_at))
        ).all()
    assert len(rows) == 3
    spans = await load_spans(db, at(-3600), at(3600))
    assert spans == [
        PresenceSpan("e1", at(0), at(90)),
        PresenceSpan("e1", at(400), at(430)),
        PresenceSpan("e2", at(430), at(430)),
    ]
    assert await load_spans(db, at(1000), at(2000)) == []


def test_merge_counts_an_engineer_once() -> None:
    spans = [
        PresenceSpan("e1", at(0), at(100)),
        PresenceSpan("e1", at(50), at(200)),  # a second console, another node
        PresenceSpan("e1", at(300), at(400)),
        PresenceSpan("e2", at(0), at(100)),
    ]
    assert merge_spans(spans) == [
        PresenceSpan("e1", at(0), at(200)),
        PresenceSpan("e1", at(300), at(400)),
        PresenceSpan("e2", at(0), at(100)),
    ]


async def test_the_sampler_loop_records_what_the_node_holds(db: AsyncEngine) -> None:
    online = {"e1"}
    sampler = PresenceSampler(db, "n1", lambda: sorted(online), period=0.05)
    sampler.start()
    try:
        for _ in range(200):
            if await load_spans(db, T0 - dt.timedelta(days=3650), dt.datetime.now(dt.UTC) + dt.timedelta(1)):
                break
            await asyncio.sleep(0.02)
    finally:
        await sampler.stop()
    spans = await load_spans(db, T0 - dt.timedelta(days=3650), dt.datetime.now(dt.UTC) + dt.timedelta(1))
    assert [s.engineer_id for s in spans] == ["e1"]
