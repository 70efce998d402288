"""Alembic revision 0002_audit gives the same audit schema as `schema.py`, with its triggers."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog, NoteSigner
from server.audit.schema import AUDIT_TABLES
from server.db.base import metadata
from server.db.migrate import alembic_config, upgrade

AUDIT_TABLE_NAMES = {table.name for table in AUDIT_TABLES}


def audit_schema_diff(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})

    def only_audit(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) in AUDIT_TABLE_NAMES

    context.opts["include_object"] = only_audit
    diff: list[Any] = compare_metadata(context, metadata)
    return diff


async def test_upgrade_head_creates_the_audit_schema_with_triggers(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(audit_schema_diff) == []
    log = AuditLog(engine, NoteSigner.generate("rme.test/audit"))
    await log.append("auth.login", "engineer:alice", None, {})
    await log.checkpoint()
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.exec_driver_sql(statement)
    assert (await log.verify_log(deep=True)).ok


async def test_downgrade_removes_tables_and_triggers(engine: AsyncEngine) -> None:
    await upgrade(engine)

    def downgrade(connection: sa.Connection) -> set[str]:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0001_core")
        return set(sa.inspect(connection).get_table_names())

    async with engine.begin() as conn:
        tables = await conn.run_sync(downgrade)
    assert not tables & AUDIT_TABLE_NAMES
    await upgrade(engine)  # and back up again cleanly
