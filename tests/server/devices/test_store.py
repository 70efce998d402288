import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.migrate import upgrade
from server.db.tables import enrollment_codes
from server.devices import store


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    await upgrade(engine)
    yield engine


async def test_code_is_single_use_and_stored_hashed(db: AsyncEngine) -> None:
    customer = await store.create_customer(db, "Zhang San")
    code = await store.create_enrollment_code(db, customer.id, "cli:test", ttl=300)
    async with db.connect() as conn:
        stored = await conn.scalar(sa.select(enrollment_codes.c.code_hash))
    assert stored is not None
    assert code.replace("-", "") not in stored
    device = await store.enroll_device(db, code.lower(), os.urandom(32), "PC")  # typed in lower case: fine
    assert device.customer_id == customer.id
    with pytest.raises(store.DeviceError) as used:
        await store.enroll_device(db, code, os.urandom(32), "Another PC")
    assert used.value.code == "enroll.code_used"


async def test_unknown_expired_and_bad_key(db: AsyncEngine) -> None:
    customer = await store.create_customer(db, "Li Si")
    with pytest.raises(store.DeviceError) as unknown:
        await store.enroll_device(db, "AAAA-BBBB-CCCC", os.urandom(32), "PC")
    assert unknown.value.code == "enroll.unknown_code"
    code = await store.create_enrollment_code(db, customer.id, "cli:test", ttl=300)
    with pytest.raises(store.DeviceError) as bad_key:
        await store.enroll_device(db, code, b"short", "PC")
    assert bad_key.value.code == "enroll.bad_key"
    async with db.begin() as conn:
        await conn.execute(enrollment_codes.update().values(expires_at=dt.datetime.now(dt.UTC)))
    with pytest.raises(store.DeviceError) as expired:
        await store.enroll_device(db, code, os.urandom(32), "PC")
    assert expired.value.code == "enroll.code_expired"


async def test_racing_redemptions_only_one_wins(db: AsyncEngine) -> None:
    customer = await store.create_customer(db, "Wang Wu")
    code = await store.create_enrollment_code(db, customer.id, "cli:test", ttl=300)
    results = await asyncio.gather(
        *(store.enroll_device(db, code, os.urandom(32), f"PC {i}") for i in range(5)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, store.Device)]
    assert len(winners) == 1
    assert all(isinstance(r, (store.DeviceError, sa.exc.DBAPIError)) for r in results if r not in winners)


async def test_one_key_one_device_and_revocation(db: AsyncEngine) -> None:
    customer = await store.create_customer(db, "Zhao Liu", subscription="suspended")
    key = os.urandom(32)
    first = await store.enroll_device(
        db, await store.create_enrollment_code(db, customer.id, "t", 300), key, "A"
    )
    with pytest.raises(store.DeviceError) as reuse:
        await store.enroll_device(db, await store.create_enrollment_code(db, customer.id, "t", 300), key, "B")
    assert reuse.value.code == "enroll.key_in_use"
    await store.revoke_device(db, first.id)
    revoked = await store.get_device(db, first.id)
    assert revoked is not None and revoked.revoked
    with pytest.raises(store.DeviceError):
        await store.revoke_device(db, first.id)
    assert [d.id for d in await store.list_devices(db, customer.id)] == [first.id]


async def test_subscription_changes(db: AsyncEngine) -> None:
    customer = await store.create_customer(db, "Sun Qi", external_ref="BSS-1")
    await store.set_subscription(db, customer.id, "suspended")
    assert (await store.get_customer(db, customer.id)).subscription == "suspended"
    with pytest.raises(store.DeviceError):
        await store.set_subscription(db, "c_missing", "active")
    with pytest.raises(store.DeviceError):
        await store.create_enrollment_code(db, "c_missing", "t", 300)
