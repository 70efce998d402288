"""Real server processes and real protocol clients for the server's tests and benchmark.

`start_server` runs `rme-server serve` as a subprocess on a free loopback port (HTTPS with the
generated local CA); `AgentClient` and `EngineerClient` speak the protocol over real WebSockets,
each through its own sans-I/O `protocol.Connection`, so every frame the server sends is checked too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.asyncio.client import ClientConnection, connect

from protocol.auth import auth_transcript, b64url
from protocol.codec import FileChunk
from protocol.connection import Connection
from protocol.directions import Peer
from protocol.messages import (
    AuthChallenge,
    AuthResponse,
    AuthResponseBody,
    EnrollRequest,
    EnrollRequestBody,
    Envelope,
    Hello,
    HelloBody,
    Message,
)
from protocol.screen import ScreenFrame

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
ADMIN = ("root-admin", "admin password 1")
SUPERVISOR = ("sup", "supervisor password")
ENGINEER = ("eng", "engineer password")
METRICS_TOKEN = "metrics-token-for-tests"
M = TypeVar("M", bound=Envelope)
# Argon2 runs in a low-priority (nice) process: on a machine loaded by other jobs a login took over 10 s.
HTTP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    env: dict[str, str]
    log: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.base

    @property
    def ca(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def cli(
        self, *args: str, stdin: str | None = None, check: bool = True, offline: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run `rme-server ARGS` against this server's data (or, `offline`, with no data dir at all)."""
        where = [] if offline else ["--data-dir", str(self.data_dir)]
        return subprocess.run(
            [PYTHON, "-m", "server.cli", *args, *where],
            input=stdin, capture_output=True, text=True, env=self.env, cwd=ROOT, check=check, timeout=60,
        )  # fmt: skip

    def http(self, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base, verify=self.ssl_context(), headers={"Origin": self.origin}, cookies=cookies,
            timeout=HTTP_TIMEOUT,
        )  # fmt: skip

    def sync_http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            verify=self.ssl_context(),
            headers={"Origin": self.origin},
            timeout=HTTP_TIMEOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(data_dir: Path, database_url: str, **settings: str) -> RunningServer:
    """Start `rme-server serve` on a free port and wait until it is ready; raises if it does not come up."""
    return start_server_on(free_port(), data_dir, database_url, **settings)


def start_server_on(port: int, data_dir: Path, database_url: str, **settings: str) -> RunningServer:
    """`start_server` on a given port (a node restarted where its agents and load balancer expect it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RME_DATABASE_URL": database_url, "RME_LOG_LEVEL": "warning"}
    env.update({f"RME_{k.upper()}": v for k, v in settings.items()})
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    server = RunningServer(process, port, data_dir, env, log)
    deadline = time.monotonic() + 120  # generous: a loaded 2-core machine starts it slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        if server.ca.exists():
            with contextlib.suppress(httpx.HTTPError, ssl.SSLError, OSError):
                if server.sync_http().get("/ready").status_code == 200:
                    return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become ready: {log.read_text()[-3000:]}")


def bootstrap_accounts(server: RunningServer) -> None:
    """The first admin comes from the CLI; the others through the admin API, as an operator would."""
    server.cli("user", "add", ADMIN[0], "--role", "admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    with server.sync_http() as http:
        assert (
            http.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}).status_code == 200
        )
        for (name, password), role in ((SUPERVISOR, "supervisor"), (ENGINEER, "engineer")):
            reply = http.post("/api/engineers", json={"username": name, "password": password, "role": role})
            assert reply.status_code == 201, reply.text


@contextlib.contextmanager
def running_server(data_dir: Path, database_url: str, **settings: str) -> Iterator[RunningServer]:
    server = start_server(data_dir, database_url, **settings)
    try:
        bootstrap_accounts(server)
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def logged_in(server: RunningServer, username: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(server, username, password)
    try:
        yield client
    finally:
        await client.aclose()


async def login(server: RunningServer, username: str, password: str) -> httpx.AsyncClient:
    client = server.http()
    reply = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return client


# -- protocol clients ---------------------------------------------------------------------------


@dataclass
class ProtocolClient:
    ws: ClientConnection
    conn: Connection
    received: list[Message | FileChunk | ScreenFrame] = field(default_factory=list)

    async def send(self, message: Envelope) -> None:
        await self.ws.send(self.conn.send(message).decode())

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def recv(self, wait: float = 5.0) -> Message | FileChunk | ScreenFrame:
        frame = await asyncio.wait_for(self.ws.recv(), wait)
        item = self.conn.receive(frame)
        self.received.append(item)
        return item

    async def expect(self, kind: type[M], wait: float = 5.0) -> M:
        """The next message of type `kind`, skipping heartbeats, queue updates and the audit evidence
        an agent gets after each session (tests of the evidence look for it by name)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            item = await self.recv(max(0.01, deadline - loop.time()))
            if isinstance(item, kind):
                return item
            if getattr(item, "type", None) not in ("heartbeat", "queue.update", "audit.evidence"):
                raise AssertionError(f"expected {kind.__name__}, got {item!r}")

    async def close(self) -> None:
        await self.ws.close()


def channel_binding(ws: ClientConnection) -> bytes:
    ssl_object = ws.transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).digest()


@dataclass
class AgentIdentity:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    device_id: str | None = None
    customer_id: str | None = None

    @property
    def public_key(self) -> str:
        return b64url(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


async def open_agent(server: RunningServer, **kwargs: Any) -> ProtocolClient:
    ws = await connect(f"wss://127.0.0.1:{server.port}/ws/agent", ssl=server.ssl_context(), **kwargs)
    client = ProtocolClient(ws, Connection(local=Peer.AGENT, remote=Peer.SERVER))
    await client.send(Hello(body=HelloBody(role="agent", versions=[1], software="rme-agent-test")))
    await client.expect(
        type(client.conn.welcome_for(Hello(body=HelloBody(role="agent", versions=[1], software="x")), "s"))
    )
    return client


async def agent_enroll(
    server: RunningServer,
    identity: AgentIdentity,
    code: str,
    *,
    device_name: str = "Test PC",
    **connect_options: Any,
) -> ProtocolClient:
    """Enroll with `code`, then prove the key on the fresh challenge; returns a READY agent.

    `connect_options` go to `websockets.connect` (rme-agent itself connects with `compression=None`)."""
    from protocol.messages import AuthOk, EnrollOk

    client = await open_agent(server, **connect_options)
    await client.expect(AuthChallenge)
    await client.send(
        EnrollRequest(
            body=EnrollRequestBody(
                code=code, public_key=identity.public_key, device_name=device_name, os="Linux"
            )
        )
    )
    ok = await client.expect(EnrollOk)
    identity.device_id, identity.customer_id = ok.body.device_id, ok.body.customer_id
    challenge = await client.expect(AuthChallenge)
    await client.send(sign(client, identity, challenge.body.nonce))
    await client.expect(AuthOk)
    return client


def sign(
    client: ProtocolClient, identity: AgentIdentity, nonce: str, binding: bytes | None = None
) -> AuthResponse:
    assert identity.device_id is not None
    transcript = auth_transcript(nonce, binding or channel_binding(client.ws), identity.device_id)
    signature = b64url(identity.key.sign(transcript))
    return AuthResponse(body=AuthResponseBody(device_id=identity.device_id, signature=signature))


async def agent_connect(server: RunningServer, identity: AgentIdentity) -> ProtocolClient:
    from protocol.messages import AuthOk

    client = await open_agent(server)
    challenge = await client.expect(AuthChallenge)
    await client.send(sign(client, identity, challenge.body.nonce))
    await client.expect(AuthOk)
    return client


async def open_engineer(
    server: RunningServer, http: httpx.AsyncClient, origin: str | None = None
) -> ProtocolClient:
    from protocol.messages import QueueUpdate, Welcome

    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    ws = await connect(
        f"wss://127.0.0.1:{server.port}/ws/engineer",
        ssl=server.ssl_context(),
        additional_headers={"Cookie": cookie},
        origin=origin or server.origin,  # type: ignore[arg-type]
    )
    client = ProtocolClient(ws, Connection(local=Peer.ENGINEER, remote=Peer.SERVER))
    await client.send(Hello(body=HelloBody(role="engineer", versions=[1], software="console-test")))
    await client.expect(Welcome)
    snapshot = await client.expect(QueueUpdate)
    assert snapshot.body.snapshot
    return client


async def new_customer_code(admin: httpx.AsyncClient, subscription: str = "active") -> tuple[str, str]:
    reply = await admin.post("/api/customers", json={"name": "张三 Zhang San", "subscription": subscription})
    assert reply.status_code == 201, reply.text
    customer_id = reply.json()["id"]
    code = await admin.post(f"/api/customers/{customer_id}/enrollment-codes")
    assert code.status_code == 201, code.text
    return customer_id, code.json()["code"]


async def audit_kinds(server: RunningServer, actor_prefix: str = "") -> list[tuple[str, str, str | None]]:
    """(kind, actor, session) of every audit event so far, read straight from the server's database."""
    import sqlalchemy as sa

    from server.audit.schema import audit_events
    from server.db.engine import open_engine

    engine = open_engine(server.env["RME_DATABASE_URL"])
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(audit_events.c.kind, audit_events.c.actor, audit_events.c.session_id)
                    .where(audit_events.c.actor.startswith(actor_prefix))
                    .order_by(audit_events.c.leaf_index)
                )
            ).all()
    finally:
        await engine.dispose()
    return [(r.kind, r.actor, r.session_id) for r in rows]


def verify_offline(server: RunningServer, export_json: str, folder: Path) -> None:
    """`rme-server audit verify` on a session's audit export, offline, with the server's public key."""
    out = folder / "export.json"
    out.write_text(export_json)
    key = server.cli("audit", "key").stdout.strip()
    verified = server.cli("audit", "verify", str(out), "--key", key, check=False, offline=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def closed_with(client: ProtocolClient, wait: float = 5.0) -> int:
    """Read until the server closes the connection; returns the close code (1006: closed without a close
    frame). Fails if the connection is still open after `wait` seconds."""
    from websockets.exceptions import ConnectionClosed

    try:
        async with asyncio.timeout(wait):
            while True:
                await client.ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else 1006
    except TimeoutError:
        raise AssertionError(f"the server did not close the connection within {wait} s") from None
