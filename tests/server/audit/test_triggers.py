"""The database itself refuses to change audit rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog
from server.audit.triggers import APPEND_ONLY_TABLES, drop_triggers_ddl

TAMPERING = [
    "UPDATE audit_events SET actor = 'someone-else' WHERE leaf_index = 0",
    "UPDATE audit_events SET canonical = canonical WHERE leaf_index = 1",
    "DELETE FROM audit_events WHERE leaf_index = 2",
    "DELETE FROM audit_events",
    "UPDATE audit_nodes SET hash = hash",
    "DELETE FROM audit_nodes",
    "UPDATE audit_checkpoints SET note = 'forged'",
    "DELETE FROM audit_checkpoints",
]


async def fill(audit_log: AuditLog) -> None:
    for number in range(4):
        await audit_log.append("session.request", "engineer:alice", "s-1", {"n": number})
    await audit_log.checkpoint()


@pytest.mark.parametrize("statement", TAMPERING)
async def test_update_and_delete_are_refused(
    audit_log: AuditLog, audit_engine: AsyncEngine, statement: str
) -> None:
    await fill(audit_log)
    with pytest.raises(DBAPIError, match="append-only"):
        async with audit_engine.begin() as conn:
            await conn.exec_driver_sql(statement)
    assert (await audit_log.verify_log()).ok


async def test_truncate_is_refused(audit_log: AuditLog, audit_engine: AsyncEngine) -> None:
    # PostgreSQL: a statement-level trigger. SQLite has no TRUNCATE (its truncate optimisation of
    # "DELETE FROM t" is disabled by the DELETE trigger, covered above).
    await fill(audit_log)
    expected = "append-only" if audit_engine.dialect.name == "postgresql" else "syntax error"
    for table in APPEND_ONLY_TABLES:
        with pytest.raises(DBAPIError, match=expected):
            async with audit_engine.begin() as conn:
                await conn.exec_driver_sql(f"TRUNCATE {table}")


@pytest.mark.parametrize("leaf_index", [3, 5, 100, -1])
async def test_inserting_anything_but_the_next_leaf_is_refused(
    audit_log: AuditLog, audit_engine: AsyncEngine, leaf_index: int
) -> None:
    await fill(audit_log)  # leaves 0..3
    row = {"i": leaf_index, "c": b"{}", "h": b"\x00" * 32}
    with pytest.raises(DBAPIError):
        async with audit_engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO audit_events"
                    " (leaf_index, time, kind, actor, session_id, canonical, leaf_hash) "
                    "VALUES (:i, CURRENT_TIMESTAMP, 'x', 'x', NULL, :c, :h)"
                ),
                row,
            )
    assert await audit_log.size() == 4


async def test_dropping_the_triggers_allows_edits(audit_log: AuditLog, audit_engine: AsyncEngine) -> None:
    # The tamper tests elsewhere rely on this: an attacker with DDL rights can remove the guards.
    await fill(audit_log)
    async with audit_engine.begin() as conn:
        for statement in drop_triggers_ddl(audit_engine.dialect.name):
            await conn.exec_driver_sql(statement)
        await conn.exec_driver_sql("UPDATE audit_events SET actor = 'mallory' WHERE leaf_index = 0")
    async with audit_engine.connect() as conn:
        actor = (await conn.exec_driver_sql("SELECT actor FROM audit_events WHERE leaf_index = 0")).scalar()
    assert actor == "mallory"
