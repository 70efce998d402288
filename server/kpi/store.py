"""Reading the ticket facts the figures need, and the supervisor's figures document.

One query per request: the tickets created since the first of the last seven local midnights. The
figures themselves are computed in Python (`server.kpi.figures`), which keeps SQLite and PostgreSQL
answers identical (no dialect-specific date arithmetic) and is cheap at a service desk's volume
(thousands of tickets a week).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import aware, tickets
from server.kpi.figures import TARGETS, TicketFacts, compute, daily, day_starts

WEEK_DAYS = 7


async def load_facts(
    engine: AsyncEngine, since: dt.datetime, until: dt.datetime | None = None, details: bool = False
) -> list[TicketFacts]:
    """Every ticket created at or after `since` (and before `until`), oldest first. `details` also
    reads each ticket's engineer, resolution and diagnosed root cause (the weekly report's breakdowns;
    the live figures do without, as the report JSON is the bulk of a ticket row)."""
    c = tickets.c
    columns = [
        c.id, c.device_id, c.created_at, c.accepted_at, c.started_at, c.ended_at, c.outcome, c.satisfaction,
    ]  # fmt: skip
    if details:
        columns += [c.engineer_id, c.resolution, c.report]
    query = sa.select(*columns).where(c.created_at >= since).order_by(c.created_at)
    if until is not None:
        query = query.where(c.created_at < until)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    facts: list[TicketFacts] = []
    for r in rows:
        created = aware(r.created_at)
        assert created is not None
        facts.append(
            TicketFacts(
                id=r.id,
                device_id=r.device_id,
                created_at=created,
                accepted_at=aware(r.accepted_at),
                started_at=aware(r.started_at),
                ended_at=aware(r.ended_at),
                outcome=r.outcome,
                satisfaction=r.satisfaction,
                **(_details(r) if details else {}),
            )
        )
    return facts


def _details(row: Any) -> dict[str, str | None]:
    report = row.report if isinstance(row.report, dict) else {}
    cause = report.get("root_cause")
    return {
        "engineer_id": row.engineer_id,
        "resolution": row.resolution,
        "root_cause": cause if isinstance(cause, str) else None,
    }


async def service_figures(
    engine: AsyncEngine, now: dt.datetime | None = None, utc_offset: dt.timedelta = dt.timedelta(0)
) -> dict[str, Any]:
    """Today's figures, the last seven days' (today included), one per day for the charts, and the
    targets — "today" being the caller's local day (`utc_offset`, e.g. +8 h in China)."""
    now = now or dt.datetime.now(dt.UTC)
    starts = day_starts(now, utc_offset, WEEK_DAYS)
    facts = await load_facts(engine, starts[0])
    today_figures = compute([t for t in facts if t.created_at >= starts[-1]], facts)
    week_figures = compute(facts)
    return {
        "now": now.isoformat(),
        "utc_offset_min": int(utc_offset.total_seconds() // 60),
        "today": today_figures.to_json(),
        "week": week_figures.to_json(),
        "days": [
            {"start": start.isoformat(), **figures.to_json()} for start, figures in daily(facts, starts, now)
        ],
        "targets": [
            {
                "key": t.key,
                "value": t.value,
                "direction": t.direction,
                "unit": t.unit,
                "met_today": t.met(getattr(today_figures, t.key)),
                "met_week": t.met(getattr(week_figures, t.key)),
            }
            for t in TARGETS
        ],
    }
