"""The BSS's API (`/api/bss/v1/…`): provisioning in, the customer's service record out.

No cookies and no console here: every request is signed with Standard Webhooks by one of the
operator's integrations (`server.billing.signatures`), and answered with JSON; an error is
`{"code": "…", "message": "…"}` with a 4xx status, and changes nothing.

POST /api/bss/v1/orders                           a new subscription (customer created if new)
POST /api/bss/v1/customers/{ref}/suspend|resume|cancel
POST /api/bss/v1/customers/{ref}/plan             change plan
POST /api/bss/v1/customers/{ref}                  customer update (name)
GET  /api/bss/v1/customers/{ref}/sessions         the customer's sessions, to settle a complaint
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from typing import Any, cast

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from server.audit import AuditWriteError, JsonValue
from server.billing import service_record
from server.billing.provisioning import (
    REF_PATTERN,
    Action,
    ChangePlan,
    CustomerUpdate,
    Order,
    StatusChange,
    apply_request,
)
from server.billing.signatures import SignatureError, verify
from server.db.tables import (
    bss_integrations,
    bss_requests,
    customers,
    engineers,
    iso,
    service_items,
    tickets,
)
from server.relay.limits import TokenBucket
from server.web.security import get_services

router = APIRouter(prefix="/api/bss/v1", tags=["bss"])

MAX_BODY = 64 * 1024
RECEIPTS_LIMIT = 50  # signed receipts in one answer (the newest finished sessions)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _authenticate(request: Request, body: bytes) -> tuple[str, str, str] | JSONResponse:
    """(integration id, its name, webhook-id), or the error answer."""
    services = get_services(request)
    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    bss_integrations.c.id, bss_integrations.c.name, bss_integrations.c.secret,
                    bss_integrations.c.previous_secret,
                ).where(bss_integrations.c.enabled)
            )
        ).all()  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    problem: SignatureError | None = None
    for row in rows:
        keys = [row.secret] + ([row.previous_secret] if row.previous_secret else [])
        try:
            webhook_id = verify(body, dict(request.headers), keys, now)
        except SignatureError as exc:
            problem = exc
            if exc.code != "signature.invalid":
                break  # missing headers or a stale time: no other integration changes that
            continue
        return row.id, row.name, webhook_id
    if problem is None:  # no integration: still say first what is missing or stale
        try:
            verify(body, dict(request.headers), [], now)
        except SignatureError as exc:
            problem = exc
        else:  # pragma: no cover (no key can verify)
            problem = SignatureError("signature.invalid", "no enabled integration")
    rejected = _rejections(request)
    if rejected.bucket.take():
        data: dict[str, JsonValue] = {
            "code": problem.code,
            "path": request.url.path[:200],
            "suppressed": rejected.suppressed,
        }
        rejected.suppressed = 0
        with contextlib.suppress(AuditWriteError):  # refused either way
            await services.record("bss.rejected", "system", None, data)
    else:
        rejected.suppressed += 1
    return _error(401, problem.code, str(problem))


class _Rejections:
    """Refused signatures are audited at most `REJECTIONS_PER_MINUTE` a minute per server process (a
    burst of 10), each saying how many were refused unrecorded since the one before: anyone can send an
    unsigned request, and one audit event each would let anyone grow the append-only log at will."""

    def __init__(self) -> None:
        self.bucket = TokenBucket(REJECTIONS_PER_MINUTE / 60, burst=10)
        self.suppressed = 0


REJECTIONS_PER_MINUTE = 10


def _rejections(request: Request) -> _Rejections:
    state = request.app.state
    if not hasattr(state, "bss_rejections"):
        state.bss_rejections = _Rejections()
    found: _Rejections = state.bss_rejections
    return found


async def _read(request: Request) -> bytes | JSONResponse:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return _error(413, "body.too_large", f"a BSS request body is at most {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, "body.too_large", f"a BSS request body is at most {MAX_BODY} bytes")
    return bytes(body)


async def _handle(request: Request, action: Action, ref: str | None, model: type[BaseModel]) -> JSONResponse:
    body = await _read(request)
    if isinstance(body, JSONResponse):
        return body
    who = await _authenticate(request, body)
    if isinstance(who, JSONResponse):
        return who
    integration_id, integration_name, webhook_id = who
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()[:5]
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)
        return _error(422, "body.invalid", problems[:1000])
    services = get_services(request)
    try:
        await services.record(
            f"bss.{action}", f"bss:{integration_name}", None,
            {"webhook_id": webhook_id, "customer_ref": ref or getattr(parsed, "customer_ref", None)},
        )  # fmt: skip
    except AuditWriteError:
        return _error(503, "audit.unavailable", "the audit log could not record this; nothing changed")
    answer = await apply_request(
        services.engine, webhook_id=webhook_id, integration_id=integration_id, action=action, ref=ref,
        body=parsed, now=dt.datetime.now(dt.UTC),  # type: ignore[arg-type]
    )  # fmt: skip
    deliverer = getattr(request.app.state, "billing", None)
    if deliverer is not None and answer.status_code < 300:
        deliverer.wake()
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.post("/orders")
async def order(request: Request) -> JSONResponse:
    return await _handle(request, "order", None, Order)


@router.post("/customers/{ref}/suspend")
async def suspend(ref: str, request: Request) -> JSONResponse:
    return await _handle(request, "suspend", ref, StatusChange)


@router.post("/customers/{ref}/resume")
async def resume(ref: str, request: Request) -> JSONResponse:
    return await _handle(request, "resume", ref, StatusChange)


@router.post("/customers/{ref}/cancel")
async def cancel(ref: str, request: Request) -> JSONResponse:
    return await _handle(request, "cancel", ref, StatusChange)


@router.post("/customers/{ref}/plan")
async def change_plan(ref: str, request: Request) -> JSONResponse:
    return await _handle(request, "change_plan", ref, ChangePlan)


@router.post("/customers/{ref}")
async def update_customer(ref: str, request: Request) -> JSONResponse:
    return await _handle(request, "update", ref, CustomerUpdate)


@router.get("/customers/{ref}/sessions")
async def customer_sessions(ref: str, request: Request) -> JSONResponse:
    """The customer's sessions, newest first: what the operator's CRM needs to settle a complaint."""
    who = await _authenticate(request, b"")
    if isinstance(who, JSONResponse):
        return who
    engine = get_services(request).engine
    if not re.fullmatch(REF_PATTERN, ref):  # a reference that cannot exist (a NUL made PostgreSQL fail)
        return _error(404, "customer.unknown", f"no customer with reference {ref[:128]!r}")
    try:
        # A signed read is good once: its signature covers an empty body, not the path, so headers seen
        # once (a proxy's log) would otherwise read any customer's records until the timestamp is stale.
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(bss_requests).values(
                    webhook_id=who[2], integration_id=who[0], received_at=dt.datetime.now(dt.UTC),
                    status_code=200, answer={"read": request.url.path[:200]},
                )
            )  # fmt: skip
    except IntegrityError:
        return _error(
            409, "webhook_id.reused", "this webhook-id was used before; sign each read with a new one"
        )
    async with engine.connect() as conn:
        customer_id = await conn.scalar(sa.select(customers.c.id).where(customers.c.external_ref == ref))
        if customer_id is None:
            return _error(404, "customer.unknown", f"no customer with reference {ref!r}")
        rows = (
            await conn.execute(
                sa.select(
                    tickets.c.id, tickets.c.session_id, tickets.c.device_id, tickets.c.created_at,
                    tickets.c.started_at, tickets.c.ended_at, tickets.c.outcome, tickets.c.resolution,
                    tickets.c.service_item, tickets.c.satisfaction,
                    engineers.c.display_name.label("engineer"),
                    service_items.c.price_cents, service_items.c.currency,
                )
                .outerjoin(engineers, engineers.c.id == tickets.c.engineer_id)
                .outerjoin(service_items, service_items.c.code == tickets.c.service_item)
                .where(tickets.c.customer_id == customer_id)
                .order_by(tickets.c.created_at.desc())
                .limit(500)
            )
        ).all()  # fmt: skip
    sessions: list[dict[str, Any]] = [
        {
            "ticket_id": r.id, "session_id": r.session_id, "device_id": r.device_id,
            "requested_at": iso(r.created_at), "started_at": iso(r.started_at),
            "ended_at": iso(r.ended_at),
            "outcome": r.outcome, "resolution": r.resolution, "service_item": r.service_item,
            "engineer": r.engineer, "satisfaction": r.satisfaction,
        }
        for r in rows
    ]  # fmt: skip
    # The same signed record the user reads in the panel (事后可查), for the newest finished sessions.
    services = get_services(request)
    for session in sessions[:RECEIPTS_LIMIT]:
        if session["started_at"] and session["ended_at"]:
            session["receipt"] = await service_record.make_receipt(
                engine, cast("service_record.ReceiptSigner", services.audit), session["session_id"]
            )
    return JSONResponse(json.loads(json.dumps({"customer_id": customer_id, "sessions": sessions})))
