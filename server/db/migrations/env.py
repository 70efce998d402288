"""Alembic environment: runs migrations on a connection handed over by `server.db.migrate`.

The server passes an open synchronous connection (from `AsyncConnection.run_sync`) in
`config.attributes["connection"]`, so migrations share the async engine and its SQLite pragmas. Run
from the `alembic` command line instead, it opens its own async engine on `sqlalchemy.url`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import server.db.tables  # noqa: F401  (declares the core tables on `metadata`)
from server.db.base import metadata
from server.db.engine import open_engine

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or run migrations through `rme-server migrate`")
    asyncio.run(_run_with_own_engine(url))


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run `rme-server migrate`")
run_migrations_online()
