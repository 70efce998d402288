"""The FastAPI application: start-up (database, migrations, audit log, bus, node heartbeat), routes and
endpoints.

`create_app(config, tls)` builds the app; `rme-server serve` runs it on uvicorn with TLS. Everything
per-process lives in one `Services` object on `app.state`, built in the lifespan, so tests can run
several apps side by side.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket, status
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from server.accounts import hashing
from server.accounts.sessions import COOKIE_NAME, session_engineer
from server.accounts.throttle import HandshakeThrottle, LoginThrottle
from server.audit.keeper import AuditKeeper
from server.audit.setup import open_audit_log
from server.billing.delivery import Deliverer
from server.config import ServerConfig
from server.db.engine import open_engine
from server.db.migrate import upgrade
from server.db.tables import new_id
from server.devices.revocation import RevocationSweeper
from server.devices.seen import SeenFlusher
from server.kpi.runtime import start_kpi
from server.metrics import Metrics
from server.relay.agent_link import AgentLink
from server.relay.bus import Bus, InProcessBus
from server.relay.engineer_link import EngineerLink
from server.relay.nodes import NodeKeeper
from server.relay.services import Services
from server.shedding import SHEDDING, ShedLog
from server.tls import certificate_fingerprint
from server.web import (
    admin_routes,
    auth_routes,
    billing_routes,
    bss_routes,
    console_routes,
    desk_routes,
    errors,
    ops_routes,
    report_routes,
    rescue_routes,
    ssh_routes,
    ticket_routes,
)
from server.web.body_limit import BodyLimitMiddleware
from server.web.security import get_services

log = logging.getLogger("rme.server")

AUDIT_LOG_NAME = "rme-audit"


def make_bus(config: ServerConfig) -> Bus:
    if config.redis_url:
        from server.relay.redis_bus import RedisBus  # noqa: PLC0415  (only Redis nodes need its client)

        return RedisBus(config.redis_url)
    return InProcessBus()


def shed(services: Services) -> int | None:
    """Seconds a new agent should wait (HTTP 503 + Retry-After) if this node is too busy to take it:
    too many handshakes in progress (a reconnect storm) or at `agent_capacity`. None: take it."""
    config = services.config
    full = config.agent_capacity and len(services.agents) >= config.agent_capacity
    if services.handshaking < config.agent_handshakes_max and not full:
        return None
    # Jittered, so the refused agents do not come back in one wave.
    return max(1, round(config.shed_retry_after * (0.5 + random.random())))  # noqa: S311


def lean(app: FastAPI) -> ASGIApp:
    """The ASGI app to serve: `/ws/agent` goes straight to its endpoint, outside the middleware and
    routing stack (every idle agent holds its coroutine chain for hours; about a dozen frames fewer
    each), everything else through FastAPI."""
    endpoint = app.state.agent_endpoint

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws/agent":
            scope["app"] = app
            await endpoint(WebSocket(scope, receive, send))
        else:
            await app(scope, receive, send)

    return asgi


def create_app(config: ServerConfig, cert_path: Path, worker: int | None = None) -> FastAPI:
    """The app of one server process; `worker` is its index under `serve --workers N` (for the logs)."""
    channel_binding = certificate_fingerprint(cert_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = open_engine(config.effective_database_url)
        await upgrade(engine)
        hashing.configure(config.login_hash_workers, config.login_hash_queue)
        audit = open_audit_log(engine, config, AUDIT_LOG_NAME)
        keeper = AuditKeeper(audit, config.audit_checkpoint_interval)  # checkpoints every minute
        bus = make_bus(config)
        await bus.start()
        app.state.services = Services(
            config=config,
            engine=engine,
            audit=audit,
            bus=bus,
            metrics=Metrics(),
            channel_binding=channel_binding,
            node_id=new_id("n"),
        )
        dropped = app.state.services.metrics.dropped
        app.state.shed_log.on_note = lambda kind: dropped.labels("agent", kind).inc()
        node = NodeKeeper(app.state.services)
        # Without Redis this node cannot reach any other, so it is alone: every other node row is a
        # previous run's, and that run's open tickets are ended now, before serving.
        await node.start(alone=not config.redis_url)
        # Devices revoked by another process (`rme-server customer revoke`) are cut within seconds.
        revocations = RevocationSweeper(app.state.services)
        revocations.start()
        seen = SeenFlusher(engine, app.state.services.seen)
        seen.start()
        keeper.start()
        app.state.kpi = start_kpi(app.state.services)
        app.state.billing = Deliverer(
            engine, config.billing_period, config.billing_retry_base, node=app.state.services.node_id
        )
        app.state.billing.start()
        app.state.ssh = None
        if config.ssh_port is not None:  # the SSH gateway for engineers (docs/ssh.md), off by default
            from server.ssh.gateway import Gateway  # noqa: PLC0415  (asyncssh only when it is on)

            app.state.ssh = Gateway(
                app.state.services, config.ssh_host or config.host, config.ssh_port, config.data_dir
            )
            await app.state.ssh.start()
        log.info(
            "server ready",
            extra={
                "database": engine.dialect.name,
                "bus": type(bus).__name__,
                "node": node.node_id,
                "worker": worker,
            },
        )
        try:
            yield
        finally:
            if app.state.ssh is not None:
                await app.state.ssh.stop()
            await revocations.stop()
            await app.state.services.sweep.stop()
            await seen.stop()
            await keeper.stop()
            await app.state.billing.stop()
            await app.state.kpi.stop()
            await node.stop()
            await bus.close()
            await engine.dispose()

    app = FastAPI(
        title="RME server",
        version="0.1.0",
        description="Relay, tickets, sessions and audit for Remote Maintenance Expert.",
        lifespan=lifespan,
        docs_url=None,  # served by ops_routes behind a login
        redoc_url=None,
        openapi_url=None,
    )
    app.state.shed_log = ShedLog()  # one summary line per window for every refusal (server.shedding)
    app.state.login_throttle = LoginThrottle(
        burst=config.login_address_burst,
        per_minute=config.login_address_per_minute,
        free_failures=config.login_max_failures,
        max_backoff=config.login_lockout,
        exempt=config.throttle_exempt,
    )
    handshakes = HandshakeThrottle(
        burst=config.ws_handshake_burst,
        per_second=config.ws_handshakes_per_second,
        exempt=config.throttle_exempt,
    )

    async def refused_handshake(websocket: WebSocket, services: Services) -> bool:
        """Close (before accepting) a handshake from an address over its rate; True if it was."""
        if handshakes.admit(websocket.client.host if websocket.client else None) == 0.0:
            return False
        services.metrics.dropped.labels(websocket.url.path.rsplit("/", 1)[-1], "throttled").inc()
        await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER)
        return True

    app.add_middleware(BodyLimitMiddleware)
    errors.install(app)
    for module in (
        ops_routes,
        auth_routes,
        admin_routes,
        ticket_routes,
        console_routes,
        report_routes,
        desk_routes,
        bss_routes,
        ssh_routes,
        billing_routes,
        rescue_routes,
    ):
        app.include_router(module.router)

    @app.websocket("/ws/agent")
    async def agent_socket(websocket: WebSocket) -> None:
        services = get_services(websocket)
        if await refused_handshake(websocket, services):
            return
        retry_after = shed(services)
        if retry_after is not None:
            SHEDDING.set(True)  # uvicorn's lines for this denial are dropped; the summary counts it
            app.state.shed_log.note("shed")
            headers = {"Retry-After": str(retry_after)}
            await websocket.send_denial_response(PlainTextResponse("busy", 503, headers=headers))
            return
        await AgentLink(websocket, services).serve()

    app.state.agent_endpoint = agent_socket

    @app.websocket("/ws/engineer")
    async def engineer_socket(websocket: WebSocket) -> None:
        services = get_services(websocket)
        if await refused_handshake(websocket, services):
            return
        origin = websocket.headers.get("origin", "").rstrip("/")
        token = websocket.cookies.get(COOKIE_NAME)
        engineer = await session_engineer(services.engine, token) if token else None
        if engineer is None or origin not in services.config.origins:
            services.metrics.dropped.labels("engineer", "unauthenticated").inc()
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
            return
        await EngineerLink(websocket, services, engineer).serve()

    return app
