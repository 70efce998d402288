"""Operations endpoints: liveness, readiness, Prometheus metrics, and the OpenAPI docs (for engineers)."""

from __future__ import annotations

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
    """The database answers and its schema is current (readiness)."""
    services = get_services(request)
    try:
        async with services.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        current = await is_current(services.engine)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    if not current:
        return JSONResponse({"status": "unavailable", "reason": "schema not migrated"}, status_code=503)
    return JSONResponse({"status": "ready"})


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
