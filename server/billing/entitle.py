"""Entitlement where the relay needs it: at the help request, when an engineer starts the session, and
in the list of service items the user picks from (事前可选).

Billing is *on* once the catalogue has a plan (`rme-server billing catalogue load`). Off, nothing
here refuses anything and the user has no items to pick: the relay behaves as it did before billing
(the customer's `subscription` status alone decides). On, every customer needs a subscription from
the BSS, and `catalogue.decide` rules on the item picked (or, with none picked, on the month's
allowance alone). One read transaction, a handful of indexed lookups: the help path stays fast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.billing.catalogue import Entitlement, decide, month_start
from server.db.tables import plan_items, plans, service_items, subscriptions, tickets

__all__ = ["Facts", "Offered", "billing_on", "check", "item_exists", "offered"]


class PlanTerms(Protocol):
    """What a decision reads of a plan (a `plans` row, or `_PlanTerms` from `check`'s one statement)."""

    @property
    def sessions_per_month(self) -> Any: ...
    @property
    def extras_allowed(self) -> Any: ...
    @property
    def currency(self) -> Any: ...


class ItemTerms(Protocol):
    """What a decision reads of a service item."""

    @property
    def active(self) -> Any: ...
    @property
    def price_cents(self) -> Any: ...
    @property
    def currency(self) -> Any: ...


@dataclass(frozen=True)
class _PlanTerms:
    sessions_per_month: int | None
    extras_allowed: bool
    currency: str


@dataclass(frozen=True)
class _ItemTerms:
    active: bool
    price_cents: int
    currency: str


@dataclass(frozen=True)
class Facts:
    """What the decision needs of the customer, read once."""

    status: str | None
    plan: PlanTerms | None
    included: frozenset[str]
    used_this_month: int

    @property
    def sessions_left(self) -> int | None:
        if self.plan is None or self.plan.sessions_per_month is None:
            return None
        return max(0, int(self.plan.sessions_per_month) - self.used_this_month)


async def item_exists(engine: AsyncEngine, code: str) -> bool:
    async with engine.connect() as conn:
        return (
            await conn.scalar(sa.select(service_items.c.code).where(service_items.c.code == code)) is not None
        )


async def billing_on(conn: AsyncConnection) -> bool:
    return await conn.scalar(sa.select(plans.c.code).limit(1)) is not None


async def _facts(
    conn: AsyncConnection, customer_id: str, now: dt.datetime
) -> tuple[Facts, sa.Row[tuple[object, ...]] | None]:
    """The subscription with its plan (one query), the plan's items, and — only when the plan limits
    sessions — the month's started sessions (indexed by customer and start: 0009_billing_usage); and
    the plan's row, whose names the user's list shows."""
    row = (
        await conn.execute(
            sa.select(subscriptions.c.status, plans)
            .join(plans, plans.c.code == subscriptions.c.plan_code)
            .where(subscriptions.c.customer_id == customer_id)
        )
    ).first()
    if row is None:
        return Facts(None, None, frozenset(), 0), None
    codes = await conn.scalars(sa.select(plan_items.c.item_code).where(plan_items.c.plan_code == row.code))
    used = 0
    if row.sessions_per_month is not None:
        counted = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(tickets)
            .where(tickets.c.customer_id == customer_id, tickets.c.started_at >= month_start(now))
        )
        used = int(counted or 0)
    return Facts(row.status, row, frozenset(codes), used), row


def _decide(facts: Facts, item: ItemTerms | None, item_code: str | None) -> Entitlement:
    plan = facts.plan
    allowance = plan.sessions_per_month if plan is not None else None
    extras = bool(plan is not None and plan.extras_allowed)
    if item_code is None:  # nothing picked: the subscription and the month's allowance alone
        return decide(
            status=facts.status, item_known=True, item_active=True, included=True,
            used_this_month=facts.used_this_month, allowance=allowance, extras_allowed=extras,
            price_cents=0, currency=plan.currency if plan is not None else "CNY",
        )  # fmt: skip
    return decide(
        status=facts.status,
        item_known=item is not None,
        item_active=bool(item is not None and item.active),
        included=item_code in facts.included,
        used_this_month=facts.used_this_month,
        allowance=allowance,
        extras_allowed=extras,
        price_cents=int(item.price_cents) if item is not None else 0,
        currency=str(item.currency) if item is not None else "CNY",
    )


async def check(
    engine: AsyncEngine, customer_id: str, item_code: str | None, now: dt.datetime
) -> Entitlement | None:
    """The decision for this customer and item now, or None when billing is off.

    One statement, one round trip: it sits on the help path, beside the customer read, and five
    small queries cost a help request more than the decision is worth (`bench/billing.py`)."""
    one = sa.select(sa.literal(1).label("one")).subquery()
    item_match = service_items.c.code == item_code if item_code is not None else sa.false()
    included = (
        sa.exists().where(plan_items.c.plan_code == plans.c.code, plan_items.c.item_code == item_code)
        if item_code is not None
        else sa.false()
    )
    used = (
        sa.select(sa.func.count())
        .select_from(tickets)
        .where(tickets.c.customer_id == customer_id, tickets.c.started_at >= month_start(now))
        .scalar_subquery()
    )
    statement = sa.select(
        sa.exists().where(plans.c.code.is_not(None)).label("billing_on"),
        subscriptions.c.status,
        plans.c.code.label("plan_code"),
        plans.c.sessions_per_month,
        plans.c.extras_allowed,
        plans.c.currency.label("plan_currency"),
        included.label("included"),
        # Counted only when the plan limits sessions (indexed by customer and start: 0009_billing_usage).
        sa.case((plans.c.sessions_per_month.is_not(None), used), else_=0).label("used"),
        service_items.c.code.label("item_code"),
        service_items.c.active,
        service_items.c.price_cents,
        service_items.c.currency,
    ).select_from(
        one.outerjoin(subscriptions, subscriptions.c.customer_id == customer_id)
        .outerjoin(plans, plans.c.code == subscriptions.c.plan_code)
        .outerjoin(service_items, item_match)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(statement)).one()
    if not row.billing_on:
        return None
    if row.plan_code is None:
        facts = Facts(None, None, frozenset(), 0)
    else:
        plan = _PlanTerms(row.sessions_per_month, bool(row.extras_allowed), str(row.plan_currency))
        codes = frozenset({item_code}) if item_code is not None and row.included else frozenset()
        facts = Facts(row.status, plan, codes, int(row.used or 0))
    item = _ItemTerms(bool(row.active), int(row.price_cents), str(row.currency)) if row.item_code else None
    return _decide(facts, item, item_code)


@dataclass(frozen=True)
class Offered:
    """The user's list: each active item with the decision for it (price 0 when included)."""

    billing: bool
    status: str | None
    plan: sa.Row[tuple[object, ...]] | None
    sessions_left: int | None
    items: list[tuple[sa.Row[tuple[object, ...]], Entitlement]]
    general: Entitlement | None  # the decision with no item picked (the subscription's own refusal)


async def offered(engine: AsyncEngine, customer_id: str, now: dt.datetime) -> Offered:
    async with engine.connect() as conn:
        if not await billing_on(conn):
            return Offered(False, None, None, None, [], None)
        facts, plan = await _facts(conn, customer_id, now)
        rows = (
            await conn.execute(
                sa.select(service_items)
                .where(service_items.c.active.is_(True))
                .order_by(service_items.c.code)
            )
        ).all()
    items = [(row, _decide(facts, row, str(row.code))) for row in rows]
    return Offered(True, facts.status, plan, facts.sessions_left, items, _decide(facts, None, None))
