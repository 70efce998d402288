"""The monthly `usage.summary` per customer (SQLite and PostgreSQL): written once per customer-month
however often (and however concurrently) it is asked for, only for a month that is over, and
reconciled by the export against the month's `session.completed` events."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.admin import add_endpoint
from server.billing.export import month_export
from server.billing.outbox import enqueue
from server.billing.usage import previous_month, summarize
from server.db.tables import billing_outbox
from tests.server.kpi.test_store import db

__all__ = ["db"]

NOV = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC)
DEC = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)


async def completed(
    db: AsyncEngine, n: int, customer: str, cents: int, item: str | None, at: dt.datetime
) -> None:
    payload = {"session_id": f"s{n}", "customer_id": customer, "service_item": item,
               "billable_cents": cents, "currency": "CNY"}  # fmt: skip
    async with db.begin() as conn:
        await enqueue(conn, "session.completed", payload, at, key=f"session:s{n}")


async def test_one_summary_per_customer_month_reconciled_by_the_export(db: AsyncEngine) -> None:
    await add_endpoint(db, "http://127.0.0.1:9/a")
    await add_endpoint(db, "http://127.0.0.1:9/b")  # two endpoints: each event is still counted once
    await completed(db, 1, "c_a", 0, "network_repair", NOV)
    await completed(db, 2, "c_a", 3000, "pc_tuneup", NOV + dt.timedelta(days=3))
    await completed(db, 3, "c_b", 5000, "virus_cleanup", NOV)
    await completed(db, 4, "c_b", 9900, "data_rescue", DEC)  # December's: not in November's summary

    with pytest.raises(ValueError, match="not over"):
        await summarize(db, "2026-12", DEC)
    assert previous_month(DEC) == "2026-11"
    # Three nodes at once, then an operator: each customer's summary is written exactly once.
    runs = await asyncio.gather(*(summarize(db, "2026-11", DEC) for _ in range(3)))
    assert sorted(c for run in runs for c in run) == ["c_a", "c_b"]
    assert await summarize(db, "2026-11", DEC + dt.timedelta(hours=1)) == []
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(billing_outbox.c.payload).where(billing_outbox.c.event_type == "usage.summary")
            )
        ).all()
    assert len(rows) == 4  # two customers × two endpoints
    summary = next(r.payload for r in rows if r.payload["customer_id"] == "c_a")
    assert summary["sessions"] == 2 and summary["billable_cents_by_currency"] == {"CNY": 3000}
    assert summary["by_item"] == {"network_repair": 1, "pc_tuneup": 1} and summary["month"] == "2026-11"

    november = await month_export(db, "2026-11")
    assert november.totals["by_type"] == {"session.completed": 3, "usage.summary": 2}
    assert november.reconciliation is not None and november.reconciliation["ok"]
    assert november.reconciliation["customers"]["c_b"]["billable_cents"] == {"CNY": 5000}
    december = await month_export(db, "2026-12")  # the summaries written in December are November's
    assert december.totals["by_type"] == {"session.completed": 1}
    assert december.reconciliation is not None and not december.reconciliation["ok"]  # not summarised yet
