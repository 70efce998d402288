"""Every route of the app refuses the anonymous and the under-privileged (walked from the app itself, so
a new route without an entry here fails the test), and state-changing requests need our Origin."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.app import create_app
from server.config import ServerConfig
from server.tls import ensure_local_tls
from tests.server.helpers import ADMIN, ENGINEER, METRICS_TOKEN, SUPERVISOR, RunningServer

RANK = {"public": 0, "engineer": 1, "supervisor": 2, "admin": 3}
CREDENTIALS = {"engineer": ENGINEER, "supervisor": SUPERVISOR, "admin": ADMIN}

# (method, path) → the least role that may call it.
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/health"): "public",
    ("GET", "/ready"): "public",
    ("POST", "/api/auth/login"): "public",
    ("GET", "/metrics"): "admin",
    ("GET", "/openapi.json"): "engineer",
    ("GET", "/docs"): "engineer",
    ("POST", "/api/auth/logout"): "engineer",
    ("GET", "/api/auth/me"): "engineer",
    ("POST", "/api/auth/password"): "engineer",
    ("POST", "/api/auth/totp/setup"): "engineer",
    ("POST", "/api/auth/totp/enable"): "engineer",
    ("GET", "/api/engineers"): "admin",
    ("POST", "/api/engineers"): "admin",
    ("POST", "/api/engineers/{username}/password"): "admin",
    ("POST", "/api/engineers/{username}/disable"): "admin",
    ("POST", "/api/engineers/{username}/enable"): "admin",
    ("GET", "/api/customers"): "supervisor",
    ("POST", "/api/customers"): "admin",
    ("GET", "/api/customers/{customer_id}"): "supervisor",
    ("PUT", "/api/customers/{customer_id}/subscription"): "admin",
    ("POST", "/api/customers/{customer_id}/enrollment-codes"): "admin",
    ("GET", "/api/customers/{customer_id}/devices"): "supervisor",
    ("POST", "/api/devices/{device_id}/revoke"): "admin",
    ("GET", "/api/queue"): "engineer",
    ("GET", "/api/tickets/{ticket_id}"): "engineer",
    ("GET", "/api/presence"): "supervisor",
    ("POST", "/api/sessions/{session_id}/end"): "supervisor",
    ("GET", "/api/sessions/{session_id}/audit"): "supervisor",
    # The engineer console (server/web/console_routes.py): static files are public (the login page
    # and its scripts hold no data); its data endpoints need a login like the rest.
    ("GET", "/"): "public",
    ("GET", "/console"): "public",
    ("GET", "/console/{name:path}"): "public",
    ("GET", "/api/console/tickets/{ticket_id}"): "engineer",
    ("GET", "/api/console/repairs"): "engineer",
    ("GET", "/api/console/overview"): "supervisor",
    ("GET", "/api/console/kpis"): "supervisor",
    ("POST", "/api/console/audit/verify"): "supervisor",
    ("GET", "/api/auth/session"): "public",  # who is logged in, or nobody
    ("GET", "/favicon.ico"): "public",
    # The supervisor's weekly report and alerts (server/web/report_routes.py).
    ("GET", "/api/console/report/week"): "supervisor",
    ("GET", "/api/console/alerts"): "supervisor",
    ("PUT", "/api/console/alerts/{kind}"): "supervisor",
    # A day's work (server/web/desk_routes.py).
    ("GET", "/api/console/canned"): "engineer",
    ("POST", "/api/console/canned"): "supervisor",
    ("PUT", "/api/console/canned/{reply_id}"): "supervisor",
    ("DELETE", "/api/console/canned/{reply_id}"): "supervisor",
    ("GET", "/api/console/search"): "engineer",
    ("GET", "/api/console/kpis/{figure}/tickets"): "supervisor",
    # The operator's BSS (server/web/bss_routes.py): no login; each request signed (Standard Webhooks).
    ("POST", "/api/bss/v1/orders"): "signed",
    ("POST", "/api/bss/v1/customers/{ref}/suspend"): "signed",
    ("POST", "/api/bss/v1/customers/{ref}/resume"): "signed",
    ("POST", "/api/bss/v1/customers/{ref}/cancel"): "signed",
    ("POST", "/api/bss/v1/customers/{ref}/plan"): "signed",
    ("POST", "/api/bss/v1/customers/{ref}"): "signed",
    ("GET", "/api/bss/v1/customers/{ref}/sessions"): "signed",
    # The engineer's own SSH keys and prompt language (server/web/ssh_routes.py, the account page).
    # "Send a rescue image to this customer" (server/web/rescue_routes.py): any engineer, audited.
    ("GET", "/api/console/rescue-image"): "engineer",
    ("POST", "/api/console/customers/{customer_id}/rescue-image"): "engineer",
    ("GET", "/api/account/ssh-keys"): "engineer",
    ("POST", "/api/account/ssh-keys"): "engineer",
    ("DELETE", "/api/account/ssh-keys/{key_id}"): "engineer",
    ("PUT", "/api/account/lang"): "engineer",
    # Billing: the catalogue for an engineer's "change the service item"; the admin's billing page.
    ("GET", "/api/console/catalogue"): "engineer",
    ("GET", "/api/admin/billing/integrations"): "admin",
    ("POST", "/api/admin/billing/integrations"): "admin",
    ("POST", "/api/admin/billing/integrations/{name}/rotate"): "admin",
    ("POST", "/api/admin/billing/integrations/{name}/disable"): "admin",
    ("GET", "/api/admin/billing/dead"): "admin",
    ("GET", "/api/admin/billing/dead/{event_id}"): "admin",
    ("POST", "/api/admin/billing/dead/{event_id}/replay"): "admin",
}
# WebSockets: the engineer's needs a login (tested below); the agent's authenticates devices in-band.
EXPECTED_SOCKETS = {"/ws/engineer", "/ws/agent"}


def app_routes(tmp_path: Path) -> tuple[set[tuple[str, str]], set[str]]:
    tls = ensure_local_tls(tmp_path, [])
    app = create_app(ServerConfig(data_dir=tmp_path), tls.cert)
    http: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)  # FastAPI wraps each included router
        if included is not None:
            pending.extend(included.routes)  # (included without a prefix: their paths are complete)
        elif isinstance(route, APIRoute):
            http |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, WebSocketRoute):
            sockets.add(route.path)
        else:
            raise AssertionError(f"unexpected route type {route!r}")
    return http, sockets


def test_every_route_has_an_expected_role(tmp_path: Path) -> None:
    http, sockets = app_routes(tmp_path)
    assert http == set(EXPECTED), "a route was added or removed: say who may call it in EXPECTED"
    assert sockets == EXPECTED_SOCKETS


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_nonexistent", path)


async def call(client: httpx.AsyncClient, method: str, path: str, **kwargs: object) -> httpx.Response:
    body: dict[str, object] | None = {} if method in ("POST", "PUT") else None
    return await client.request(method, concrete(path), json=body, **kwargs)  # type: ignore[arg-type]


_COOKIES: dict[tuple[int, str], httpx.Cookies] = {}


def session_of(server: RunningServer, role: str, fresh: bool = False) -> httpx.AsyncClient:
    """A client logged in as `role` (one login per server and role, unless `fresh`)."""
    key = (server.port, role)
    if fresh or key not in _COOKIES:
        with server.sync_http() as http:
            name, password = CREDENTIALS[role]
            assert (
                http.post("/api/auth/login", json={"username": name, "password": password}).status_code == 200
            )
            cookies = httpx.Cookies(http.cookies)
        if fresh:
            return server.http(cookies)
        _COOKIES[key] = cookies
    return server.http(_COOKIES[key])


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
async def test_route_refuses_anonymous_and_lower_roles(
    rme_server: RunningServer, method: str, path: str
) -> None:
    need = EXPECTED[(method, path)]
    async with rme_server.http() as anonymous:
        reply = await call(anonymous, method, path)
    if need == "public":
        assert reply.status_code not in (401, 403), reply.text
        return
    if need == "signed":  # no session helps: only a valid signature does
        assert reply.status_code == 401 and reply.json()["code"] == "signature.missing", reply.text
        async with session_of(rme_server, "admin") as admin:
            assert (await call(admin, method, path)).status_code == 401
        return
    assert reply.status_code == 401, reply.text
    for role, rank in RANK.items():
        if role == "public":
            continue
        # Logging out ends the session it is called with: give it one of its own.
        async with session_of(rme_server, role, fresh=path == "/api/auth/logout") as client:
            reply = await call(client, method, path)
            if rank < RANK[need]:
                assert reply.status_code == 403, f"{role}: {reply.status_code} {reply.text}"
                continue
            assert reply.status_code not in (401, 403), f"{role}: {reply.status_code} {reply.text}"
            if method in ("GET", "HEAD") or path == "/api/auth/logout":
                continue
            # The same request from another site, or with no Origin at all, is refused.
            client.headers["Origin"] = "https://evil.example"
            assert (await call(client, method, path)).status_code == 403
            del client.headers["Origin"]
            assert (await call(client, method, path)).status_code == 403


async def test_engineer_socket_refuses_anonymous(rme_server: RunningServer) -> None:
    with pytest.raises(InvalidStatus):
        await connect(
            f"wss://127.0.0.1:{rme_server.port}/ws/engineer",
            ssl=rme_server.ssl_context(),
            origin=rme_server.origin,  # type: ignore[arg-type]
        )


async def test_metrics_with_bearer_token(rme_server: RunningServer) -> None:
    async with rme_server.http() as anonymous:
        wrong = await anonymous.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        right = await anonymous.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert right.status_code == 200
        assert "rme_connected_agents" in right.text
