"""Server-side login sessions: a random cookie value, stored only as its SHA-256, with an expiry."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts.engineers import Engineer, _engineer
from server.db.tables import engineers, utcnow, web_sessions

COOKIE_NAME = "rme_session"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(engine: AsyncEngine, engineer_id: str, ttl: int) -> str:
    """Create a login session; returns the cookie value (never stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            web_sessions.insert().values(
                token_hash=_hash(token),
                engineer_id=engineer_id,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=ttl),
            )
        )
    return token


async def session_engineer(engine: AsyncEngine, token: str) -> Engineer | None:
    """The engineer a cookie value belongs to, if the session exists, has not expired and is enabled."""
    if not token or len(token) > 128:
        return None
    query = (
        sa.select(engineers, web_sessions.c.expires_at)
        .join(web_sessions, web_sessions.c.engineer_id == engineers.c.id)
        .where(web_sessions.c.token_hash == _hash(token))
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None or row.disabled:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    if expires <= utcnow():
        return None
    return _engineer(row)


async def close_session(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == _hash(token)))
