"""Provisioning's rules on a real database (SQLite and PostgreSQL): times with an offset, and
concurrent requests for the same customer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.catalogue import Catalogue, load_catalogue
from server.billing.provisioning import Action, Answer, Order, StatusChange, apply_request
from server.db.tables import aware, subscriptions
from tests.server.kpi.test_store import db

__all__ = ["db"]

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
CATALOGUE = Catalogue.model_validate({
    "items": [{"code": "network_repair", "name_zh": "网络修复", "name_en": "Network repair",
               "price_cents": 0}],
    "plans": [{"code": "care", "name_zh": "宽带无忧", "name_en": "Broadband care",
               "items": ["network_repair"]}],
})  # fmt: skip


def order(ref: str, occurred_at: str) -> Order:
    return Order.model_validate({
        "customer_ref": ref, "customer_name": "李四", "plan": "care", "kind": "bundled",
        "starts_on": "2026-11-01", "occurred_at": occurred_at,
    })  # fmt: skip


async def send(db: AsyncEngine, webhook_id: str, action: Action, ref: str | None, body: Any) -> Answer:
    if not isinstance(body, Order):
        body = StatusChange.model_validate({"occurred_at": body})
    return await apply_request(
        db, webhook_id=webhook_id, integration_id="i_test", action=action, ref=ref, body=body, now=NOW
    )


async def test_a_time_with_an_offset_is_ordered_by_its_instant(db: AsyncEngine) -> None:
    await load_catalogue(db, CATALOGUE)
    assert (await send(db, "o", "order", None, order("BB-1", "2026-11-01T00:00:00Z"))).status_code == 201
    # A BSS in Beijing: 08:00+08:00 is midnight UTC; the resume at 01:00Z came after it.
    suspended = await send(db, "s", "suspend", "BB-1", "2026-11-20T08:00:00+08:00")
    assert suspended.body["status"] == "suspended"
    resumed = await send(db, "r", "resume", "BB-1", "2026-11-20T01:00:00Z")
    assert resumed.body == {**resumed.body, "applied": True, "status": "active"}, resumed.body
    async with db.connect() as conn:
        state_at = await conn.scalar(sa.select(subscriptions.c.state_at))
    assert aware(state_at) == dt.datetime(2026, 11, 20, 1, tzinfo=dt.UTC)
