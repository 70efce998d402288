"""The admin's billing pages in the console: BSS integrations (list, create, rotate the secret,
disable) and the dead letters (inspect, replay). The same operations as `rme-server billing`, each
audited before it takes effect; a new secret is shown once, in the answer, and never again."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from server.accounts.engineers import Engineer
from server.audit import AuditWriteError, JsonValue
from server.billing.admin import AdminError, integration, list_endpoints, list_integrations
from server.billing.outbox import dead_letters, replay
from server.db.tables import billing_outbox
from server.relay.services import Services
from server.web.security import get_services, require_admin

router = APIRouter(prefix="/api/admin/billing", tags=["billing admin"])


class NewIntegration(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]


async def _audit(services: Services, admin: Engineer, kind: str, data: dict[str, JsonValue]) -> None:
    try:
        await services.record(kind, f"engineer:{admin.username}", None, data)
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded; not done") from None


@router.get("/integrations")
async def integrations(request: Request, _: Engineer = require_admin) -> dict[str, Any]:
    engine = get_services(request).engine
    return {"integrations": await list_integrations(engine), "endpoints": await list_endpoints(engine)}


async def _integration(request: Request, admin: Engineer, action: str, name: str) -> str | None:
    services = get_services(request)
    await _audit(services, admin, f"billing.integration_{action}", {"name": name})
    try:
        return await integration(services.engine, action, name)
    except AdminError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post("/integrations", status_code=status.HTTP_201_CREATED)
async def create(body: NewIntegration, request: Request, admin: Engineer = require_admin) -> dict[str, Any]:
    secret = await _integration(request, admin, "add", body.name)
    return {"name": body.name, "secret": secret}


@router.post("/integrations/{name}/rotate")
async def rotate(name: str, request: Request, admin: Engineer = require_admin) -> dict[str, Any]:
    secret = await _integration(request, admin, "rotate", name)
    return {"name": name, "secret": secret}


@router.post("/integrations/{name}/disable", status_code=status.HTTP_204_NO_CONTENT)
async def disable(name: str, request: Request, admin: Engineer = require_admin) -> None:
    await _integration(request, admin, "disable", name)


@router.get("/dead")
async def dead(request: Request, _: Engineer = require_admin) -> dict[str, Any]:
    return {"events": await dead_letters(get_services(request).engine)}


@router.get("/dead/{event_id}")
async def dead_event(event_id: str, request: Request, _: Engineer = require_admin) -> dict[str, Any]:
    """One dead event in full (its payload is billing data: customer, session, amounts)."""
    o = billing_outbox.c
    async with get_services(request).engine.connect() as conn:
        row = (
            await conn.execute(sa.select(billing_outbox).where(o.id == event_id, o.state == "dead"))
        ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no dead event with that id")
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
    return {
        "id": row.id, "event_type": row.event_type, "payload": row.payload, "attempts": row.attempts,
        "last_error": row.last_error, "endpoint_id": row.endpoint_id, "created_at": created.isoformat(),
    }  # fmt: skip


@router.post("/dead/{event_id}/replay", status_code=status.HTTP_202_ACCEPTED)
async def replay_dead(event_id: str, request: Request, admin: Engineer = require_admin) -> dict[str, Any]:
    services = get_services(request)
    await _audit(services, admin, "billing.dead_replay", {"event": event_id})
    if not await replay(services.engine, event_id, dt.datetime.now(dt.UTC)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no dead event with that id")
    return {"id": event_id, "state": "pending"}
