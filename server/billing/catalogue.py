"""The service catalogue (事前可选): plans and service items, loaded from a JSON document an admin
keeps, and what a customer is entitled to.

Entitlement (`decide`, pure): a customer may call for an item when their subscription is active and
either the plan includes the item and the month's sessions are within the plan's allowance, or the
plan allows extras (the item is then charged at its price). The decision carries the price the user
sees before confirming: 0 when included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.report import CODE_PATTERN
from server.db.tables import plan_items, plans, service_items

__all__ = ["Catalogue", "Entitlement", "decide", "load_catalogue", "month_start", "read_catalogue"]

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9._-]+$")]
# An item's code travels in the protocol (`help.request`, `catalogue`, the `service_item` action).
ItemCode = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ItemIn(_Strict):
    code: ItemCode
    name_zh: Annotated[str, Field(min_length=1, max_length=128)]
    name_en: Annotated[str, Field(min_length=1, max_length=128)]
    description_zh: Annotated[str, Field(max_length=1000)] = ""
    description_en: Annotated[str, Field(max_length=1000)] = ""
    price_cents: Annotated[int, Field(ge=0)]
    currency: Currency = "CNY"
    expected_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    active: bool = True


class PlanIn(_Strict):
    code: Code
    name_zh: Annotated[str, Field(min_length=1, max_length=128)]
    name_en: Annotated[str, Field(min_length=1, max_length=128)]
    sessions_per_month: Annotated[int, Field(ge=0)] | None = None
    extras_allowed: bool = True
    monthly_fee_cents: Annotated[int, Field(ge=0)] = 0
    currency: Currency = "CNY"
    items: list[ItemCode] = []


class Catalogue(_Strict):
    items: list[ItemIn]
    plans: list[PlanIn]


async def load_catalogue(engine: AsyncEngine, catalogue: Catalogue) -> None:
    """Replace the catalogue's items and plans with `catalogue` (items kept by code are updated)."""
    codes = {i.code for i in catalogue.items}
    for plan in catalogue.plans:
        unknown = set(plan.items) - codes
        if unknown:
            raise ValueError(f"plan {plan.code!r} names unknown items: {', '.join(sorted(unknown))}")
    async with engine.begin() as conn:
        await conn.execute(sa.delete(plan_items))
        # An item left out is withdrawn: no longer offered or accepted (kept, as past tickets name it).
        await conn.execute(
            sa.update(service_items).where(service_items.c.code.not_in(sorted(codes))).values(active=False)
        )
        for item in catalogue.items:
            values = item.model_dump()
            if await conn.scalar(sa.select(service_items.c.code).where(service_items.c.code == item.code)):
                await conn.execute(
                    sa.update(service_items).where(service_items.c.code == item.code).values(**values)
                )
            else:
                await conn.execute(sa.insert(service_items).values(**values))
        for plan in catalogue.plans:
            values = plan.model_dump(exclude={"items"})
            if await conn.scalar(sa.select(plans.c.code).where(plans.c.code == plan.code)):
                await conn.execute(sa.update(plans).where(plans.c.code == plan.code).values(**values))
            else:
                await conn.execute(sa.insert(plans).values(**values))
            for code in plan.items:
                await conn.execute(sa.insert(plan_items).values(plan_code=plan.code, item_code=code))


async def read_catalogue(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        items = (await conn.execute(sa.select(service_items).order_by(service_items.c.code))).all()
        plan_rows = (await conn.execute(sa.select(plans).order_by(plans.c.code))).all()
        links = (await conn.execute(sa.select(plan_items))).all()
    included: dict[str, list[str]] = {}
    for link in links:
        included.setdefault(link.plan_code, []).append(link.item_code)
    return {
        "items": [dict(r._mapping) for r in items],
        "plans": [{**dict(r._mapping), "items": sorted(included.get(r.code, []))} for r in plan_rows],
    }


@dataclass(frozen=True)
class Entitlement:
    allowed: bool
    code: str  # "included", "extra", or why not: "subscription.suspended", "item.unknown", …
    price_cents: int
    currency: str


def decide(
    *,
    status: str | None,
    item_known: bool,
    item_active: bool,
    included: bool,
    used_this_month: int,
    allowance: int | None,
    extras_allowed: bool,
    price_cents: int,
    currency: str,
) -> Entitlement:
    """Pure: may this customer call for this item now, and at what price."""
    if status is None:
        return Entitlement(False, "subscription.none", 0, currency)
    if status != "active":
        return Entitlement(False, f"subscription.{status}", 0, currency)
    if not item_known or not item_active:
        return Entitlement(False, "item.unknown", 0, currency)
    within = allowance is None or used_this_month < allowance
    if included and within:
        return Entitlement(True, "included", 0, currency)
    if extras_allowed:
        return Entitlement(True, "extra", price_cents, currency)
    return Entitlement(False, "plan.allowance_used" if included else "plan.item_not_included", 0, currency)


def month_start(now: dt.datetime) -> dt.datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
