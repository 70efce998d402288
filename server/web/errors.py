"""Answers for malformed requests: always a 4xx, never the caller's input echoed back.

FastAPI's default 422 repeats each bad field's input, which (a) sends a login's password back in the
answer, and (b) fails to serialise `NaN` or `1e999999` (Python's JSON parser reads them as floats that
strict JSON cannot write), turning a hostile login body into a 500. This handler answers 422 with
where and what was wrong, and nothing the caller sent.

A value the database cannot take (PostgreSQL refuses NUL in text: a user name or path id with `%00`)
is the caller's fault too: SQLSTATE class 22, "data exception", is answered 400, not 500.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError


def _problems(exc: RequestValidationError) -> list[dict[str, object]]:
    problems: list[dict[str, object]] = []
    for error in exc.errors()[:20]:
        loc = [part if isinstance(part, int) else str(part)[:64] for part in error.get("loc", ())]
        problems.append(
            {"loc": loc, "type": str(error.get("type", ""))[:64], "msg": str(error.get("msg", ""))[:200]}
        )
    return problems


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _problems(exc)}, status_code=status.HTTP_422_UNPROCESSABLE_ENTITY)


def _sqlstate(exc: DBAPIError) -> str:
    # SQLAlchemy's asyncpg adapter carries the server's code as `sqlstate` (psycopg: `pgcode`).
    for name in ("sqlstate", "pgcode"):
        code = getattr(exc.orig, name, None)
        if isinstance(code, str):
            return code
    return ""


async def data_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if not _sqlstate(exc).startswith("22"):
        raise exc  # a real database failure stays a 500 (logged)
    return JSONResponse({"detail": "bad input"}, status_code=status.HTTP_400_BAD_REQUEST)


def unprocessable(loc: list[str], msg: str) -> HTTPException:
    """A 422 raised by a route's own checks, in the shape FastAPI's validation 422 is declared with in
    the OpenAPI document (`HTTPValidationError`: `detail` is a list of `{loc, msg, type}`), so clients
    and the schema agree whichever check refused the request."""
    problem = {"loc": loc, "msg": msg[:200], "type": "value_error"}
    return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, [problem])


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(DBAPIError, data_error)
