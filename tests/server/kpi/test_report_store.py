"""The weekly report from a real database (SQLite and PostgreSQL): tickets driven through the store's
real transitions, presence recorded by the sampler's own function, then the report read back."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts.engineers import create_engineer
from server.accounts.roles import Role
from server.kpi.erlang import agents_needed
from server.kpi.presence import record_sample
from server.kpi.report_store import load_week_report
from server.kpi.week import Advice
from server.tickets.lifecycle import Outcome
from tests.server.kpi.test_store import db, make_device, session

__all__ = ["db"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI).astimezone(dt.UTC)


async def test_week_report_and_advice_from_the_database(db: AsyncEngine) -> None:
    alice = await create_engineer(db, "alice", "a long password 1", Role.ENGINEER, "Alice")
    bob = await create_engineer(db, "bob", "a long password 1", Role.ENGINEER, "Bob")
    device = await make_device(db, "A")
    tuesday = dt.date(2026, 11, 24)
    # Tuesday of 2026-W48: an evening rush of 8 requests an hour 20:00–21:59, answered in 30 s,
    # 10-minute sessions; one quiet morning request; one request abandoned.
    for hour in (20, 21):
        for i in range(8):
            await session(db, device, bob.id, created=local(tuesday, hour, i * 7), response_s=30,
                          length_min=10, outcome=Outcome.RESOLVED, rating=5)  # fmt: skip
    await session(db, device, alice.id, created=local(tuesday, 10), response_s=5, length_min=10,
                  outcome=Outcome.UNRESOLVED, rating=2)  # fmt: skip
    await session(db, device, alice.id, created=local(tuesday, 11), response_s=None,
                  outcome=Outcome.ENDED_BY_USER)  # fmt: skip
    # Last week's and next week's tickets stay out.
    await session(db, device, alice.id, created=local(tuesday, 10) - dt.timedelta(days=7), response_s=5,
                  length_min=10, outcome=Outcome.RESOLVED)  # fmt: skip
    # Alice online 09:00–23:00 Tuesday, sampled every 30 minutes; from 20:00 a second console of hers
    # on another node (the same engineer counts once).
    for step in range(14 * 2 + 1):
        moment = local(tuesday, 9) + dt.timedelta(minutes=30 * step)
        await record_sample(db, "node-1", [alice.id], moment, 1800)
        if moment >= local(tuesday, 20):
            await record_sample(db, "node-2", [alice.id, alice.id], moment, 1800)

    report = await load_week_report(db, "2026-W48", "Asia/Shanghai", now=NOW)
    week = report.week_figures
    assert week.requests == 18
    assert (week.answered, week.unanswered) == (17, 1)
    assert week.response_s == pytest.approx((16 * 30 + 5) / 17)
    assert report.missed_by_day[1] == ["answer_rate", "response_s", "first_contact_fix", "satisfaction"]
    assert report.days[0][1].requests == 0
    assert dict(report.root_causes) == {}  # these tickets carried no diagnosis
    assert dict(report.resolutions) == {"dns.fixed": 16}
    by_engineer = {e.engineer_id: e.figures for e in report.engineers}
    assert by_engineer[bob.id].sessions == 16 and by_engineer[alice.id].sessions == 1
    assert report.patience_s is not None  # someone gave up: Erlang A
    slot = next(s for s in report.slots if s.day == 1 and s.hour == 20)
    assert slot.requests == 8
    assert slot.present == pytest.approx(1.0)
    expected = agents_needed(8 / 3600, report.handle_s, 15, 0.9, report.patience_s)
    assert slot.required == expected >= 2
    rush = [a for a in report.advice if a.first_hour == 20]
    assert rush == [Advice(seats=expected - 1, days=(1,), first_hour=20, last_hour=21)]
