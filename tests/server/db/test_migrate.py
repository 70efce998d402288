import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.migrate import current_revisions, head_revisions, is_current, upgrade
from server.db.tables import customers

CORE_TABLES = {"engineers", "web_sessions", "customers", "enrollment_codes", "devices", "tickets"}


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
