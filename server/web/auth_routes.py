"""`/api/auth/*`: log in (password + optional TOTP), log out, who am I, change password, set up TOTP."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from server.accounts import engineers as accounts
from server.accounts.engineers import Engineer, LoginFailure
from server.accounts.sessions import COOKIE_NAME, close_session, open_session, session_engineer
from server.audit import AuditWriteError
from server.web.security import (
    check_origin,
    clear_session_cookie,
    get_services,
    require_engineer,
    set_session_cookie,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginForm(BaseModel):
    username: Annotated[str, Field(max_length=64)]
    password: Annotated[str, Field(max_length=1024)]
    totp: Annotated[str, Field(max_length=10)] | None = None


class Me(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    totp_enabled: bool


class PasswordChange(BaseModel):
    old_password: Annotated[str, Field(max_length=1024)]
    new_password: Annotated[str, Field(min_length=accounts.MIN_PASSWORD, max_length=1024)]


class TotpSetup(BaseModel):
    otpauth_uri: str


class TotpCode(BaseModel):
    code: Annotated[str, Field(min_length=6, max_length=10)]


def _me(engineer: Engineer) -> Me:
    return Me(
        id=engineer.id,
        username=engineer.username,
        display_name=engineer.display_name,
        role=engineer.role.label,
        totp_enabled=engineer.totp_enabled,
    )


_FAILURE_STATUS = {
    LoginFailure.BAD_CREDENTIALS: status.HTTP_401_UNAUTHORIZED,
    LoginFailure.BAD_TOTP: status.HTTP_401_UNAUTHORIZED,
    LoginFailure.TOTP_REQUIRED: status.HTTP_401_UNAUTHORIZED,
    LoginFailure.DISABLED: status.HTTP_403_FORBIDDEN,
    LoginFailure.LOCKED: status.HTTP_429_TOO_MANY_REQUESTS,
}


@router.post("/login")
async def login(form: LoginForm, request: Request, response: Response) -> Me:
    services = get_services(request)
    check_origin(request, services)
    cfg = services.config
    result = await accounts.authenticate(
        services.engine,
        form.username,
        form.password,
        form.totp,
        max_failures=cfg.login_max_failures,
        lockout=cfg.login_lockout,
    )
    client = request.client.host if request.client else None
    if isinstance(result, LoginFailure):
        services.metrics.logins.labels(result.value).inc()
        with contextlib.suppress(AuditWriteError):  # the refusal stands either way
            await services.record(
                "auth.login_failed",
                f"engineer:{form.username[:64]}",
                None,
                {"reason": result.value, "ip": client},
            )
        raise HTTPException(_FAILURE_STATUS[result], result.value)
    try:
        await services.record("auth.login", f"engineer:{result.username}", None, {"ip": client})
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "login could not be recorded") from None
    services.metrics.logins.labels("ok").inc()
    token = await open_session(services.engine, result.id, cfg.session_ttl)
    set_session_cookie(response, token, cfg.session_ttl)
    return _me(result)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, response: Response, engineer: Engineer = require_engineer) -> None:
    services = get_services(request)
    await close_session(services.engine, request.cookies.get(COOKIE_NAME, ""))
    clear_session_cookie(response)
    with contextlib.suppress(AuditWriteError):  # logging out is never refused
        await services.record("auth.logout", f"engineer:{engineer.username}", None, {})


@router.get("/me")
async def me(engineer: Engineer = require_engineer) -> Me:
    return _me(engineer)


class SessionState(BaseModel):
    engineer: Me | None


@router.get("/session")
async def session_state(request: Request) -> SessionState:
    """Who is logged in, or nobody — always 200, so the console's first look at a login page does
    not put a failed request in the browser's console (`/me` answers 401 for nobody)."""
    token = request.cookies.get(COOKIE_NAME)
    engineer = await session_engineer(get_services(request).engine, token) if token else None
    return SessionState(engineer=_me(engineer) if engineer else None)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    form: PasswordChange, request: Request, engineer: Engineer = require_engineer
) -> None:
    services = get_services(request)
    cfg = services.config
    check = await accounts.authenticate(
        services.engine, engineer.username, form.old_password, None,
        max_failures=cfg.login_max_failures, lockout=cfg.login_lockout,
    )  # fmt: skip
    if isinstance(check, LoginFailure) and check is not LoginFailure.TOTP_REQUIRED:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "old password is wrong")
    try:
        await services.record("account.password_changed", f"engineer:{engineer.username}", None, {})
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded") from None
    await accounts.set_password(services.engine, engineer.username, form.new_password)


@router.post("/totp/setup")
async def totp_setup(request: Request, engineer: Engineer = require_engineer) -> TotpSetup:
    services = get_services(request)
    return TotpSetup(otpauth_uri=await accounts.start_totp_setup(services.engine, engineer.id))


@router.post("/totp/enable", status_code=status.HTTP_204_NO_CONTENT)
async def totp_enable(form: TotpCode, request: Request, engineer: Engineer = require_engineer) -> None:
    services = get_services(request)
    try:
        await services.record("account.totp_enabled", f"engineer:{engineer.username}", None, {})
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded") from None
    if not await accounts.enable_totp(services.engine, engineer.id, form.code):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "code does not match")
