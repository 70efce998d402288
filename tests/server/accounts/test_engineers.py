import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts import engineers as accounts
from server.accounts.engineers import LoginFailure
from server.accounts.roles import Role
from server.accounts.sessions import close_session, open_session, session_engineer
from server.db.migrate import upgrade
from server.db.tables import engineers, web_sessions

PASSWORD = "correct horse battery"


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    await upgrade(engine)
    yield engine


async def login(db: AsyncEngine, username: str, password: str, totp: str | None = None) -> object:
    return await accounts.authenticate(db, username, password, totp)


async def test_create_and_login_stores_only_argon2id(db: AsyncEngine) -> None:
    created = await accounts.create_engineer(db, "alice", PASSWORD, Role.SUPERVISOR, "Alice Li")
    async with db.connect() as conn:
        stored = await conn.scalar(sa.select(engineers.c.password_hash))
    assert stored is not None
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    ok = await login(db, "alice", PASSWORD)
    assert isinstance(ok, accounts.Engineer) and ok.id == created.id and ok.role is Role.SUPERVISOR


async def test_unknown_user_and_wrong_password_look_the_same(db: AsyncEngine) -> None:
    await accounts.create_engineer(db, "bob", PASSWORD, Role.ENGINEER)
    assert await login(db, "nobody", PASSWORD) is LoginFailure.BAD_CREDENTIALS
    assert await login(db, "bob", "wrong password!") is LoginFailure.BAD_CREDENTIALS


async def test_failures_never_lock_the_account(db: AsyncEngine) -> None:
    """Slowing guessers down is the throttle's job (per address): a stranger's failures must not lock
    the account against its owner, so the right password works after any number of wrong ones."""
    await accounts.create_engineer(db, "carol", PASSWORD, Role.ADMIN)
    for _ in range(12):
        assert await login(db, "carol", "guess guess guess") is LoginFailure.BAD_CREDENTIALS
    assert isinstance(await login(db, "carol", PASSWORD), accounts.Engineer)


async def test_names_that_cannot_exist_are_bad_credentials(db: AsyncEngine) -> None:
    for name in ("a\x00b", "UPPER", "x" * 200, ""):
        assert await login(db, name, PASSWORD) is LoginFailure.BAD_CREDENTIALS


async def test_weak_password_and_bad_names_refused(db: AsyncEngine) -> None:
    with pytest.raises(accounts.AccountError, match="at least"):
        await accounts.create_engineer(db, "dave", "short", Role.ENGINEER)
    with pytest.raises(accounts.AccountError, match="username"):
        await accounts.create_engineer(db, "Robert'); DROP TABLE", PASSWORD, Role.ENGINEER)
    await accounts.create_engineer(db, "dave", PASSWORD, Role.ENGINEER)
    with pytest.raises(accounts.AccountError, match="exists"):
        await accounts.create_engineer(db, "dave", PASSWORD, Role.ADMIN)


async def test_disable_and_password_change_end_sessions(db: AsyncEngine) -> None:
    erin = await accounts.create_engineer(db, "erin", PASSWORD, Role.ENGINEER)
    token = await open_session(db, erin.id, ttl=600)
    assert (await session_engineer(db, token)) == erin
    await accounts.set_password(db, "erin", "another long password")
    assert await session_engineer(db, token) is None
    assert await login(db, "erin", PASSWORD) is LoginFailure.BAD_CREDENTIALS
    token = await open_session(db, erin.id, ttl=600)
    await accounts.set_disabled(db, "erin")
    assert await session_engineer(db, token) is None
    assert await login(db, "erin", "another long password") is LoginFailure.DISABLED


async def test_sessions_store_only_a_hash_and_expire(db: AsyncEngine) -> None:
    fay = await accounts.create_engineer(db, "fay", PASSWORD, Role.ADMIN)
    token = await open_session(db, fay.id, ttl=600)
    async with db.connect() as conn:
        stored = await conn.scalar(sa.select(web_sessions.c.token_hash))
    assert stored is not None
    assert token not in stored
    assert await session_engineer(db, token + "x") is None
    async with db.begin() as conn:
        await conn.execute(web_sessions.update().values(expires_at=dt.datetime.now(dt.UTC)))
    assert await session_engineer(db, token) is None
    token = await open_session(db, fay.id, ttl=600)
    await close_session(db, token)
    assert await session_engineer(db, token) is None


async def test_totp_required_and_single_use(db: AsyncEngine) -> None:
    gus = await accounts.create_engineer(db, "gus", PASSWORD, Role.ENGINEER)
    uri = await accounts.start_totp_setup(db, gus.id)
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    assert not await accounts.enable_totp(db, gus.id, "000000" if totp.now() != "000000" else "111111")
    code = totp.now()
    assert await accounts.enable_totp(db, gus.id, code)
    assert await login(db, "gus", PASSWORD) is LoginFailure.TOTP_REQUIRED
    assert await login(db, "gus", PASSWORD, code) is LoginFailure.BAD_TOTP  # already used for enabling
    next_code = totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    assert isinstance(await login(db, "gus", PASSWORD, next_code), accounts.Engineer)
    assert await login(db, "gus", PASSWORD, next_code) is LoginFailure.BAD_TOTP  # replayed


async def test_a_totp_code_raced_by_two_logins_wins_once(db: AsyncEngine) -> None:
    hal = await accounts.create_engineer(db, "hal", PASSWORD, Role.ENGINEER)
    totp = pyotp.parse_uri(await accounts.start_totp_setup(db, hal.id))
    assert isinstance(totp, pyotp.TOTP)
    assert await accounts.enable_totp(db, hal.id, totp.now())
    code = totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    results = await asyncio.gather(*(login(db, "hal", PASSWORD, code) for _ in range(3)))
    assert sum(isinstance(r, accounts.Engineer) for r in results) == 1
    assert sorted(str(r) for r in results if not isinstance(r, accounts.Engineer)) == ["bad_totp"] * 2
