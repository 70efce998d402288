"""Who is calling and may they: session-cookie authentication, role checks, Origin checks.

Every route depends on one of `require_engineer`, `require_supervisor`, `require_admin` (or is listed
in `PUBLIC_ROUTES`); `tests/server/web/test_routes.py` walks the app's routes and proves each refuses
anonymous and under-privileged callers. State-changing requests must come from an allowed Origin
(falling back to Referer), so a cookie alone cannot be ridden by another site (CSRF), on top of
SameSite=Strict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response, status
from starlette.requests import HTTPConnection

from server.accounts.engineers import Engineer
from server.accounts.roles import Role
from server.accounts.sessions import COOKIE_NAME, session_engineer
from server.relay.services import Services

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes anyone may call: health probes for load balancers, and the login form itself.
PUBLIC_ROUTES = frozenset({("GET", "/health"), ("GET", "/ready"), ("POST", "/api/auth/login")})


def get_services(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services


def request_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.rstrip("/")
    referer = request.headers.get("referer")
    if referer:
        try:
            parts = urlsplit(referer)
        except ValueError:  # e.g. "http://[": not an origin we allow, and not a 500
            return None
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def check_origin(request: Request, services: Services) -> None:
    """403 unless a state-changing request comes from one of the configured origins."""
    if request.method in SAFE_METHODS:
        return
    origin = request_origin(request)
    if origin is None or origin not in services.config.origins:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "request origin not allowed")


async def _engineer(request: Request) -> Engineer:
    services = get_services(request)
    token = request.cookies.get(COOKIE_NAME)
    engineer = await session_engineer(services.engine, token) if token else None
    if engineer is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login required")
    check_origin(request, services)
    return engineer


def _require(role: Role) -> Callable[[Request], Awaitable[Engineer]]:
    async def dependency(request: Request) -> Engineer:
        engineer = await _engineer(request)
        if engineer.role < role:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role.label} role")
        return engineer

    dependency.__name__ = f"require_{role.label}"
    return dependency


require_engineer = Depends(_require(Role.ENGINEER))
require_supervisor = Depends(_require(Role.SUPERVISOR))
require_admin = Depends(_require(Role.ADMIN))


def set_session_cookie(response: Response, token: str, ttl: int) -> None:
    response.set_cookie(
        COOKIE_NAME, token, max_age=ttl, httponly=True, secure=True, samesite="strict", path="/"
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, httponly=True, secure=True, samesite="strict", path="/")
