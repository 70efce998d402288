"""Loading what the weekly report needs from the database (both kinds) and building it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import engineers
from server.kpi.figures import REPEAT_WINDOW
from server.kpi.presence import load_spans
from server.kpi.store import load_facts
from server.kpi.week import StaffingSettings, WeekReport, build_week_report, parse_week, week_bounds

__all__ = ["engineer_names", "load_week_report", "zone"]


async def load_week_report(
    engine: AsyncEngine,
    week: str,
    tz_name: str,
    settings: StaffingSettings | None = None,
    now: dt.datetime | None = None,
) -> WeekReport:
    """The report for `week` (ISO, `2026-W48`) in `tz_name`; ValueError for a bad week or zone."""
    now = now or dt.datetime.now(dt.UTC)
    tz = zone(tz_name)
    year, number = parse_week(week)
    _, midnights = week_bounds(year, number, tz)
    start, end = midnights[0], midnights[-1]
    # Repeat calls up to REPEAT_WINDOW after the week still count against its first-contact fix.
    facts = await load_facts(engine, start, end + REPEAT_WINDOW, details=True)
    in_week = [t for t in facts if t.created_at < end]
    spans = await load_spans(engine, start, end)
    return build_week_report(
        week=week, tz_name=tz_name, tickets=in_week, later=facts, presence=spans, now=now, settings=settings
    )


async def engineer_names(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(engineers.c.id, engineers.c.display_name))).all()
    return {r.id: r.display_name for r in rows}


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise ValueError(f"unknown time zone: {name!r} (use an IANA name such as Asia/Shanghai)") from None
