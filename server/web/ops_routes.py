"""Operations endpoints: liveness, readiness, Prometheus metrics, and the OpenAPI docs (for engineers)."""

from __future__ import annotations

import asyncio
import hmac

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from server.accounts.engineers import Engineer
from server.accounts.roles import Role
from server.accounts.sessions import COOKIE_NAME, session_engineer
from server.db.migrate import is_current
from server.metrics import CONTENT_TYPE
from server.web.security import get_services, require_engineer

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers with its schema current, and the bus (Redis, with several nodes)
    answers. 503 with what is down while anything is: `{"status": "unavailable", "database": "…",
    "bus": "…"}`. Connected agents stay connected meanwhile; a load balancer should test `/health`
    (is the node alive) and leave `/ready` to monitoring, or one shared outage would cut every node."""
    services = get_services(request)
    database = "ok"
    try:
        async with asyncio.timeout(2.0):
            async with services.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            if not await is_current(services.engine):
                database = "schema not migrated"
    except Exception as exc:
        database = f"unreachable: {type(exc).__name__}"
    bus = await services.bus.ready() or "ok"
    body = {"status": "ready", "database": database, "bus": bus, "agents": len(services.agents)}
    if database != "ok" or bus != "ok":
        body["status"] = "unavailable"
        body["reason"] = database if database != "ok" else bus
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format. Needs `Authorization: Bearer <metrics_token>` or an admin session."""
    services = get_services(request)
    token = services.config.metrics_token
    header = request.headers.get("authorization", "")
    allowed = bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    if not allowed:
        cookie = request.cookies.get(COOKIE_NAME)
        engineer = await session_engineer(services.engine, cookie) if cookie else None
        if engineer is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login or metrics token required")
        if engineer.role < Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "needs the admin role")
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, _: Engineer = require_engineer) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", include_in_schema=False)
async def docs(_: Engineer = require_engineer) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="RME server API")
