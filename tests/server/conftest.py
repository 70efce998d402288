"""Shared server test fixtures: a real database of each kind, fresh per test.

`database_url` is parametrised over SQLite (a file in the test's tmp dir) and PostgreSQL (a new
database on the local server, dropped afterwards). `engine` is an `AsyncEngine` for it. Other
fixtures may be added below; these two names are relied on by every storage test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

POSTGRES_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
POSTGRES_ASYNC_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def _run(coro: Any) -> Any:
    # A private loop: sync fixtures must not disturb the loop pytest-asyncio runs tests on.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def _admin(*statements: sa.TextClause) -> None:
    admin = create_async_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )
    try:
        async with admin.connect() as conn:
            for statement in statements:
                await conn.execute(statement)
    finally:
        await admin.dispose()


async def _create_database(name: str) -> None:
    await _admin(sa.text(f'CREATE DATABASE "{name}"'))


async def _drop_database(name: str) -> None:
    await _admin(
        sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = :name AND pid <> pg_backend_pid()"
        ).bindparams(name=name),
        sa.text(f'DROP DATABASE IF EXISTS "{name}"'),
    )


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL at 127.0.0.1:5432 is not reachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An SQLAlchemy async URL for an empty database of the parametrised kind."""
    yield from _fresh_database(request.param, tmp_path)


def _fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database of `kind` (an SQLite file in `folder`, or a new PostgreSQL
    database, dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'rme.db'}"
        return
    name = f"rme_test_{secrets.token_hex(6)}"
    try:
        _run(_create_database(name))
    except (OSError, DBAPIError, TimeoutError) as exc:
        _postgres_unavailable(str(exc))
    try:
        yield f"{POSTGRES_ASYNC_BASE}/{name}"
    finally:
        _run(_drop_database(name))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An `AsyncEngine` on `database_url` (SQLite: WAL, foreign keys on), disposed afterwards."""
    eng = create_async_engine(database_url)
    if eng.dialect.name == "sqlite":
        sa.event.listen(eng.sync_engine, "connect", _sqlite_pragmas)
    try:
        yield eng
    finally:
        await eng.dispose()


# ---- running servers (added by the relay/accounts work) -----------------------------------------


@pytest.fixture(scope="session", params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def server_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like `database_url`, but one database per test session (a server process is costly to start)."""
    yield from _fresh_database(request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def rme_server(server_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real `rme-server serve` process on a free loopback port, with admin/supervisor/engineer
    accounts (see `tests.server.helpers`), shared by every test of the session: tests make their own
    customers, devices and users, so they do not disturb each other."""
    from tests.server.helpers import METRICS_TOKEN, running_server

    with running_server(
        tmp_path_factory.mktemp("server"), server_database_url, metrics_token=METRICS_TOKEN
    ) as server:
        yield server
