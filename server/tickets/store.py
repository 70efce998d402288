"""Tickets in the database. Every state change is one conditional UPDATE (`transition`: `WHERE state
IN move.before`), so two engineers racing for one ticket, or an end racing an accept, cannot both
win — on any node.

The lifecycle rules are in `server.tickets.lifecycle`, whose `apply` and `end` make the `Move`s this
module persists; nothing here changes a state any other way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.messages import TicketSummary
from protocol.report import DiagnosisReport
from server.billing.completion import session_completed
from server.db.tables import aware, customers, devices, new_id, tickets, utcnow
from server.devices.rescue import is_rescue_device
from server.devices.store import Subscription
from server.tickets.lifecycle import OPEN_STATES, Event, Move, TicketState
from server.tickets.ticket import Ticket

_OPEN = [s.value for s in OPEN_STATES]


def _ticket(row: sa.Row[tuple[object, ...]]) -> Ticket:
    m = row._mapping
    return Ticket(
        id=m["id"],
        session_id=m["session_id"],
        device_id=m["device_id"],
        customer_id=m["customer_id"],
        state=TicketState(m["state"]),
        engineer_id=m["engineer_id"],
        words=m["user_words"],
        lang=m["lang"],
        created_at=aware(m["created_at"]),
        report=m["report"],
        node_id=m["node_id"],
        service_item=m["service_item"],
    )


async def create_ticket(
    engine: AsyncEngine,
    *,
    device_id: str,
    customer_id: str,
    words: str,
    report: DiagnosisReport | None,
    lang: str,
    node_id: str | None,
    ticket_id: str | None = None,
    session_id: str | None = None,
    service_item: str | None = None,
) -> Ticket:
    ticket = Ticket(
        id=ticket_id or new_id("t"),
        session_id=session_id or new_id("s"),
        device_id=device_id,
        customer_id=customer_id,
        state=TicketState.QUEUED,
        engineer_id=None,
        words=words,
        lang=lang,
        created_at=utcnow(),
        report=None if report is None else report.model_dump(mode="json"),
        node_id=node_id,
        service_item=service_item,
    )
    async with engine.begin() as conn:
        await conn.execute(
            tickets.insert().values(
                id=ticket.id,
                session_id=ticket.session_id,
                device_id=device_id,
                customer_id=customer_id,
                state=ticket.state.value,
                user_words=words,
                report=ticket.report,
                lang=lang,
                created_at=ticket.created_at,
                node_id=node_id,
                service_item=service_item,
            )
        )
    return ticket


async def get_ticket(
    engine: AsyncEngine, *, ticket_id: str | None = None, session_id: str | None = None
) -> Ticket | None:
    where = tickets.c.id == ticket_id if ticket_id is not None else tickets.c.session_id == session_id
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(tickets).where(where))).first()
    return None if row is None else _ticket(row)


async def open_ticket_of_device(engine: AsyncEngine, device_id: str) -> Ticket | None:
    query = sa.select(tickets).where(tickets.c.device_id == device_id, tickets.c.state.in_(_OPEN))
    async with engine.connect() as conn:
        row = (await conn.execute(query.limit(1))).first()
    return None if row is None else _ticket(row)


async def open_sessions_of_engineer(engine: AsyncEngine, engineer_id: str) -> list[Ticket]:
    """The engineer's sessions still running (offered to the user, or active), oldest first: a console
    that connects again adopts them."""
    query = sa.select(tickets).where(
        tickets.c.engineer_id == engineer_id,
        tickets.c.state.in_([TicketState.OFFERED.value, TicketState.ACTIVE.value]),
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(tickets.c.created_at))).all()
    return [_ticket(r) for r in rows]


async def transition(engine: AsyncEngine, ticket_id: str, move: Move, *, node_id: str | None = None) -> bool:
    """Persist `move` (from `lifecycle.apply` or `lifecycle.end`) with one compare-and-set: False if
    the ticket is no longer in `move.before` (someone else moved it first), or, given `node_id`, no
    longer held by that node. Sets the columns the move implies (who accepted and when, start, end)."""
    now = utcnow()
    values: dict[str, Any] = {"state": move.after.value}
    if move.event is Event.ACCEPT:
        values.update(engineer_id=move.engineer_id, accepted_at=now)
    elif move.event is Event.USER_ACCEPT:
        values.update(started_at=now)
    if move.outcome is not None:
        values.update(ended_at=now, outcome=move.outcome.value, resolution=move.resolution)
    where = [tickets.c.id == ticket_id, tickets.c.state.in_([s.value for s in move.before])]
    if node_id is not None:
        where.append(tickets.c.node_id == node_id)
    async with engine.begin() as conn:
        result = await conn.execute(tickets.update().where(*where).values(**values))
        if result.rowcount == 1 and move.outcome is not None:
            # The billing event of the end, in the same transaction as the end (the outbox pattern).
            await session_completed(conn, ticket_id, now)
    return result.rowcount == 1


async def set_service_item(engine: AsyncEngine, ticket_id: str, item: str) -> bool:
    """Put the service item the user agreed to on an open ticket (the `service_item` action)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            tickets.update()
            .where(tickets.c.id == ticket_id, tickets.c.state.in_(_OPEN))
            .values(service_item=item)
        )
    return result.rowcount == 1


async def record_feedback(engine: AsyncEngine, session_id: str, device_id: str, rating: int) -> bool:
    """Store the user's rating once, for an ended session of this device."""
    async with engine.begin() as conn:
        result = await conn.execute(
            tickets.update()
            .where(
                tickets.c.session_id == session_id,
                tickets.c.device_id == device_id,
                tickets.c.state == TicketState.ENDED.value,
                tickets.c.satisfaction.is_(None),
            )
            .values(satisfaction=rating)
        )
    return result.rowcount == 1


async def queue_position(engine: AsyncEngine, ticket: Ticket) -> int:
    """How many queued tickets are ahead of this one (0: next in line)."""
    async with engine.connect() as conn:
        ahead = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(tickets)
            .where(tickets.c.state == TicketState.QUEUED.value, tickets.c.created_at < ticket.created_at)
        )
    return int(ahead or 0)


def _summary(row: sa.Row[tuple[object, ...]]) -> TicketSummary:
    m = row._mapping
    report = m["report"] or {}
    return TicketSummary(
        ticket_id=m["id"],
        state=m["state"],
        customer_id=m["customer_id"],
        customer_name=m["name"][:256],
        subscription=m["subscription"],
        words=m["user_words"],
        verdict=report.get("verdict"),
        root_cause=report.get("root_cause"),
        created_ms=int(aware(m["created_at"]).timestamp() * 1000),
        engineer_id=m["engineer_id"],
        service_item=m["service_item"],
        rescue=is_rescue_device(m["device_name"]),
    )


def new_summary(
    ticket: Ticket, customer_name: str, subscription: Subscription, *, rescue: bool = False
) -> TicketSummary:
    """The summary of a ticket just created, from what its creator holds: the same fields `summaries`
    reads back, without the database round trip on the help → engineer path."""
    report = ticket.report or {}
    return TicketSummary(
        ticket_id=ticket.id,
        state=ticket.state.value,
        customer_id=ticket.customer_id,
        customer_name=customer_name[:256],
        subscription=subscription,
        words=ticket.words,
        verdict=report.get("verdict"),
        root_cause=report.get("root_cause"),
        created_ms=int(aware(ticket.created_at).timestamp() * 1000),
        engineer_id=ticket.engineer_id,
        service_item=ticket.service_item,
        rescue=rescue,
    )


def _summary_query() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        tickets.c.id,
        tickets.c.state,
        tickets.c.customer_id,
        tickets.c.user_words,
        tickets.c.report,
        tickets.c.created_at,
        tickets.c.engineer_id,
        tickets.c.service_item,
        customers.c.name,
        customers.c.subscription,
        devices.c.name.label("device_name"),
    ).select_from(
        tickets.join(customers, customers.c.id == tickets.c.customer_id).join(
            devices, devices.c.id == tickets.c.device_id
        )
    )


async def summaries(engine: AsyncEngine, ticket_ids: list[str] | None = None) -> list[TicketSummary]:
    """Summaries of the given tickets, or of every open ticket (oldest first)."""
    query = _summary_query()
    if ticket_ids is None:
        query = query.where(tickets.c.state.in_(_OPEN))
    else:
        query = query.where(tickets.c.id.in_(ticket_ids))
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(tickets.c.created_at))).all()
    return [_summary(r) for r in rows]


async def list_tickets(
    engine: AsyncEngine, state: TicketState | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    query = sa.select(tickets).order_by(tickets.c.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(tickets.c.state == state.value)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [dict(r._mapping) for r in rows]


async def adopt(engine: AsyncEngine, ticket: Ticket, node_id: str) -> bool:
    """A reconnecting agent's node takes over its queued ticket; False if the ticket is no longer
    queued or another node took it (a sweeper ending it as orphaned, another connection) since it was read."""
    async with engine.begin() as conn:
        result = await conn.execute(
            tickets.update()
            .where(
                tickets.c.id == ticket.id,
                tickets.c.state == TicketState.QUEUED.value,
                tickets.c.node_id.is_not_distinct_from(ticket.node_id),
            )
            .values(node_id=node_id)
        )
    return result.rowcount == 1


# -- orphans: open tickets whose node is gone (`server.relay.nodes` runs the sweep) -----------------


async def orphaned(engine: AsyncEngine, live: sa.Select[tuple[str]], cutoff: dt.datetime) -> list[Ticket]:
    """Open tickets whose node is not in `live` (a query of live node ids), and those of no known node
    (NULL) created before `cutoff`."""
    query = sa.select(tickets).where(
        tickets.c.state.in_(_OPEN),
        sa.or_(
            sa.and_(tickets.c.node_id.is_(None), tickets.c.created_at < cutoff),
            tickets.c.node_id.not_in(live),
        ),
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(tickets.c.created_at))).all()
    return [_ticket(r) for r in rows]


async def claim_orphan(
    engine: AsyncEngine, ticket: Ticket, node_id: str, still_dead: sa.ColumnElement[bool]
) -> bool:
    """Make `node_id` the ticket's owner if it is still open, still names the node it named when read,
    and `still_dead` (that node has not come back) holds. One conditional UPDATE: of several nodes
    sweeping at once, exactly one wins each ticket."""
    async with engine.begin() as conn:
        result = await conn.execute(
            tickets.update()
            .where(
                tickets.c.id == ticket.id,
                tickets.c.state.in_(_OPEN),
                tickets.c.node_id.is_not_distinct_from(ticket.node_id),
                still_dead,
            )
            .values(node_id=node_id)
        )
    return result.rowcount == 1


async def unclaim_orphan(engine: AsyncEngine, ticket: Ticket, node_id: str) -> bool:
    """Give a claimed orphan back to its dead node (its end could not be recorded; the next sweep retries)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            tickets.update()
            .where(tickets.c.id == ticket.id, tickets.c.state.in_(_OPEN), tickets.c.node_id == node_id)
            .values(node_id=ticket.node_id)
        )
    return result.rowcount == 1


__all__ = [
    "Ticket",
    "adopt",
    "claim_orphan",
    "create_ticket",
    "get_ticket",
    "list_tickets",
    "open_sessions_of_engineer",
    "open_ticket_of_device",
    "orphaned",
    "queue_position",
    "record_feedback",
    "set_service_item",
    "summaries",
    "transition",
    "unclaim_orphan",
]
