"""The user panel: a local web page on 127.0.0.1 only, for the user and nobody else.

Threats, and the wall against each:
* other hosts — the socket is bound to 127.0.0.1, nothing else;
* other local web pages (a site open in the same browser) —
  - DNS rebinding: a page at evil.example re-pointed to 127.0.0.1 sends `Host: evil.example`; every request
    whose Host is not exactly `127.0.0.1:PORT` or `localhost:PORT` is refused;
  - CSRF: a state change needs the session cookie (HttpOnly, SameSite=Strict: never sent by another
    site's page), a matching `X-RME-CSRF` header (a cross-origin page cannot set it without a CORS
    preflight, which we never grant) and, when the browser sends one, an `Origin` equal to ours;
  - reading: no CORS headers at all, so another origin can never read a response; framing is forbidden;
* other local programs guessing — the per-launch secret is 256 random bits, kept in `panel.json` in the
  agent's data directory (mode 0600), never in a URL the browser keeps: `rme-agent panel` trades it for
  a one-time login token that expires in 60 s and is burnt on first use.

The CLI (`rme-agent end`, `rme-agent help` beside a running agent) talks to the same endpoints with
`Authorization: Bearer <secret>`: the panel doubles as the agent's local control channel.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

COOKIE = "rme_panel"
ITEM_CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")  # a service item's code (protocol.report.Code)
LOGIN_TOKEN_TTL_S = 60.0
LONG_POLL_S = 15.0
MAX_BODY = 16 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Why a rating was not sent → the HTTP status the panel answers with.
FEEDBACK_STATUS = {
    "bad_rating": 400,
    "comment_too_long": 400,
    "no_session": 409,
    "already_rated": 409,
    "offline": 503,
}
# Why a vault button did nothing (agent/session/vault_panel.py) → the HTTP status.
VAULT_STATUS = {
    "bad_request": 400,
    "unknown_folder": 404,
    "busy": 409,
    "not_initialized": 409,
    "wrong_passphrase": 422,
    "refused": 422,
    "session_active": 423,
    "damaged": 500,
    "failed": 500,
}

# Why the USB writer did not start (agent/panel/usb.py) → the HTTP status.
USB_STATUS = {"bad_request": 400, "no_image": 404, "refused": 422, "changed": 409, "busy": 409, "failed": 500}


class PanelBackend(Protocol):
    """What the panel shows and the buttons it has; the agent runtime implements it."""

    def state_json(self) -> dict[str, Any]: ...

    async def changed(self, since: int, wait_s: float) -> int: ...

    def answer(self, prompt_id: str, allow: bool, send_output: bool = False) -> bool: ...

    def release(self, action_id: str, send: bool) -> bool: ...

    async def end_session(self) -> dict[str, Any]: ...

    def stop_screen(self, action_id: str) -> bool: ...

    async def ask_for_help(self, words: str, item: str | None = None) -> dict[str, Any]: ...

    async def catalogue(self) -> dict[str, Any]: ...

    async def records(self) -> dict[str, Any]: ...

    async def send_feedback(self, rating: object, comment: object) -> dict[str, Any]: ...

    def dismiss_feedback(self) -> bool: ...

    def set_lang(self, lang: str) -> None: ...

    # The privacy vault: each returns {"ok": …} or {"ok": false, "error": kind, "message": {zh-CN, en}}.
    async def vault_status(self) -> dict[str, Any]: ...

    async def vault_open(self, passphrase: object, name: object) -> dict[str, Any]: ...

    async def vault_close(self, name: object) -> dict[str, Any]: ...

    async def vault_add(self, path: object, name: object) -> dict[str, Any]: ...

    async def vault_remove(self, passphrase: object, name: object) -> dict[str, Any]: ...

    # The rescue USB writer (agent/panel/usb.py): images, removable disks, the running write.
    async def usb_status(self) -> dict[str, Any]: ...

    async def usb_write(self, image: object, device: object, size: object) -> dict[str, Any]: ...

    def usb_cancel(self) -> bool: ...


def _static(name: str) -> bytes:
    return resources.files("agent.panel").joinpath("static", name).read_bytes()


class PanelAuth:
    """The per-launch secret, one-time login tokens and the browser sessions made from them."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret or secrets.token_urlsafe(32)
        self._login_tokens: dict[str, float] = {}
        self._sessions: dict[str, str] = {}  # cookie → CSRF token

    def login_token(self) -> str:
        now = time.monotonic()
        self._login_tokens = {t: exp for t, exp in self._login_tokens.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._login_tokens[token] = now + LOGIN_TOKEN_TTL_S
        return token

    def redeem(self, token: str) -> tuple[str, str] | None:
        """Burn a login token; returns (cookie, csrf) for a fresh browser session."""
        expires = self._login_tokens.pop(token, None)
        if expires is None or expires < time.monotonic():
            return None
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._sessions[cookie] = csrf
        return cookie, csrf

    def csrf_for(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        for known, csrf in self._sessions.items():
            if hmac.compare_digest(known, cookie):
                return csrf
        return None

    def bearer_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].encode(), self.secret.encode())


def build_app(backend: PanelBackend, auth: PanelAuth, port_ref: Callable[[], int]) -> Starlette:
    def allowed_hosts() -> set[str]:
        port = port_ref()
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def origin_ok(request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or origin in {f"http://{h}" for h in allowed_hosts()}

    def caller(request: Request, state_changing: bool) -> str | None:
        """'cli' or 'browser' if the request is ours, else None."""
        if auth.bearer_ok(request.headers.get("authorization")):
            return "cli"
        csrf = auth.csrf_for(request.cookies.get(COOKIE))
        if csrf is None:
            return None
        if state_changing:
            sent = request.headers.get("x-rme-csrf", "")
            if not hmac.compare_digest(sent.encode(), csrf.encode()) or not origin_ok(request):
                return None
        return "browser"

    def guarded(
        handler: Callable[[Request], Awaitable[Response]], state_changing: bool, public: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if request.headers.get("host") not in allowed_hosts():
                return _secure(PlainTextResponse("wrong host", status_code=421))
            if not public and caller(request, state_changing) is None:
                return _secure(PlainTextResponse("forbidden", status_code=403))
            return _secure(await handler(request))

        return endpoint

    async def body_json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ValueError("body too large")
        doc = json.loads(raw or b"{}")
        if not isinstance(doc, dict):
            raise ValueError("expected an object")
        return doc

    async def login(request: Request) -> Response:
        pair = auth.redeem(request.query_params.get("t", ""))
        if pair is None:
            return PlainTextResponse(
                "This link has expired. Run `rme-agent panel` again.\n"
                "链接已失效，请重新运行 rme-agent panel。",
                status_code=403,
            )
        cookie, _csrf = pair
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/")
        return response

    async def index(request: Request) -> Response:
        csrf = auth.csrf_for(request.cookies.get(COOKIE)) or ""
        html = _static("panel.html").decode("utf-8").replace("{{CSRF}}", csrf)
        return Response(html, media_type="text/html; charset=utf-8")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        types = {"panel.js": "text/javascript; charset=utf-8", "panel.css": "text/css; charset=utf-8"}
        if name not in types:
            return PlainTextResponse("not found", status_code=404)
        return Response(_static(name), media_type=types[name])

    async def state(request: Request) -> Response:
        try:
            since = int(request.query_params.get("since", "-1"))
        except ValueError:
            since = -1
        wait = LONG_POLL_S if since >= 0 else 0.0
        version = await backend.changed(since, wait)
        return JSONResponse({"version": version, **backend.state_json()})

    async def answer(request: Request) -> Response:
        doc = await body_json(request)
        send_output = doc.get("send_output") is True  # "send the output without asking me": off unless ticked
        ok = backend.answer(str(doc.get("prompt_id", "")), doc.get("allow") is True, send_output)
        return JSONResponse({"ok": ok}, status_code=200 if ok else 409)

    async def release(request: Request) -> Response:
        """The user's decision on a command's output: `send` true sends it, anything else keeps it."""
        doc = await body_json(request)
        ok = backend.release(str(doc.get("action_id", "")), doc.get("send") is True)
        return JSONResponse({"ok": ok}, status_code=200 if ok else 409)

    async def end(request: Request) -> Response:
        return JSONResponse(await backend.end_session())

    async def stop_screen(request: Request) -> Response:
        """The user's Stop on a screen view or control (the on-screen indicator has its own button)."""
        doc = await body_json(request)
        ok = backend.stop_screen(str(doc.get("action_id", "")))
        return JSONResponse({"ok": ok}, status_code=200 if ok else 409)

    async def help_(request: Request) -> Response:
        doc = await body_json(request)
        words = str(doc.get("words", ""))[:2000]
        item = doc.get("item")
        if item is not None and (not isinstance(item, str) or not ITEM_CODE.fullmatch(item)):
            return JSONResponse({"error": "item.invalid"}, status_code=400)
        return JSONResponse(await backend.ask_for_help(words, item or None))

    async def catalogue(request: Request) -> Response:
        return JSONResponse(await backend.catalogue())

    async def records(request: Request) -> Response:
        return JSONResponse(await backend.records())

    async def feedback(request: Request) -> Response:
        doc = await body_json(request)
        result = await backend.send_feedback(doc.get("rating"), doc.get("comment", ""))
        status = 200 if result.get("sent") else FEEDBACK_STATUS.get(str(result.get("error")), 400)
        return JSONResponse(result, status_code=status)

    async def feedback_dismiss(request: Request) -> Response:
        ok = backend.dismiss_feedback()
        return JSONResponse({"ok": ok}, status_code=200 if ok else 409)

    async def lang(request: Request) -> Response:
        doc = await body_json(request)
        if doc.get("lang") not in ("zh-CN", "en"):
            return JSONResponse({"ok": False}, status_code=400)
        backend.set_lang(str(doc["lang"]))
        return JSONResponse({"ok": True})

    def vault_reply(result: dict[str, Any]) -> Response:
        status = 200 if result.get("ok") else VAULT_STATUS.get(str(result.get("error")), 400)
        return JSONResponse(result, status_code=status)

    async def vault_status(request: Request) -> Response:
        return JSONResponse(await backend.vault_status())

    # The passphrase is read from the body, handed to the backend and dropped; never logged or echoed.
    async def vault_open(request: Request) -> Response:
        doc = await body_json(request)
        return vault_reply(await backend.vault_open(doc.get("passphrase"), doc.get("name")))

    async def vault_close(request: Request) -> Response:
        doc = await body_json(request)
        return vault_reply(await backend.vault_close(doc.get("name")))

    async def vault_add(request: Request) -> Response:
        doc = await body_json(request)
        return vault_reply(await backend.vault_add(doc.get("path"), doc.get("name")))

    async def vault_remove(request: Request) -> Response:
        doc = await body_json(request)
        return vault_reply(await backend.vault_remove(doc.get("passphrase"), doc.get("name")))

    async def usb_status(request: Request) -> Response:
        return JSONResponse(await backend.usb_status())

    async def usb_write(request: Request) -> Response:
        """Write a rescue image to a removable disk; `size` is the one the user's confirmation named."""
        doc = await body_json(request)
        result = await backend.usb_write(doc.get("image"), doc.get("device"), doc.get("size"))
        status = 200 if result.get("ok") else USB_STATUS.get(str(result.get("error")), 400)
        return JSONResponse(result, status_code=status)

    async def usb_cancel(request: Request) -> Response:
        ok = backend.usb_cancel()
        return JSONResponse({"ok": ok}, status_code=200 if ok else 409)

    async def launch(request: Request) -> Response:
        if not auth.bearer_ok(request.headers.get("authorization")):  # the CLI only, never a browser
            return PlainTextResponse("forbidden", status_code=403)
        return JSONResponse({"url": f"http://127.0.0.1:{port_ref()}/login?t={auth.login_token()}"})

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _secure(JSONResponse({"error": "bad request"}, status_code=400))

    routes = [
        Route("/login", guarded(login, False, public=True)),
        Route("/", guarded(index, False)),
        Route("/static/{name}", guarded(asset, False, public=True)),
        Route("/api/state", guarded(state, False)),
        Route("/api/answer", guarded(answer, True), methods=["POST"]),
        Route("/api/release", guarded(release, True), methods=["POST"]),
        Route("/api/end", guarded(end, True), methods=["POST"]),
        Route("/api/screen/stop", guarded(stop_screen, True), methods=["POST"]),
        Route("/api/help", guarded(help_, True), methods=["POST"]),
        Route("/api/catalogue", guarded(catalogue, False)),
        Route("/api/records", guarded(records, False)),
        Route("/api/feedback", guarded(feedback, True), methods=["POST"]),
        Route("/api/feedback/dismiss", guarded(feedback_dismiss, True), methods=["POST"]),
        Route("/api/lang", guarded(lang, True), methods=["POST"]),
        Route("/api/launch", guarded(launch, True), methods=["POST"]),
        Route("/api/vault", guarded(vault_status, False)),
        Route("/api/vault/open", guarded(vault_open, True), methods=["POST"]),
        Route("/api/vault/close", guarded(vault_close, True), methods=["POST"]),
        Route("/api/vault/add", guarded(vault_add, True), methods=["POST"]),
        Route("/api/vault/remove", guarded(vault_remove, True), methods=["POST"]),
        Route("/api/usb", guarded(usb_status, False)),
        Route("/api/usb/write", guarded(usb_write, True), methods=["POST"]),
        Route("/api/usb/cancel", guarded(usb_cancel, True), methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={ValueError: bad_request})


def _secure(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers[key] = value
    return response
