"""The monthly `usage.summary` event per customer (reconciled by the export).

A summary rolls up a month's `session.completed` events (as the outbox holds them, once each by
`event_key`) for one customer who had any (the BSS bills the subscriptions' monthly fees itself; a
customer with no session that month gets no summary): how many sessions, by service item, and the
billable amount by currency, with the customer's plan and its monthly fee. It is written once per
customer and month: a row in `billing_usage` (primary key customer + month) goes in the same
transaction as the outbox rows, so a second run — another node's periodic task, or an operator's
`rme-server billing summarize` — finds it and writes nothing. Only a month that is over can be
summarised.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.export import parse_month, usage_of
from server.billing.outbox import enqueue
from server.db.tables import billing_outbox, billing_usage, customers, plans, subscriptions

__all__ = ["previous_month", "summarize", "usage_of"]


def previous_month(now: dt.datetime) -> str:
    first = now.astimezone(dt.UTC).replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


async def _completed(engine: AsyncEngine, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    o = billing_outbox.c
    query = (
        sa.select(o.payload)
        .where(o.event_type == "session.completed", o.created_at >= start, o.created_at < end)
        .order_by(o.created_at, o.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    seen: set[str] = set()
    events = []
    for row in rows:
        key = str(row.payload.get("event_key"))
        if key not in seen:
            seen.add(key)
            events.append(dict(row.payload))
    return events


async def summarize(engine: AsyncEngine, month: str, now: dt.datetime) -> list[str]:
    """Write the month's summaries not written yet; returns the customers summarised now."""
    start, end = parse_month(month)
    if end > now:
        raise ValueError(f"{month} is not over yet: only a finished month can be summarised")
    usage = usage_of(await _completed(engine, start, end))
    async with engine.connect() as conn:
        subscribed = (
            await conn.execute(
                sa.select(
                    subscriptions.c.customer_id, subscriptions.c.plan_code, subscriptions.c.status,
                    customers.c.external_ref, plans.c.monthly_fee_cents, plans.c.currency,
                )
                .join(customers, customers.c.id == subscriptions.c.customer_id)
                .join(plans, plans.c.code == subscriptions.c.plan_code)
            )
        ).all()  # fmt: skip
    facts = {r.customer_id: r for r in subscribed}
    written: list[str] = []
    for customer_id in sorted(usage):  # customers with billed sessions that month
        sub = facts.get(customer_id)
        used = usage[customer_id]
        payload = {
            "customer_id": customer_id, "customer_ref": sub.external_ref if sub else None, "month": month,
            "plan": sub.plan_code if sub else None, "status": sub.status if sub else None,
            "monthly_fee_cents": sub.monthly_fee_cents if sub else 0,
            "currency": sub.currency if sub else "CNY",
            "sessions": used["sessions"], "by_item": used["by_item"],
            "billable_cents_by_currency": used["billable_cents"], "session_events": used["session_keys"],
        }  # fmt: skip
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.insert(billing_usage).values(customer_id=customer_id, month=month, created_at=now)
                )
                await enqueue(conn, "usage.summary", payload, now, key=f"usage:{customer_id}:{month}")
        except IntegrityError:
            continue  # summarised already (by this or another node): nothing more
        written.append(customer_id)
    return written
