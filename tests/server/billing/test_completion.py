"""`session.completed` is written in the same transaction that ends the ticket, with the billable
amount the plan implies (real database: SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts.engineers import create_engineer
from server.accounts.roles import Role
from server.billing.admin import add_endpoint
from server.billing.catalogue import Catalogue, load_catalogue
from server.billing.provisioning import Order, apply_request
from server.db.tables import billing_outbox, tickets
from server.tickets import store
from server.tickets.lifecycle import Event, Outcome, Party, TicketState, apply, end
from tests.server.kpi.test_store import db, make_device
from tests.server.tickets.test_store import new_ticket

__all__ = ["db"]

CATALOGUE = Catalogue.model_validate(
    {
        "items": [
            {"code": "network_repair", "name_zh": "网络修复", "name_en": "Network repair",
             "price_cents": 2000},
            {"code": "pc_tuneup", "name_zh": "电脑优化", "name_en": "PC tune-up", "price_cents": 3000},
        ],
        "plans": [{"code": "care", "name_zh": "无忧", "name_en": "Care", "sessions_per_month": 2,
                   "items": ["network_repair"]}],
    }
)  # fmt: skip


async def run_session(
    db: AsyncEngine, device: object, engineer_id: str, item: str | None, start: bool = True
) -> str:
    ticket = await new_ticket(db, device)  # type: ignore[arg-type]
    async with db.begin() as conn:
        await conn.execute(sa.update(tickets).where(tickets.c.id == ticket.id).values(service_item=item))
    assert await store.transition(
        db, ticket.id, apply(TicketState.QUEUED, Event.ACCEPT, Party.ENGINEER, engineer_id=engineer_id)
    )
    assert await store.transition(db, ticket.id, apply(TicketState.ACCEPTED, Event.OFFER, Party.SERVER))
    if start:
        assert await store.transition(
            db, ticket.id, apply(TicketState.OFFERED, Event.USER_ACCEPT, Party.AGENT)
        )
        assert await store.transition(
            db, ticket.id, end(TicketState.ACTIVE, Outcome.RESOLVED, Party.ENGINEER, resolution="dns.fixed")
        )
    else:
        assert await store.transition(db, ticket.id, end(TicketState.OFFERED, Outcome.DECLINED, Party.AGENT))
    assert ticket.session_id is not None
    return ticket.session_id


async def test_each_ended_session_is_billed_once_by_the_plan(db: AsyncEngine) -> None:
    await load_catalogue(db, CATALOGUE)
    await add_endpoint(db, "http://127.0.0.1:9/billing")
    engineer = await create_engineer(db, "bill-eng", "a long password 1", Role.ENGINEER)
    device = await make_device(db, "Billed")
    # The customer's subscription to "care" (the device's customer is given the BSS reference).
    from server.db.tables import customers

    async with db.begin() as conn:
        await conn.execute(
            sa.update(customers).where(customers.c.id == device.customer_id).values(external_ref="BB-77")
        )
    now = dt.datetime.now(dt.UTC)
    order = Order(customer_ref="BB-77", customer_name="王五", plan="care", kind="standalone",
                  starts_on=now.date(), occurred_at=now)  # fmt: skip
    answer = await apply_request(
        db, webhook_id="o-77", integration_id="bi_x", action="order", ref=None, body=order, now=now
    )
    assert answer.status_code == 201

    sessions = [
        await run_session(db, device, engineer.id, "network_repair"),  # included (1 of 2)
        await run_session(db, device, engineer.id, "pc_tuneup"),  # not in the plan: its price
        await run_session(db, device, engineer.id, "network_repair"),  # allowance used up: its price
        await run_session(db, device, engineer.id, None),  # no item chosen: nothing to bill
    ]
    await run_session(db, device, engineer.id, "pc_tuneup", start=False)  # declined: no event
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(billing_outbox.c.payload).where(billing_outbox.c.event_type == "session.completed")
            )
        ).all()
    by_session = {r.payload["session_id"]: r.payload for r in rows}
    assert list(by_session) == sessions or set(by_session) == set(sessions)
    assert [by_session[s]["billable_cents"] for s in sessions] == [0, 3000, 2000, 0]
    first = by_session[sessions[0]]
    assert (
        first["engineer_id"] == engineer.id
        and first["resolution"] == "dns.fixed"
        and first["outcome"] == "resolved"
    )
    assert first["event_key"] == f"session:{sessions[0]}"
    assert first["started_at"] and first["ended_at"] and first["customer_id"] == device.customer_id
