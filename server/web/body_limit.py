"""Request body limits, enforced before the body is read (a pure ASGI middleware).

FastAPI reads a JSON body whole *before* any dependency runs, so without this an anonymous client can
make the server buffer any amount (four 256 MiB POSTs took a node from 114 MiB to 3.4 GiB). Every
HTTP request gets the limit of its route: a declared `Content-Length` over it is answered 413 at once
and nothing is read; a body without one (chunked) is counted as the app reads it, and the read that
crosses the limit raises 413 instead of returning the data. uvicorn reads a request body only as the
app asks for it (flow control), so memory stays flat whatever the client sends; the rest of a refused
body is never read (the connection is closed after the answer).

Limits (`LIMITS`): the login form is a few hundred bytes (4 KiB); other JSON APIs 64 KiB; the one
upload, a session's audit export to check, 32 MiB (it needs a supervisor's login first, checked before
the handler reads). A new route that takes more adds a line to `LIMITS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB
DEFAULT_LIMIT = 64 * KIB
MAX_EXPORT_BYTES = 32 * MIB
# Exact paths with their own limit; every other HTTP request gets `DEFAULT_LIMIT`.
LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "/api/auth/login": 4 * KIB,
        "/api/console/audit/verify": MAX_EXPORT_BYTES,
    }
)
# Path prefixes with their own limit: the BSS API checks its own 64 KiB limit and answers in its own
# error format (`web/bss_routes.py`); this only stops what it would never read.
PREFIX_LIMITS: tuple[tuple[str, int], ...] = (("/api/bss/", 128 * KIB),)
TOO_LARGE = "request body too large"


def limit_for(path: str) -> int:
    if path in LIMITS:
        return LIMITS[path]
    for prefix, limit in PREFIX_LIMITS:
        if path.startswith(prefix):
            return limit
    return DEFAULT_LIMIT


class BodyLimitMiddleware:
    """Answer 413 to any HTTP request whose body exceeds its route's limit, without reading it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit() or len(declared) > 18:
                await _answer(scope, receive, send, 400, "bad Content-Length")
                return
            if int(declared) > limit:
                await _answer(scope, receive, send, 413, TOO_LARGE)
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes through FastAPI's body parsing as itself (any other
                    # error there becomes a 400), and the app's exception handler answers it.
                    raise HTTPException(413, TOO_LARGE)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except HTTPException as exc:  # raised outside the app's own handlers (e.g. a bare ASGI route)
            if started or exc.status_code != 413:
                raise
            await _answer(scope, receive, send, 413, TOO_LARGE)


async def _answer(scope: Scope, receive: Receive, send: Send, code: int, text: str) -> None:
    # `Connection: close`: the unread rest of the body must not be taken for the next request.
    response = JSONResponse({"detail": text}, status_code=code, headers={"Connection": "close"})
    await response(scope, receive, send)
