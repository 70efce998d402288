"""Real processes on loopback: `rme-server serve`, `rme-agent run`, and a test engineer client that
speaks the protocol to `/ws/engineer` after logging in over HTTPS, as the console does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from protocol import Connection, Peer
from protocol.codec import MAX_CHUNK_FRAME, FileChunk
from protocol.limits import MAX_CHUNK_PAYLOAD, MAX_TEXT_FRAME
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    Envelope,
    Hello,
    HelloBody,
    Message,
    QueueUpdate,
    TicketAccept,
    TicketAcceptBody,
    new_id,
)
from protocol.screen import ScreenFrame
from tests.localnet import local_diagnosis_env

M = TypeVar("M", bound=Envelope)
BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(tool: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(BIN / tool), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout  # generous: a loaded 2-core machine starts servers slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class RealServer:
    data: Path
    port: int
    proc: subprocess.Popen[bytes]
    customer: str

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.data / "tls" / "ca.pem"

    def admin(self, *args: str, stdin: str | None = None) -> str:
        return cli("rme-server", *args, "--data-dir", str(self.data), stdin=stdin)

    def enroll_code(self) -> str:
        return self.admin("customer", "enroll-code", self.customer).strip().split()[-1]


@contextlib.contextmanager
def real_server(tmp: Path, env: dict[str, str] | None = None) -> Iterator[RealServer]:
    data = tmp / "server"
    port = free_port()
    base = ["--data-dir", str(data)]
    cli("rme-server", "migrate", *base)
    customer = cli("rme-server", "customer", "add", "Zhang San", *base).strip()
    cli(
        "rme-server",
        "user",
        "add",
        "wangwei",
        "--display-name",
        "Wang Wei",
        "--password-stdin",
        *base,
        stdin=PASSWORD + "\n",
    )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(BIN / "rme-server"), "serve", "--host", "127.0.0.1", "--port", str(port), *base],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        _wait_port(port, proc)
        yield RealServer(data, port, proc, customer)
    finally:
        stop_process(proc)
        log.close()


@dataclass
class RealAgent:
    data: Path
    inbox: Path
    proc: subprocess.Popen[bytes]
    server: RealServer
    env: dict[str, str] = field(default_factory=dict)

    def panel(self) -> dict[str, Any]:
        return dict(json.loads((self.data / "panel.json").read_text()))

    def _client(self) -> httpx.Client:
        info = self.panel()
        return httpx.Client(
            base_url=f"http://127.0.0.1:{info['port']}",
            trust_env=False,
            timeout=20,
            headers={"Authorization": f"Bearer {info['secret']}"},
        )

    def state(self) -> dict[str, Any]:
        with self._client() as client:
            return dict(client.get("/api/state").json())

    def wait_prompt(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for prompt in self.state()["guard"]["prompts"]:
                if prompt["kind"] == kind:
                    return dict(prompt)
            time.sleep(0.03)
        raise TimeoutError(f"no {kind} prompt in the panel")

    def answer(self, prompt_id: str, allow: bool) -> None:
        with self._client() as client:
            client.post("/api/answer", json={"prompt_id": prompt_id, "allow": allow}).raise_for_status()

    def held_output(self, action_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """The command output the panel holds for the user's release (waits until it is there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for output in self.state()["guard"]["outputs"]:
                if output["action_id"] == action_id and output["state"] == "held":
                    return dict(output)
            time.sleep(0.03)
        raise TimeoutError(f"no output held for {action_id} in the panel")

    def release(self, action_id: str, send: bool = True) -> None:
        """The user's Send (or Keep) on a command's output."""
        with self._client() as client:
            client.post("/api/release", json={"action_id": action_id, "send": send}).raise_for_status()

    def post(self, path: str, doc: dict[str, Any] | None = None) -> httpx.Response:
        """A panel API call as the local control channel (the launch secret), e.g. `/api/feedback`."""
        with self._client() as client:
            return client.post(path, json=doc or {})

    def cli(self, *args: str) -> str:
        return cli(
            "rme-agent", *args, "--data-dir", str(self.data), "--server", self.server.url, env=self.env
        )


@contextlib.contextmanager
def real_agent(
    tmp: Path, server: RealServer, name: str = "agent", via: str | None = None, **settings: str
) -> Iterator[RealAgent]:
    """An enrolled `rme-agent run` process; `via` is another address to dial (a proxy in front)."""
    data = tmp / name
    inbox = tmp / f"{name}-inbox"
    env = {
        "RME_LANG": "en",
        "RME_OPEN_BROWSER": "0",
        "RME_INBOX": str(inbox),
        "RME_CONSENT_TIMEOUT": "10",
        "RME_RECONNECT_MIN": "0.1",
        "RME_RECONNECT_MAX": "0.5",
        **local_diagnosis_env(),  # its diagnosis probes nothing beyond loopback
        **settings,
    }
    cli(
        "rme-agent",
        "enroll",
        server.enroll_code(),
        "--server",
        server.url,
        "--ca",
        str(server.ca),
        "--data-dir",
        str(data),
        env=env,
    )
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(BIN / "rme-agent"),
            "run",
            "--server",
            via or server.url,
            "--data-dir",
            str(data),
            "--no-browser",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    agent = RealAgent(data, inbox, proc, server, env)
    try:
        deadline = time.monotonic() + 90  # generous: start-up takes seconds on a loaded machine
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("agent exited early")
            with contextlib.suppress(OSError, ValueError, KeyError, httpx.HTTPError):
                if agent.state()["connection"]["state"] == "online":
                    break
            time.sleep(0.05)
        else:
            raise TimeoutError("agent never came online")
        yield agent
    finally:
        stop_process(proc)
        log.close()


class Engineer:
    """A test engineer client: HTTPS login, then the protocol over `/ws/engineer`."""

    def __init__(self, ws: ClientConnection, conn: Connection) -> None:
        self.ws = ws
        self.conn = conn
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.frames: list[str | bytes] = []  # every frame received, raw (what an engineer could ever see)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                self.frames.append(frame)
                item = self.conn.receive(frame)
                assert not isinstance(item, FileChunk)  # no file ever comes to an engineer
                if not isinstance(item, ScreenFrame):  # screen frames: read from `frames`
                    await self.inbox.put(item)

    async def send(self, message: Envelope) -> None:
        await self.ws.send(self.conn.send(message).decode())

    async def expect(self, kind: type[M], timeout: float = 15.0, **match: Any) -> M:  # noqa: ASYNC109 (one deadline over several awaits)
        async with asyncio.timeout(timeout):
            while True:
                message = await self.inbox.get()
                if isinstance(message, kind) and all(_field(message, k) == v for k, v in match.items()):
                    return message

    async def accept_ticket_of(self, words: str) -> str:
        """Wait for the help request with `words` in the queue, accept it; returns the session id."""
        async with asyncio.timeout(20):
            while True:
                update = await self.expect(QueueUpdate)
                for ticket in update.body.changed:
                    if ticket.words == words and ticket.state in ("queued", "waiting", "open"):
                        await self.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket.ticket_id)))
                        return ticket.ticket_id

    async def request(self, session: str, action: Any, reason: str = "e2e") -> str:
        action_id = new_id()
        await self.send(
            ActionRequest(
                session=session, body=ActionRequestBody(action_id=action_id, action=action, reason=reason)
            )
        )
        return action_id

    async def push(self, action_id: str, data: bytes, stop_at: int | None = None) -> None:
        end = len(data) if stop_at is None else stop_at
        offset = 0
        while True:
            piece = data[offset : min(offset + MAX_CHUNK_PAYLOAD, end)]
            last = offset + len(piece) >= len(data)
            await self.ws.send(self.conn.send_chunk(FileChunk(action_id, offset, piece, last)))
            offset += len(piece)
            if last or offset >= end:
                return

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


@contextlib.asynccontextmanager
async def engineer(server: RealServer) -> AsyncIterator[Engineer]:
    context = ssl.create_default_context(cafile=str(server.ca))
    async with httpx.AsyncClient(
        base_url=server.https, verify=context, trust_env=False, headers={"Origin": server.https}
    ) as client:
        login = await client.post("/api/auth/login", json={"username": "wangwei", "password": PASSWORD})
        login.raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    ws = await connect(
        f"{server.url}/ws/engineer",
        ssl=context,
        compression=None,
        proxy=None,
        origin=Origin(server.https),
        additional_headers={"Cookie": cookie},
        max_size=max(MAX_TEXT_FRAME, MAX_CHUNK_FRAME),
    )
    conn = Connection(local=Peer.ENGINEER, remote=Peer.SERVER)
    await ws.send(conn.send(Hello(body=HelloBody(role="engineer", versions=[1], software="e2e"))).decode())
    eng = Engineer(ws, conn)
    try:
        yield eng
    finally:
        await eng.close()


async def eventually(check: Callable[[], bool], within: float = 10.0, step: float = 0.05) -> bool:
    """Poll `check` until it holds or `within` seconds pass; returns its last value."""
    for _ in range(max(1, int(within / step))):
        if check():
            return True
        await asyncio.sleep(step)
    return check()


def _field(message: Envelope, path: str) -> Any:
    value: Any = message
    for part in path.split("__"):
        value = getattr(value, part)
    return value
