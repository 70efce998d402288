"""Engineer accounts in the database: create, change password, disable, log in with lock-out and TOTP.

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 low-memory profile). A login for an
unknown user still verifies against a dummy hash so response time does not reveal which names exist.
After `max_failures` consecutive failures the account is locked for `lockout` seconds; a TOTP code is
accepted once (its time step is remembered), so a shoulder-surfed code cannot be replayed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from dataclasses import dataclass
from enum import StrEnum

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts.roles import Role
from server.db.tables import engineers, new_id, utcnow, web_sessions

HASHER = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4 (argon2-cffi defaults, RFC 9106 2nd choice)


@functools.cache
def _dummy_hash() -> str:
    """Made on the first login for an unknown name, not at import: one Argon2id hash (64 MiB) costs up to
    seconds on a loaded machine, and every `rme-server` admin command imports this module."""
    return HASHER.hash("not a real password")


MIN_PASSWORD = 10
USERNAME_PATTERN = r"^[a-z][a-z0-9_.-]{1,63}$"


class AccountError(Exception):
    """An account operation the caller asked for cannot be done (unknown user, weak password …)."""


class LoginFailure(StrEnum):
    BAD_CREDENTIALS = "bad_credentials"  # unknown user or wrong password: deliberately the same
    LOCKED = "locked"
    DISABLED = "disabled"
    TOTP_REQUIRED = "totp_required"
    BAD_TOTP = "bad_totp"


@dataclass(frozen=True)
class Engineer:
    id: str
    username: str
    display_name: str
    role: Role
    totp_enabled: bool
    disabled: bool


def _engineer(row: sa.Row[tuple[object, ...]]) -> Engineer:
    m = row._mapping
    return Engineer(
        id=str(m["id"]),
        username=str(m["username"]),
        display_name=str(m["display_name"]),
        role=Role.parse(str(m["role"])),
        totp_enabled=bool(m["totp_enabled"]),
        disabled=bool(m["disabled"]),
    )


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")


async def create_engineer(
    engine: AsyncEngine, username: str, password: str, role: Role, display_name: str | None = None
) -> Engineer:
    if not re.match(USERNAME_PATTERN, username):
        raise AccountError(
            "username: 2-64 characters, lower-case letters, digits, _ . -, starting with a letter"
        )
    check_password_strength(password)
    values = {
        "id": new_id("e"),
        "username": username,
        "display_name": display_name or username,
        "password_hash": HASHER.hash(password),
        "role": role.label,
        "totp_secret": None,
        "totp_enabled": False,
        "totp_last_step": 0,
        "disabled": False,
        "failed_logins": 0,
        "locked_until": None,
        "created_at": utcnow(),
    }
    async with engine.begin() as conn:
        exists = await conn.scalar(sa.select(engineers.c.id).where(engineers.c.username == username))
        if exists:
            raise AccountError(f"user {username!r} already exists")
        await conn.execute(engineers.insert().values(**values))
    return Engineer(str(values["id"]), username, str(values["display_name"]), role, False, False)


async def get_engineer(
    engine: AsyncEngine, *, username: str | None = None, id: str | None = None
) -> Engineer:
    column, value = (engineers.c.username, username) if username is not None else (engineers.c.id, id)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(engineers).where(column == value))).first()
    if row is None:
        raise AccountError(f"no such user {value!r}")
    return _engineer(row)


async def list_engineers(engine: AsyncEngine) -> list[Engineer]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(engineers).order_by(engineers.c.username))).all()
    return [_engineer(r) for r in rows]


async def set_password(engine: AsyncEngine, username: str, password: str) -> None:
    check_password_strength(password)
    async with engine.begin() as conn:
        result = await conn.execute(
            engineers.update()
            .where(engineers.c.username == username)
            .values(password_hash=HASHER.hash(password), failed_logins=0, locked_until=None)
        )
        if result.rowcount == 0:
            raise AccountError(f"no such user {username!r}")
        # A new password ends every existing login of that account.
        engineer_id = await conn.scalar(sa.select(engineers.c.id).where(engineers.c.username == username))
        await conn.execute(web_sessions.delete().where(web_sessions.c.engineer_id == engineer_id))


async def set_disabled(engine: AsyncEngine, username: str, disabled: bool = True) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            engineers.update().where(engineers.c.username == username).values(disabled=disabled)
        )
        if result.rowcount == 0:
            raise AccountError(f"no such user {username!r}")
        if disabled:
            engineer_id = await conn.scalar(sa.select(engineers.c.id).where(engineers.c.username == username))
            await conn.execute(web_sessions.delete().where(web_sessions.c.engineer_id == engineer_id))


async def start_totp_setup(engine: AsyncEngine, engineer_id: str) -> str:
    """Store a new (not yet enabled) TOTP secret and return its otpauth:// URI for an authenticator app."""
    secret = pyotp.random_base32()
    async with engine.begin() as conn:
        await conn.execute(
            engineers.update()
            .where(engineers.c.id == engineer_id)
            .values(totp_secret=secret, totp_enabled=False)
        )
        username = await conn.scalar(sa.select(engineers.c.username).where(engineers.c.id == engineer_id))
    uri: str = pyotp.TOTP(secret).provisioning_uri(name=str(username), issuer_name="RME")
    return uri


def _totp_step(secret: str, code: str, last_step: int, now: dt.datetime) -> int | None:
    """The time step `code` is valid for (±1 step of clock skew), if later than `last_step`."""
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        at = now + dt.timedelta(seconds=offset * totp.interval)
        step = int(at.timestamp()) // totp.interval
        if step > last_step and totp.at(at) == code:
            return step
    return None


async def enable_totp(engine: AsyncEngine, engineer_id: str, code: str) -> bool:
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(engineers).where(engineers.c.id == engineer_id))).first()
        if row is None or not row.totp_secret:
            return False
        step = _totp_step(row.totp_secret, code, row.totp_last_step, utcnow())
        if step is None:
            return False
        await conn.execute(
            engineers.update()
            .where(engineers.c.id == engineer_id)
            .values(totp_enabled=True, totp_last_step=step)
        )
    return True


async def authenticate(
    engine: AsyncEngine,
    username: str,
    password: str,
    totp_code: str | None,
    *,
    max_failures: int,
    lockout: int,
) -> Engineer | LoginFailure:
    """Check a login attempt; count failures and lock the account after `max_failures` in a row."""
    now = utcnow()
    async with engine.begin() as conn:
        row = (
            await conn.execute(sa.select(engineers).where(engineers.c.username == username).with_for_update())
        ).first()
        if row is None:
            with contextlib.suppress(VerificationError):
                HASHER.verify(_dummy_hash(), password)
            return LoginFailure.BAD_CREDENTIALS
        locked_until = row.locked_until
        if locked_until is not None and locked_until.tzinfo is None:
            locked_until = locked_until.replace(tzinfo=dt.UTC)  # SQLite drops the zone
        if locked_until is not None and locked_until > now:
            return LoginFailure.LOCKED
        try:
            HASHER.verify(row.password_hash, password)
            ok = True
        except (VerificationError, InvalidHashError):
            ok = False
        failure: LoginFailure | None = None
        step = row.totp_last_step
        if not ok:
            failure = LoginFailure.BAD_CREDENTIALS
        elif row.totp_enabled:
            if not totp_code:
                failure = LoginFailure.TOTP_REQUIRED
            else:
                new_step = _totp_step(row.totp_secret, totp_code, row.totp_last_step, now)
                failure = LoginFailure.BAD_TOTP if new_step is None else None
                step = new_step or step
        if failure is LoginFailure.TOTP_REQUIRED:
            return failure  # the password was right: not a failure to count
        if failure is not None:
            failed = row.failed_logins + 1
            values: dict[str, object] = {"failed_logins": failed}
            if failed >= max_failures:
                values = {"failed_logins": 0, "locked_until": now + dt.timedelta(seconds=lockout)}
            await conn.execute(engineers.update().where(engineers.c.id == row.id).values(**values))
            return failure
        if row.disabled:
            return LoginFailure.DISABLED
        values = {"failed_logins": 0, "locked_until": None, "totp_last_step": step}
        if HASHER.check_needs_rehash(row.password_hash):
            values["password_hash"] = HASHER.hash(password)
        await conn.execute(engineers.update().where(engineers.c.id == row.id).values(**values))
    return _engineer(row)
