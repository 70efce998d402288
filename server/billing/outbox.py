"""The transactional outbox for billing events: written in the same transaction as the change it
reports, delivered later by whichever node claims it.

* `enqueue(conn, …)` inside the caller's transaction: one row per enabled endpoint, its id the event's
  `webhook-id` for that endpoint (stable across retries, so the receiver deduplicates by it).
* `claim(engine, …)`: due rows are leased to one node for `LEASE` — on PostgreSQL with
  `SELECT … FOR UPDATE SKIP LOCKED` (two nodes never wait on, or take, the same rows), on SQLite by one
  `UPDATE … WHERE id IN (due) RETURNING` (SQLite has one writer at a time; a single-node database).
  A node that dies mid-delivery loses its lease; the rows come due again after it.
* `delivered` / `failed`: a failure is retried with exponential back-off and jitter
  (`retry_delay`) until `GIVE_UP_AFTER` (3 days) from the event, then the row is *dead*: kept, listed
  for admins, and `replay` makes it pending again.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.db.tables import aware, billing_endpoints, billing_outbox

__all__ = [
    "GIVE_UP_AFTER",
    "Claimed",
    "claim",
    "delivered",
    "enqueue",
    "failed",
    "replay",
    "retry_delay",
]

LEASE = dt.timedelta(seconds=60)
GIVE_UP_AFTER = dt.timedelta(days=3)
MAX_DELAY = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Claimed:
    id: str
    endpoint_id: str
    url: str
    secret: str
    event_type: str
    payload: dict[str, Any]
    created_at: dt.datetime
    attempts: int


def retry_delay(attempts: int, base: float = 2.0, rng: random.Random | None = None) -> dt.timedelta:
    """After `attempts` failures: base·2^(attempts−1) seconds, at most an hour, times a jitter of
    0.5–1 (so a receiver coming back is not hit by every node at the same instant)."""
    raw = min(base * 2 ** max(0, attempts - 1), MAX_DELAY.total_seconds())
    jitter = 0.5 + (rng or random).random() / 2
    return dt.timedelta(seconds=raw * jitter)


async def enqueue(
    conn: AsyncConnection, event_type: str, payload: Mapping[str, Any], now: dt.datetime, key: str
) -> list[str]:
    """Add the event for every enabled endpoint, in the caller's transaction; returns the ids.
    `key` names the business event (the same for every endpoint): reconciliation counts it once."""
    endpoints = (
        await conn.execute(sa.select(billing_endpoints.c.id).where(billing_endpoints.c.enabled))
    ).all()
    ids = []
    for row in endpoints:
        event_id = f"evt_{secrets.token_hex(16)}"
        await conn.execute(
            sa.insert(billing_outbox).values(
                id=event_id, endpoint_id=row.id, event_type=event_type, payload={**payload, "event_key": key},
                created_at=now, state="pending", attempts=0, next_attempt_at=now,
            )
        )  # fmt: skip
        ids.append(event_id)
    return ids


async def claim(engine: AsyncEngine, now: dt.datetime, limit: int = 200) -> list[Claimed]:
    """Lease up to `limit` due events to this node."""
    o, e = billing_outbox.c, billing_endpoints.c
    due = (
        sa.select(o.id)
        .where(o.state == "pending", o.next_attempt_at <= now)
        .order_by(o.next_attempt_at)
        .limit(limit)
    )
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            ids = [r.id for r in (await conn.execute(due.with_for_update(skip_locked=True))).all()]
            if ids:
                await conn.execute(
                    sa.update(billing_outbox).where(o.id.in_(ids)).values(next_attempt_at=now + LEASE)
                )
        else:
            # One statement: SQLite runs it under its write lock, so a concurrent claimer's statement
            # runs after this one commits and picks the next due rows.
            moved = await conn.execute(
                sa.update(billing_outbox)
                .where(o.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=now + LEASE)
                .returning(o.id)
            )
            ids = [r.id for r in moved.all()]
        if not ids:
            return []
        rows = (
            await conn.execute(
                sa.select(
                    o.id, o.endpoint_id, o.event_type, o.payload, o.created_at, o.attempts, e.url, e.secret
                )
                .join(billing_endpoints, e.id == o.endpoint_id)
                .where(o.id.in_(ids))
            )
        ).all()
    return [
        Claimed(
            r.id, r.endpoint_id, r.url, r.secret, r.event_type, r.payload, aware(r.created_at), r.attempts
        )
        for r in rows
    ]


async def delivered(engine: AsyncEngine, event_ids: Sequence[str], now: dt.datetime) -> None:
    if not event_ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(billing_outbox)
            .where(billing_outbox.c.id.in_(list(event_ids)), billing_outbox.c.state == "pending")
            .values(
                state="delivered", delivered_at=now, attempts=billing_outbox.c.attempts + 1, last_error=None
            )
        )


async def failed(
    engine: AsyncEngine, event: Claimed, error: str, now: dt.datetime, base: float = 2.0
) -> bool:
    """Record a failed attempt; returns True when the event is now dead (past GIVE_UP_AFTER)."""
    attempts = event.attempts + 1
    dead = now - event.created_at >= GIVE_UP_AFTER
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:500]}
    if dead:
        values["state"] = "dead"
    else:
        values["next_attempt_at"] = now + retry_delay(attempts, base)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(billing_outbox)
            .where(billing_outbox.c.id == event.id, billing_outbox.c.state == "pending")
            .values(**values)
        )
    return dead


async def replay(engine: AsyncEngine, event_id: str, now: dt.datetime) -> bool:
    """A dead event back to pending, due now (the same `webhook-id`); False if no such dead event."""
    async with engine.begin() as conn:
        moved = await conn.execute(
            sa.update(billing_outbox)
            .where(billing_outbox.c.id == event_id, billing_outbox.c.state == "dead")
            .values(state="pending", next_attempt_at=now, created_at=now, last_error=None)
        )
    return moved.rowcount == 1


async def dead_letters(engine: AsyncEngine, limit: int = 200) -> list[dict[str, Any]]:
    o = billing_outbox.c
    query = (
        sa.select(o.id, o.event_type, o.created_at, o.attempts, o.last_error, o.endpoint_id)
        .where(o.state == "dead")
        .order_by(o.created_at.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {"id": r.id, "event_type": r.event_type, "created_at": aware(r.created_at).isoformat(),
         "attempts": r.attempts, "last_error": r.last_error, "endpoint_id": r.endpoint_id}
        for r in rows
    ]  # fmt: skip
