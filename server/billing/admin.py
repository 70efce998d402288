"""Admin operations on integrations and endpoints (the CLI and, later, the console call these)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.signatures import new_secret
from server.db.tables import billing_endpoints, bss_integrations, new_id

__all__ = ["AdminError", "add_endpoint", "integration", "list_endpoints", "list_integrations"]


class AdminError(Exception):
    """A clear refusal (unknown name, duplicate, bad URL)."""


async def integration(engine: AsyncEngine, action: str, name: str) -> str | None:
    """add → the new secret; rotate → the new secret (the old one stays valid once more); disable."""
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(bss_integrations).where(bss_integrations.c.name == name))).first()
        if action == "add":
            if row is not None:
                raise AdminError(f"an integration named {name!r} exists: rotate its secret instead")
            secret = new_secret()
            await conn.execute(
                sa.insert(bss_integrations).values(
                    id=new_id("bi"),
                    name=name,
                    secret=secret,
                    previous_secret=None,
                    enabled=True,
                    created_at=now,
                )
            )
            return secret
        if row is None:
            raise AdminError(f"no integration named {name!r}")
        if action == "rotate":
            secret = new_secret()
            await conn.execute(
                sa.update(bss_integrations)
                .where(bss_integrations.c.id == row.id)
                # A disabled integration's secret stays dead: it was disabled perhaps because it leaked.
                .values(secret=secret, previous_secret=row.secret if row.enabled else None, enabled=True)
            )
            return secret
        if action == "disable":
            await conn.execute(
                sa.update(bss_integrations).where(bss_integrations.c.id == row.id).values(enabled=False)
            )
            return None
    raise AdminError(f"unknown action {action!r}")


async def add_endpoint(engine: AsyncEngine, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AdminError("an endpoint is an http:// or https:// URL")
    secret = new_secret()
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(billing_endpoints).values(
                id=new_id("be"), url=url, secret=secret, enabled=True, created_at=dt.datetime.now(dt.UTC)
            )
        )
    return secret


async def list_endpoints(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(billing_endpoints.c.id, billing_endpoints.c.url, billing_endpoints.c.enabled)
            )
        ).all()
    return [{"id": r.id, "url": r.url, "enabled": r.enabled} for r in rows]


async def list_integrations(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every integration, without its secrets: name, enabled, when created, and whether a rotation is
    under way (the previous secret still accepted)."""
    i = bss_integrations.c
    rotating = i.previous_secret.is_not(None).label("rotating")
    async with engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(i.id, i.name, i.enabled, i.created_at, rotating).order_by(i.name))
        ).all()
    out = []
    for r in rows:
        created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=dt.UTC)
        out.append(
            {
                "id": r.id,
                "name": r.name,
                "enabled": r.enabled,
                "rotating": bool(r.rotating),
                "created_at": created.isoformat(),
            }
        )
    return out
