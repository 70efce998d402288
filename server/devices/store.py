"""Customers, single-use enrollment codes and device keys in the database.

An enrollment code is shown once to an admin (or printed into a provisioning blob) and stored only as
its SHA-256. Redeeming is one conditional UPDATE (`used_at IS NULL AND expires_at > now`), so two
agents racing with the same code cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import aware, customers, devices, enrollment_codes, new_id, utcnow

Subscription = Literal["active", "suspended", "cancelled"]
# Codes avoid look-alike characters (0/O, 1/I/L) because users may type them from a phone call.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS, CODE_GROUP_LEN = 3, 4


class DeviceError(Exception):
    """An enrollment or device operation that cannot be done; `code` is stable for clients and tests."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    subscription: Subscription
    external_ref: str | None


@dataclass(frozen=True)
class Device:
    id: str
    customer_id: str
    name: str
    public_key: bytes
    revoked: bool


def _hash(code: str) -> str:
    normalised = code.replace("-", "").upper()
    return hashlib.sha256(normalised.encode()).hexdigest()


def _customer(row: sa.Row[tuple[object, ...]]) -> Customer:
    m = row._mapping
    sub: Subscription = m["subscription"]
    return Customer(str(m["id"]), str(m["name"]), sub, m["external_ref"])


def _device(row: sa.Row[tuple[object, ...]]) -> Device:
    m = row._mapping
    return Device(
        str(m["id"]),
        str(m["customer_id"]),
        str(m["name"]),
        bytes(m["public_key"]),
        m["revoked_at"] is not None,
    )


async def create_customer(
    engine: AsyncEngine, name: str, subscription: Subscription = "active", external_ref: str | None = None
) -> Customer:
    customer = Customer(new_id("c"), name, subscription, external_ref)
    async with engine.begin() as conn:
        await conn.execute(
            customers.insert().values(
                id=customer.id,
                name=name,
                subscription=subscription,
                external_ref=external_ref,
                created_at=utcnow(),
            )
        )
    return customer


async def get_customer(engine: AsyncEngine, customer_id: str) -> Customer:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(customers).where(customers.c.id == customer_id))).first()
    if row is None:
        raise DeviceError("customer.unknown", f"no such customer {customer_id!r}")
    return _customer(row)


async def list_customers(engine: AsyncEngine) -> list[Customer]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(customers).order_by(customers.c.created_at))).all()
    return [_customer(r) for r in rows]


async def set_subscription(engine: AsyncEngine, customer_id: str, subscription: Subscription) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            customers.update().where(customers.c.id == customer_id).values(subscription=subscription)
        )
    if result.rowcount == 0:
        raise DeviceError("customer.unknown", f"no such customer {customer_id!r}")


def new_code() -> str:
    """A random enrollment code like `K7QM-2XWD-9PHT` (~59 bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    return "-".join(raw[i : i + CODE_GROUP_LEN] for i in range(0, len(raw), CODE_GROUP_LEN))


async def create_enrollment_code(engine: AsyncEngine, customer_id: str, created_by: str, ttl: int) -> str:
    """A fresh code like `K7QM-2XWD-9PHT` (~59 bits), valid for `ttl` seconds, usable once."""
    await get_customer(engine, customer_id)
    code = new_code()
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            enrollment_codes.insert().values(
                code_hash=_hash(code),
                customer_id=customer_id,
                created_by=created_by,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=ttl),
            )
        )
    return code


async def enroll_device(engine: AsyncEngine, code: str, public_key: bytes, name: str) -> Device:
    """Redeem `code` for a new device with `public_key`. DeviceError: unknown/used/expired code, key reuse."""
    if len(public_key) != 32:
        raise DeviceError("enroll.bad_key", "an Ed25519 public key is 32 bytes")
    now = utcnow()
    device_id = new_id("d")
    async with engine.begin() as conn:
        row = (
            await conn.execute(sa.select(enrollment_codes).where(enrollment_codes.c.code_hash == _hash(code)))
        ).first()
        if row is None:
            raise DeviceError("enroll.unknown_code", "enrollment code not recognised")
        if row.used_at is not None:
            raise DeviceError("enroll.code_used", "enrollment code was already used")
        if aware(row.expires_at) <= now:
            raise DeviceError("enroll.code_expired", "enrollment code has expired")
        taken = await conn.scalar(sa.select(devices.c.id).where(devices.c.public_key == public_key))
        if taken:
            raise DeviceError("enroll.key_in_use", "this device key is already enrolled")
        claimed = await conn.execute(
            enrollment_codes.update()
            .where(enrollment_codes.c.code_hash == row.code_hash, enrollment_codes.c.used_at.is_(None))
            .values(used_at=now, device_id=device_id)
        )
        if claimed.rowcount != 1:
            raise DeviceError("enroll.code_used", "enrollment code was already used")
        await conn.execute(
            devices.insert().values(
                id=device_id, customer_id=row.customer_id, name=name, public_key=public_key, enrolled_at=now
            )
        )
    return Device(device_id, str(row.customer_id), name, public_key, False)


async def get_device(engine: AsyncEngine, device_id: str) -> Device | None:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(devices).where(devices.c.id == device_id))).first()
    return None if row is None else _device(row)


async def list_devices(engine: AsyncEngine, customer_id: str) -> list[Device]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(devices).where(devices.c.customer_id == customer_id).order_by(devices.c.enrolled_at)
            )
        ).all()
    return [_device(r) for r in rows]


async def revoke_device(engine: AsyncEngine, device_id: str) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            devices.update()
            .where(devices.c.id == device_id, devices.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if result.rowcount == 0:
        raise DeviceError("device.unknown", f"no such active device {device_id!r}")


async def touch_devices(engine: AsyncEngine, device_ids: list[str], batch: int = 500) -> None:
    """Set `last_seen` of many devices to now, a few hundred ids an UPDATE, in one transaction."""
    now = utcnow()
    async with engine.begin() as conn:
        for start in range(0, len(device_ids), batch):
            ids = device_ids[start : start + batch]
            await conn.execute(devices.update().where(devices.c.id.in_(ids)).values(last_seen=now))


async def touch_device(engine: AsyncEngine, device_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(devices.update().where(devices.c.id == device_id).values(last_seen=utcnow()))
