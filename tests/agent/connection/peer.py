"""An in-process test server for the agent: real TLS, a real loopback WebSocket, the real sans-I/O
`protocol.Connection` on the server side, and real Ed25519 verification of the device's signature.

It is the server's side of the handshake and nothing more: tests drive sessions by sending messages as the
server would relay them, and read what the agent sends back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from websockets.asyncio.server import Server, ServerConnection, serve

from protocol import Connection, Peer
from protocol.auth import auth_transcript, b64url, b64url_decode
from protocol.codec import MAX_CHUNK_FRAME, FileChunk
from protocol.limits import MAX_TEXT_FRAME
from protocol.messages import (
    AuthChallenge,
    AuthChallengeBody,
    AuthOk,
    AuthOkBody,
    AuthResponse,
    EnrollOk,
    EnrollOkBody,
    EnrollRequest,
    Envelope,
    Hello,
    Message,
)
from protocol.screen import ScreenFrame
from server.tls import ensure_local_tls

M = TypeVar("M", bound=Envelope)


@dataclass
class PeerConnection:
    """The fake server's side of one agent connection (not the real server's `AgentLink`)."""

    ws: ServerConnection
    conn: Connection
    device_id: str
    inbox: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)


class PeerServer:
    def __init__(self, directory: Path) -> None:
        tls = ensure_local_tls(directory / "tls", [])
        assert tls.ca is not None
        self.ca = tls.ca
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tls.cert, tls.key)
        der = x509.load_pem_x509_certificate(tls.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        self.binding = hashlib.sha256(der).digest()
        self.codes: dict[str, str] = {}
        self.devices: dict[str, Ed25519PublicKey] = {}
        self.links: asyncio.Queue[PeerConnection] = asyncio.Queue()
        self.current: PeerConnection | None = None
        self.auth_failures = 0
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    def add_code(self, code: str, device_id: str) -> None:
        self.codes[code] = device_id

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=self.context,
            compression=None,
            max_size=max(MAX_TEXT_FRAME, MAX_CHUNK_FRAME),
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(local=Peer.SERVER, remote=Peer.AGENT)
        hello = conn.receive(await ws.recv())
        assert isinstance(hello, Hello)
        await ws.send(conn.send(conn.welcome_for(hello, server="test", heartbeat_s=2)).decode())
        nonce = b64url(secrets.token_bytes(32))
        await ws.send(conn.send(AuthChallenge(body=AuthChallengeBody(nonce=nonce))).decode())
        first = conn.receive(await ws.recv())
        if isinstance(first, EnrollRequest):
            device_id = self.codes.pop(first.body.code)
            self.devices[device_id] = Ed25519PublicKey.from_public_bytes(b64url_decode(first.body.public_key))
            await ws.send(
                conn.send(EnrollOk(body=EnrollOkBody(device_id=device_id, customer_id="c1"))).decode()
            )
            with contextlib.suppress(Exception):
                await ws.wait_closed()
            return
        assert isinstance(first, AuthResponse)
        key = self.devices[first.body.device_id]
        try:
            key.verify(
                b64url_decode(first.body.signature),
                auth_transcript(nonce, self.binding, first.body.device_id),
            )
        except Exception:
            self.auth_failures += 1
            await ws.close()
            return
        await ws.send(
            conn.send(AuthOk(body=AuthOkBody(device_id=first.body.device_id, customer_id="c1"))).decode()
        )
        link = PeerConnection(ws, conn, first.body.device_id)
        self.current = link
        await self.links.put(link)
        with contextlib.suppress(Exception):
            async for frame in ws:
                message = conn.receive(frame)
                assert not isinstance(message, FileChunk | ScreenFrame)
                if message.type != "heartbeat":
                    await link.inbox.put(message)

    async def link(self, timeout: float = 10.0) -> PeerConnection:  # noqa: ASYNC109 (one deadline over several awaits)
        return await asyncio.wait_for(self.links.get(), timeout)

    async def send(self, message: Envelope, link: PeerConnection | None = None) -> None:
        target = link or self.current
        assert target is not None
        await target.ws.send(target.conn.send(message).decode())

    async def send_chunk(self, chunk: FileChunk, link: PeerConnection | None = None) -> None:
        target = link or self.current
        assert target is not None
        await target.ws.send(target.conn.send_chunk(chunk))

    async def expect(
        self,
        kind: type[M],
        timeout: float = 10.0,  # noqa: ASYNC109 (one deadline over several awaits)
        link: PeerConnection | None = None,
        **match: Any,
    ) -> M:
        """The next message of `kind` from the agent (others of other kinds are skipped)."""
        target = link or self.current
        assert target is not None
        async with asyncio.timeout(timeout):
            while True:
                message = await target.inbox.get()
                if isinstance(message, kind) and all(_field(message, k) == v for k, v in match.items()):
                    return message


def _field(message: Envelope, path: str) -> Any:
    value: Any = message
    for part in path.split("__"):
        value = getattr(value, part)
    return value


# The old name, for branches written before the rename; new code uses `PeerConnection`.
AgentLink = PeerConnection
