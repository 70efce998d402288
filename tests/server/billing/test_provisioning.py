"""Provisioning's rules on a real database (SQLite and PostgreSQL): times with an offset, and
concurrent requests for the same customer."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.catalogue import Catalogue, load_catalogue
from server.billing.provisioning import Action, Answer, CustomerUpdate, Order, StatusChange, apply_request
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


async def test_the_same_new_customer_ordered_twice_at_once(db: AsyncEngine) -> None:
    await load_catalogue(db, CATALOGUE)
    answers = await asyncio.gather(
        *(send(db, f"o{i}", "order", None, order("BB-1", f"2026-11-01T00:00:0{i}Z")) for i in range(5))
    )
    # One order creates it; the others are decided on it (exists, or stale) instead of failing.
    codes = [a.status_code for a in answers]
    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}, answers


async def test_concurrent_changes_are_decided_one_after_the_other(db: AsyncEngine) -> None:
    await load_catalogue(db, CATALOGUE)
    refs = [f"BB-{i}" for i in range(20)]
    for ref in refs:
        assert (
            await send(db, f"o-{ref}", "order", None, order(ref, "2026-11-01T00:00:00Z"))
        ).status_code == 201

    async def pair(ref: str) -> list[Answer]:
        # A suspend (3 Nov) and a cancel (2 Nov) at once: in either order only one applies.
        return list(
            await asyncio.gather(
                send(db, f"s-{ref}", "suspend", ref, "2026-11-03T00:00:00Z"),
                send(db, f"c-{ref}", "cancel", ref, "2026-11-02T00:00:00Z"),
            )
        )

    for suspend, cancel in await asyncio.gather(*(pair(ref) for ref in refs)):
        applied = [a for a in (suspend, cancel) if a.body.get("applied")]
        assert len(applied) == 1, (suspend, cancel)
        if cancel.body.get("applied"):
            assert (suspend.status_code, suspend.body["code"]) == (409, "subscription.cancelled")
        else:
            assert cancel.body == {**cancel.body, "applied": False, "reason": "stale"}
    async with db.connect() as conn:
        states = (await conn.execute(sa.select(subscriptions.c.status, subscriptions.c.state_at))).all()
    for status, state_at in states:
        expected = {"cancelled": 2, "suspended": 3}[status]
        assert aware(state_at) == dt.datetime(2026, 11, expected, tzinfo=dt.UTC)


async def test_a_webhook_id_reused_for_another_request_is_refused(db: AsyncEngine) -> None:
    await load_catalogue(db, CATALOGUE)
    for ref in ("BB-1", "BB-2"):
        assert (
            await send(db, f"o-{ref}", "order", None, order(ref, "2026-11-01T00:00:00Z"))
        ).status_code == 201
    first = await send(db, "s-1", "suspend", "BB-1", "2026-11-02T00:00:00Z")
    assert first.body["applied"] is True
    # The same request again (its time written another way): the first answer.
    again = await send(db, "s-1", "suspend", "BB-1", "2026-11-02T08:00:00+08:00")
    assert again == first
    # The BSS's bug: the id reused for another customer, another action, or by another integration.
    # Answering with the first answer would say BB-2 was suspended; it was not.
    for action, ref in [("suspend", "BB-2"), ("cancel", "BB-1")]:
        reused = await send(db, "s-1", action, ref, "2026-11-03T00:00:00Z")  # type: ignore[arg-type]
        assert (reused.status_code, reused.body["code"]) == (409, "webhook_id.reused"), reused
    other = await apply_request(
        db, webhook_id="s-1", integration_id="i_other", action="suspend", ref="BB-1",
        body=StatusChange.model_validate({"occurred_at": "2026-11-02T00:00:00Z"}), now=NOW,
    )  # fmt: skip
    assert (other.status_code, other.body["code"]) == (409, "webhook_id.reused")
    async with db.connect() as conn:
        states = dict(
            (await conn.execute(sa.select(subscriptions.c.customer_id, subscriptions.c.status))).all()
        )
    assert sorted(states.values()) == ["active", "suspended"]


async def test_a_change_dated_in_the_future_is_refused(db: AsyncEngine) -> None:
    """A cancel "at the end of the year" is not a schedule: applied now and dated then, it would make
    every real change before then stale, the customer stuck. Refused; a few minutes' skew is fine."""
    await load_catalogue(db, CATALOGUE)
    assert (await send(db, "o", "order", None, order("BB-1", "2026-11-01T00:00:00Z"))).status_code == 201
    ahead = (NOW + dt.timedelta(days=31)).isoformat()
    refused = await send(db, "c", "cancel", "BB-1", ahead)
    assert (refused.status_code, refused.body["code"]) == (422, "occurred_at.future")
    skewed = await send(db, "s", "suspend", "BB-1", (NOW + dt.timedelta(minutes=2)).isoformat())
    assert skewed.body["applied"] is True
    future_order = await send(db, "o2", "order", None, order("BB-2", ahead))
    assert (future_order.status_code, future_order.body["code"]) == (422, "occurred_at.future")
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(subscriptions)) == 1


async def test_control_characters_are_refused_not_a_server_error(db: AsyncEngine) -> None:
    """PostgreSQL stores no NUL in text: a name or reference holding one must be a clear refusal
    (422 / 404), never an error of the database (500)."""
    from pydantic import ValidationError

    await load_catalogue(db, CATALOGUE)
    for ref in ("BB\x00-1", "BB 1", "客户"):
        unknown = await send(db, f"s-{ref!r}", "suspend", ref, "2026-11-02T00:00:00Z")
        assert (unknown.status_code, unknown.body["code"]) == (404, "customer.unknown"), unknown
    with pytest.raises(ValidationError):
        Order.model_validate(
            {**order("BB-1", "2026-11-01T00:00:00Z").model_dump(), "customer_name": "李\x00四"}
        )
    with pytest.raises(ValidationError):
        CustomerUpdate.model_validate({"customer_name": "a\x00", "occurred_at": "2026-11-01T00:00:00Z"})
