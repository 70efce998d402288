"""The output store: command outputs kept beside the audit log, for a while.

The audit log records a command's output only as its SHA-256 and size (`server.relay.records`); the
text is kept here until `expires_at` (`output_retention_days`, 30 by default), so a session export
made meanwhile can include it and its verification can check it against the signed hash. The server
deletes expired outputs (`purge`, run by the node's heartbeat, `server.relay.nodes`). Unlike the audit
log this table is not append-only: forgetting user data on time is the point.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit.export import SessionAuditExport
from server.audit.outputs import ExportedOutput
from server.db.tables import command_outputs, utcnow


@dataclass(frozen=True, slots=True)
class StoredOutput:
    session_id: str
    message_id: str
    action_id: str
    sha256: str
    size: int
    text: str
    expires_at: dt.datetime


async def keep(
    engine: AsyncEngine,
    session_id: str,
    *,
    message_id: str,
    action_id: str,
    sha256: str,
    size: int,
    text: str,
    retention_s: float,
) -> None:
    """Keep a command's output (`text`, carried by result `message_id`) for `retention_s` seconds; a
    second copy of the same message is kept once."""
    now = utcnow()
    async with engine.begin() as conn:
        exists = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(command_outputs)
            .where(command_outputs.c.session_id == session_id, command_outputs.c.message_id == message_id)
        )
        if exists:
            return
        await conn.execute(
            command_outputs.insert().values(
                session_id=session_id,
                message_id=message_id,
                action_id=action_id,
                sha256=sha256,
                size=size,
                text=text,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=retention_s),
            )
        )


async def of_session(engine: AsyncEngine, session_id: str) -> list[StoredOutput]:
    """The outputs of a session still kept (not expired), oldest first."""
    query = (
        sa.select(command_outputs)
        .where(command_outputs.c.session_id == session_id, command_outputs.c.expires_at > utcnow())
        .order_by(command_outputs.c.created_at)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        StoredOutput(
            session_id=r.session_id,
            message_id=r.message_id,
            action_id=r.action_id,
            sha256=r.sha256,
            size=r.size,
            text=r.text,
            expires_at=r.expires_at if r.expires_at.tzinfo else r.expires_at.replace(tzinfo=dt.UTC),
        )
        for r in rows
    ]


async def purge(engine: AsyncEngine, now: dt.datetime | None = None) -> int:
    """Delete every output whose retention has passed; returns how many."""
    async with engine.begin() as conn:
        result = await conn.execute(
            command_outputs.delete().where(command_outputs.c.expires_at <= (now or utcnow()))
        )
    return int(result.rowcount)


async def attach(engine: AsyncEngine, export: SessionAuditExport) -> SessionAuditExport:
    """`export` with the session's outputs still kept attached (its events hold only their hashes)."""
    kept = await of_session(engine, export.session_id)
    attached = [ExportedOutput(o.message_id, o.action_id, o.sha256, o.size, o.text) for o in kept]
    return replace(export, outputs=attached)


__all__ = ["StoredOutput", "attach", "keep", "of_session", "purge"]
