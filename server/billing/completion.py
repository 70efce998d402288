"""`session.completed`: the billing event of a finished session, written into the outbox in the same
transaction that ends the ticket (`server.tickets.store.transition`), so no ended session is ever
missing from billing and none is billed twice (the event key is the session).

Billable amount: nothing when the session had no service item, or when the item is included in the
customer's plan and the month's allowance was not used up before this session; otherwise the item's
price. Sessions that never started (declined, abandoned) are not billed and send nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.billing.catalogue import month_start
from server.billing.outbox import enqueue
from server.db.tables import iso, plan_items, plans, service_items, subscriptions, tickets

__all__ = ["billable", "session_completed"]


async def billable(conn: AsyncConnection, row: Any) -> tuple[int, str]:
    """(amount in cents, currency) a started session (`row` of `tickets`) is billed: see above."""
    t = tickets.c
    started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=dt.UTC)
    billable, currency = 0, "CNY"
    if row.service_item:
        item = (
            await conn.execute(sa.select(service_items).where(service_items.c.code == row.service_item))
        ).first()
        sub = (
            await conn.execute(sa.select(subscriptions).where(subscriptions.c.customer_id == row.customer_id))
        ).first()
        if item is not None:
            currency = item.currency
            included = False
            if sub is not None:
                plan = (await conn.execute(sa.select(plans).where(plans.c.code == sub.plan_code))).first()
                in_plan = await conn.scalar(
                    sa.select(plan_items.c.item_code).where(
                        plan_items.c.plan_code == sub.plan_code, plan_items.c.item_code == item.code
                    )
                )
                used = await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(tickets)
                    .where(
                        t.customer_id == row.customer_id, t.id != row.id,
                        t.started_at >= month_start(started), t.started_at < started,
                    )
                )  # fmt: skip
                allowance = plan.sessions_per_month if plan is not None else None
                included = bool(in_plan) and (allowance is None or int(used or 0) < allowance)
            billable = 0 if included else item.price_cents
    return billable, currency


async def session_completed(conn: AsyncConnection, ticket_id: str, now: dt.datetime) -> None:
    row = (await conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id))).first()
    if row is None or row.started_at is None:
        return
    billable_cents, currency = await billable(conn, row)
    payload = {
        "session_id": row.session_id, "ticket_id": row.id, "customer_id": row.customer_id,
        "device_id": row.device_id, "engineer_id": row.engineer_id, "service_item": row.service_item,
        "requested_at": iso(row.created_at), "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at) or now.isoformat(), "outcome": row.outcome,
        "resolution": row.resolution, "billable_cents": billable_cents, "currency": currency,
    }  # fmt: skip
    await enqueue(conn, "session.completed", payload, now, key=f"session:{row.session_id}")
