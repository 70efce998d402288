import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.base import metadata
from server.db.migrate import current_revisions, head_revisions, is_current, upgrade
from server.db.tables import customers, devices, tickets

CORE_TABLES = {
    "engineers", "web_sessions", "customers", "enrollment_codes", "devices", "tickets", "nodes",
    "command_outputs",
}  # fmt: skip


async def test_upgrade_creates_schema_and_is_idempotent(engine: AsyncEngine) -> None:
    assert not await is_current(engine)
    await upgrade(engine)
    await upgrade(engine)  # a second run changes nothing
    assert await is_current(engine)
    assert await current_revisions(engine) == head_revisions()
    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    assert names >= CORE_TABLES


async def test_check_constraints_hold(engine: AsyncEngine) -> None:
    await upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(
            customers.insert().values(id="c1", name="x", subscription="active", created_at=now)
        )
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                customers.insert().values(id="c2", name="y", subscription="free", created_at=now)
            )


def node_schema_diff(connection: sa.Connection, tables: tuple[str, ...] = ("nodes", "tickets")) -> list[Any]:
    """What differs between the database and `tables.py` for `tables` (those revision 0003 touches)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})

    def touched(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) in tables

    context.opts["include_object"] = touched
    diff: list[Any] = compare_metadata(context, metadata)
    return diff


async def test_0003_nodes_upgrades_a_database_of_the_previous_revision(engine: AsyncEngine) -> None:
    await upgrade(engine, "0002_audit")
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:  # a ticket written by the previous version, open
        await conn.execute(
            customers.insert().values(id="c1", name="x", subscription="active", created_at=now)
        )
        await conn.execute(
            devices.insert().values(
                id="d1", customer_id="c1", name="PC", public_key=b"k" * 32, enrolled_at=now
            )
        )
        await conn.execute(
            sa.text(
                "INSERT INTO tickets (id, device_id, customer_id, state, user_words, lang, created_at)"
                " VALUES ('t1', 'd1', 'c1', 'queued', 'help', 'en', :now)"
            ).bindparams(sa.bindparam("now", now, type_=sa.DateTime(timezone=True)))
        )
    await upgrade(engine)
    assert await current_revisions(engine) == head_revisions()
    async with engine.connect() as conn:
        assert await conn.run_sync(node_schema_diff) == []
        ticket = (await conn.execute(sa.select(tickets.c.state, tickets.c.node_id))).one()
    assert tuple(ticket) == ("queued", None)  # owner unknown: see server.relay.nodes


async def test_0004_command_outputs_matches_the_tables(engine: AsyncEngine) -> None:
    await upgrade(engine, "0003_nodes")
    await upgrade(engine, "0004_command_outputs")
    assert await current_revisions(engine) == {"0004_command_outputs"}
    async with engine.connect() as conn:
        assert await conn.run_sync(lambda c: node_schema_diff(c, ("command_outputs",))) == []
