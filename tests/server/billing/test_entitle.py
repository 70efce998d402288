"""`entitle.check`'s one statement decides exactly as the plain reads behind the user's item list
(`entitle.offered`: the subscription, the plan's items, the month's sessions and each item read on
their own), for every kind of customer and item — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing import entitle
from server.billing.catalogue import Entitlement
from server.db.tables import plan_items, plans, service_items, subscriptions, tickets
from server.devices import store as devices
from tests.server.kpi.test_store import db

__all__ = ["db"]

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


async def catalogue(db: AsyncEngine) -> None:
    plan = {"name_zh": "套餐", "name_en": "plan", "monthly_fee_cents": 0, "currency": "CNY"}
    item = {"name_zh": "项", "name_en": "item", "description_zh": "", "description_en": "",
            "currency": "CNY", "expected_minutes": 30}  # fmt: skip
    async with db.begin() as conn:
        await conn.execute(plans.insert(), [
            {"code": "basic", "sessions_per_month": 2, "extras_allowed": True, **plan},
            {"code": "closed", "sessions_per_month": 1, "extras_allowed": False, **plan},
            {"code": "unlimited", "sessions_per_month": None, "extras_allowed": False, **plan},
        ])  # fmt: skip
        await conn.execute(service_items.insert(), [
            {"code": "network_repair", "price_cents": 0, "active": True, **item},
            {"code": "pc_tuneup", "price_cents": 3000, "active": True, **item},
            {"code": "retired", "price_cents": 500, "active": False, **item},
        ])  # fmt: skip
        await conn.execute(plan_items.insert(), [
            {"plan_code": "basic", "item_code": "network_repair"},
            {"plan_code": "closed", "item_code": "network_repair"},
            {"plan_code": "unlimited", "item_code": "network_repair"},
            {"plan_code": "unlimited", "item_code": "pc_tuneup"},
        ])  # fmt: skip


async def customer(db: AsyncEngine, name: str, plan: str | None, status: str, sessions: int) -> str:
    """A customer on `plan` (None: no subscription) with `sessions` started this month and one last month."""
    made = await devices.create_customer(db, name)
    code = await devices.create_enrollment_code(db, made.id, "test", 300)
    device = await devices.enroll_device(db, code, os.urandom(32), f"{name} PC")
    async with db.begin() as conn:
        if plan is not None:
            await conn.execute(subscriptions.insert().values(
                customer_id=made.id, plan_code=plan, kind="bundled", status=status,
                starts_on=dt.date(2026, 1, 1), state_at=NOW, updated_at=NOW,
            ))  # fmt: skip
        starts = [NOW - dt.timedelta(days=40)] + [NOW - dt.timedelta(days=n + 1) for n in range(sessions)]
        for n, started in enumerate(starts):
            await conn.execute(tickets.insert().values(
                id=f"t{made.id[-8:]}{n}", device_id=device.id, customer_id=made.id, state="ended",
                user_words="", lang="en", created_at=started, started_at=started,
            ))  # fmt: skip
    return made.id


async def test_one_statement_decides_as_the_separate_reads(db: AsyncEngine) -> None:
    someone = await customer(db, "before", None, "active", 0)
    assert await entitle.check(db, someone, None, NOW) is None  # no plan in the catalogue: billing off
    assert await entitle.check(db, someone, "network_repair", NOW) is None

    await catalogue(db)
    customers = [
        await customer(db, "fresh", "basic", "active", 0),
        await customer(db, "used up", "basic", "active", 2),
        await customer(db, "closed", "closed", "active", 1),
        await customer(db, "closed fresh", "closed", "active", 0),
        await customer(db, "unlimited", "unlimited", "active", 9),
        await customer(db, "suspended", "basic", "suspended", 0),
        await customer(db, "cancelled", "unlimited", "cancelled", 0),
        await customer(db, "no subscription", None, "active", 0),
        someone,
    ]
    decided = 0
    for customer_id in customers:
        offered = await entitle.offered(db, customer_id, NOW)
        assert offered.general is not None
        assert await entitle.check(db, customer_id, None, NOW) == offered.general, customer_id
        listed = {str(row.code): decision for row, decision in offered.items}
        assert set(listed) == {"network_repair", "pc_tuneup"}  # the retired item is not offered
        for code, decision in listed.items():
            assert await entitle.check(db, customer_id, code, NOW) == decision, (customer_id, code)
            decided += 1
        for code in ("retired", "no_such_item"):  # not in the list: decided from the same reads
            expected = await separate_reads(db, customer_id, code)
            assert await entitle.check(db, customer_id, code, NOW) == expected, (customer_id, code)
    assert decided == 2 * len(customers)

    # The decisions themselves, spot-checked: what the table above has to cover.
    fresh, used_up, closed, closed_fresh, unlimited, suspended, cancelled, nothing, _ = customers
    codes = {
        (fresh, "pc_tuneup"): (True, "extra", 3000),
        (fresh, "network_repair"): (True, "included", 0),
        (used_up, "network_repair"): (True, "extra", 0),
        (closed, "network_repair"): (False, "plan.allowance_used", 0),
        (closed_fresh, "pc_tuneup"): (False, "plan.item_not_included", 0),
        (unlimited, "pc_tuneup"): (True, "included", 0),
        (fresh, "retired"): (False, "item.unknown", 0),
        (fresh, "no_such_item"): (False, "item.unknown", 0),
    }
    for (customer_id, code), (allowed, why, cents) in codes.items():
        got = await entitle.check(db, customer_id, code, NOW)
        assert got is not None and (got.allowed, got.code, got.price_cents) == (allowed, why, cents), code
    for refused in (suspended, cancelled, nothing):
        got = await entitle.check(db, refused, "network_repair", NOW)
        assert got is not None and not got.allowed


async def separate_reads(db: AsyncEngine, customer_id: str, code: str) -> Entitlement:
    async with db.connect() as conn:
        facts, _ = await entitle._facts(conn, customer_id, NOW)
        item = (await conn.execute(sa.select(service_items).where(service_items.c.code == code))).first()
    return entitle._decide(facts, item, code)
