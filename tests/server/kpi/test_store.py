"""Service figures from real sessions in a real database (SQLite and PostgreSQL).

Each session goes through the tickets store exactly as the relay drives it (create → accept → offer →
active → finish → feedback); only its timestamps are then moved to known instants, so the expected
figures can be worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts.engineers import create_engineer
from server.accounts.roles import Role
from server.db.migrate import upgrade
from server.db.tables import tickets as tickets_table
from server.devices import store as devices
from server.kpi import load_facts, service_figures
from server.tickets import store
from server.tickets.lifecycle import ENDS, Event, Outcome, Party, TicketState, apply, end
from tests.server.tickets.test_store import new_ticket

NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)  # 18:00 in Beijing
BEIJING = dt.timedelta(hours=8)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    await upgrade(engine)
    yield engine


async def make_device(db: AsyncEngine, name: str) -> devices.Device:
    customer = await devices.create_customer(db, name)
    code = await devices.create_enrollment_code(db, customer.id, "test", 300)
    return await devices.enroll_device(db, code, os.urandom(32), f"{name} PC")


async def session(
    db: AsyncEngine,
    device: devices.Device,
    engineer_id: str,
    *,
    created: dt.datetime,
    response_s: float | None,
    length_min: float | None = None,
    outcome: Outcome | None = None,
    rating: int | None = None,
) -> str:
    """Run one ticket through the store's real transitions, then pin its times."""
    ticket = await new_ticket(db, device, words="上不了网", lang="zh-CN")
    times: dict[str, dt.datetime] = {"created_at": created}
    if response_s is not None:
        assert await store.transition(
            db, ticket.id, apply(TicketState.QUEUED, Event.ACCEPT, Party.ENGINEER, engineer_id=engineer_id)
        )
        assert await store.transition(db, ticket.id, apply(TicketState.ACCEPTED, Event.OFFER, Party.SERVER))
        times["accepted_at"] = created + dt.timedelta(seconds=response_s)
        if length_min is not None:
            assert await store.transition(
                db, ticket.id, apply(TicketState.OFFERED, Event.USER_ACCEPT, Party.AGENT)
            )
            times["started_at"] = times["accepted_at"] + dt.timedelta(seconds=5)
    if outcome is not None:
        current = await store.get_ticket(db, ticket_id=ticket.id)
        assert current is not None
        party = next(p for p in Party if current.state in ENDS.get((outcome, p), frozenset()))
        resolution = "dns.fixed" if outcome is Outcome.RESOLVED else None
        assert await store.transition(
            db, ticket.id, end(current.state, outcome, party, resolution=resolution)
        )
        base = times.get("started_at", created)
        times["ended_at"] = base + dt.timedelta(minutes=length_min or 1)
        if rating is not None:
            assert await store.record_feedback(db, ticket.session_id, device.id, rating)
    async with db.begin() as conn:
        await conn.execute(tickets_table.update().where(tickets_table.c.id == ticket.id).values(**times))
    return ticket.id


async def test_figures_for_today_and_the_week_from_real_sessions(db: AsyncEngine) -> None:
    engineer = await create_engineer(db, "kpi-eng", "a long password 1", Role.ENGINEER, "KPI Engineer")
    a, b, c = [await make_device(db, n) for n in ("A", "B", "C")]
    today = NOW - dt.timedelta(hours=2)  # 16:00 Beijing, today
    yesterday = NOW - dt.timedelta(days=1)
    # Today: two resolved sessions (5 s and 25 s to answer; 10 and 20 minutes), one abandoned call,
    # one still waiting.
    await session(db, a, engineer.id, created=today, response_s=5, length_min=10,
                  outcome=Outcome.RESOLVED, rating=5)  # fmt: skip
    await session(db, b, engineer.id, created=today, response_s=25, length_min=20,
                  outcome=Outcome.RESOLVED, rating=3)  # fmt: skip
    await session(db, c, engineer.id, created=today, response_s=None, outcome=Outcome.ENDED_BY_USER)
    await session(db, c, engineer.id, created=NOW - dt.timedelta(minutes=1), response_s=None)
    # Yesterday: an unresolved session, and a resolved one for A whose repeat call is today's.
    await session(db, b, engineer.id, created=yesterday, response_s=10, length_min=30,
                  outcome=Outcome.UNRESOLVED, rating=4)  # fmt: skip
    await session(db, a, engineer.id, created=today - dt.timedelta(hours=3), response_s=4, length_min=6,
                  outcome=Outcome.RESOLVED)  # fmt: skip
    # Eight days ago: outside the week.
    await session(db, a, engineer.id, created=NOW - dt.timedelta(days=8), response_s=100, length_min=90,
                  outcome=Outcome.UNRESOLVED, rating=1)  # fmt: skip

    figures = await service_figures(db, now=NOW, utc_offset=BEIJING)
    t, w = figures["today"], figures["week"]
    # "today" in Beijing started at 16:00 UTC yesterday: the 13:00-Beijing session is today's.
    assert t["requests"] == 5
    assert (t["answered"], t["unanswered"], t["waiting"]) == (3, 1, 1)
    assert t["answer_rate"] == pytest.approx(0.75)
    assert t["response_s"] == pytest.approx((5 + 25 + 4) / 3)
    assert t["response_p90_s"] == pytest.approx(25)
    assert t["sessions"] == 3
    assert t["resolved"] == 3
    assert t["repeat_calls"] == 1  # A called again 3 h after the 13:00 session ended
    assert t["first_contact_fix"] == pytest.approx(2 / 3)
    assert t["session_min"] == pytest.approx((10 + 20 + 6) / 3)
    assert t["ratings"] == 2
    assert t["satisfaction"] == pytest.approx(0.5)
    assert w["requests"] == 6
    assert w["sessions"] == 4
    assert w["first_contact_fix"] == pytest.approx(2 / 4)
    assert w["satisfaction"] == pytest.approx(2 / 3)
    assert len(figures["days"]) == 7
    assert [d["requests"] for d in figures["days"]][-2:] == [1, 5]
    met = {m["key"]: (m["met_today"], m["met_week"]) for m in figures["targets"]}
    assert met["answer_rate"] == (False, False)
    assert met["response_s"] == (True, True)  # means of 11.3 s and 11 s
    assert met["first_contact_fix"] == (False, False)
    assert met["session_min"] == (True, False)


async def test_facts_keep_timezone_aware_times(db: AsyncEngine) -> None:
    engineer = await create_engineer(db, "kpi-eng2", "a long password 1", Role.ENGINEER, "KPI Engineer")
    device = await make_device(db, "D")
    await session(db, device, engineer.id, created=NOW, response_s=3, length_min=2, outcome=Outcome.RESOLVED)
    async with db.connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(tickets_table))
    facts = await load_facts(db, NOW - dt.timedelta(days=1))
    assert count == 1 and len(facts) == 1
    assert facts[0].created_at == NOW
    assert facts[0].accepted_at == NOW + dt.timedelta(seconds=3)
    assert facts[0].ended_at is not None and facts[0].ended_at.tzinfo is not None
