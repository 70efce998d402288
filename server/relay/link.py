"""One WebSocket connection on the server: the thin I/O loop around `protocol.Connection`.

`Link` receives frames, applies the per-connection rate limits, lets the sans-I/O connection decode
and check them (direction table, connection state), and hands valid messages to `handle` (agent or
engineer subclass). Anything refused is *dropped*: counted, audited, answered with an `error`, and
after `MAX_STRIKES` drops the connection is closed. Sends are serialised by a lock because bus
deliveries from other connections' tasks write to this socket too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from protocol.codec import FileChunk
from protocol.connection import Connection, State
from protocol.directions import Peer
from protocol.errors import LocalProtocolError, ProtocolError
from protocol.messages import Envelope, Error, ErrorBody, Heartbeat, HeartbeatBody, Message
from protocol.screen import ScreenFrame
from server.audit import AuditWriteError
from server.relay.limits import TokenBucket
from server.relay.services import Services

log = logging.getLogger("rme.relay")

MAX_STRIKES = 20
SERVER_NAME = "rme-server/0.1"

# WebSocket close codes (RFC 6455 §7.4.1, 4000-4999 private use).
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_AUTH_FAILED = 4401
CLOSE_REPLACED = 4409
CLOSE_REVOKED = 4403
CLOSE_IDLE = 4408


class Link:
    """Base of `DeviceLink` (so `AgentLink`) and `EngineerLink`."""

    remote: Peer

    def __init__(self, ws: WebSocket, services: Services) -> None:
        self.ws = ws
        self.services = services
        self.conn = Connection(local=Peer.SERVER, remote=self.remote)
        cfg = services.config
        self.frames = TokenBucket(cfg.ws_frames_per_second, cfg.ws_frame_burst)
        self.chunk_bytes = TokenBucket(cfg.ws_chunk_bytes_per_second, cfg.ws_chunk_bytes_per_second)
        self.send_lock = asyncio.Lock()
        self.strikes = 0
        self.last_seen = time.monotonic()
        self.closed = False
        self.actor = f"{self.remote.value}:unauthenticated"

    # -- sending ----------------------------------------------------------------------------------

    async def send(self, message: Envelope) -> None:
        if self.closed or self.conn.state is State.CLOSED:
            return  # the peer is gone (a storm's dropped links did this by the thousand): not a violation
        try:
            data = self.conn.send(message)
        except LocalProtocolError:
            log.exception("refusing to send a message the protocol does not allow")
            return
        await self.send_frame(data.decode())

    async def send_frame(self, frame: str | bytes) -> None:
        """Write an already-checked frame (text as str, binary as bytes)."""
        if self.closed:
            return
        async with self.send_lock:
            try:
                if isinstance(frame, str):
                    await self.ws.send_text(frame)
                else:
                    await self.ws.send_bytes(frame)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.closed = True

    async def send_error(self, code: str, message: str, ref: str | None = None) -> None:
        await self.send(Error(body=ErrorBody(code=code, message=message[:256], ref=ref)))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.conn.close()
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            if self.ws.application_state is not WebSocketState.DISCONNECTED:
                await self.ws.close(code, reason[:120])

    # -- receiving --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes, then clean up (`on_close`)."""
        sweep = self.services.sweep
        sweep.watch(self, self.services.config.heartbeat_timeout)  # closed if silent too long
        try:
            await self._loop()
        except WebSocketDisconnect:
            pass
        finally:
            sweep.forget(self)
            self.closed = True
            self.conn.close()
            try:
                await self.on_close()
            except Exception:
                log.exception("connection clean-up failed", extra={"actor": self.actor})

    async def _loop(self) -> None:
        peer = self.remote.value
        frames_metric = self.services.metrics.frames.labels(peer)
        while not self.closed:
            event = await self.ws.receive()
            if event["type"] == "websocket.disconnect":
                return
            self.last_seen = time.monotonic()
            frames_metric.inc()
            text: str | None = event.get("text")
            data: bytes | None = event.get("bytes")
            # Messages are limited per frame; file chunks (binary) by bytes, so a push can run fast.
            if data is None and not self.frames.take():
                await self.drop("rate_limited", "too many frames per second", session=self.session_for(text))
                continue
            if data is not None and not self.chunk_bytes.take(len(data)):
                await self.drop("rate_limited", "too many bytes per second", session=self.session_for(None))
                continue
            try:
                item: Message | FileChunk | ScreenFrame = (
                    self.conn.receive_text(text)
                    if text is not None
                    else self.conn.receive_binary(data or b"")
                )
            except ProtocolError as exc:
                await self.drop("protocol", exc.reason, session=self.session_for(text))
                continue
            if isinstance(item, FileChunk):
                await self.handle_chunk(item, data or b"")
            elif isinstance(item, ScreenFrame):
                await self.handle_screen(item, data or b"")
            elif isinstance(item, Heartbeat):
                await self.send(Heartbeat(body=HeartbeatBody(seq=item.body.seq)))
            else:
                await self.handle(item, text or "")

    async def close_idle(self) -> None:
        """The node's idle sweep (`server.relay.sweep`) found nothing received for too long."""
        await self.close(CLOSE_IDLE, "no heartbeat")

    async def drop(
        self,
        reason: str,
        detail: str,
        msg_type: str | None = None,
        session: str | None = None,
        ref: str | None = None,
    ) -> None:
        """Refuse a frame: count it, audit it (with the session it was sent in, so the user's record
        shows the attempt), tell the sender, and close after too many."""
        if session is None:
            session = self.session_for(None)
        self.services.metrics.dropped.labels(self.remote.value, reason).inc()
        self.strikes += 1
        log.info("frame dropped", extra={"actor": self.actor, "reason": reason, "detail": detail})
        try:
            await self.services.record(
                "relay.frame_dropped",
                self.actor,
                session,
                {"reason": reason, "detail": detail[:300], "type": msg_type},
            )
        except AuditWriteError:
            await self.close(CLOSE_INTERNAL, "audit unavailable")
            return
        code = "frame.rate_limited" if reason == "rate_limited" else "frame.dropped"
        await self.send_error(code, detail, ref)
        if self.strikes >= MAX_STRIKES:
            await self.close(CLOSE_POLICY, "too many refused frames")

    # -- for subclasses ---------------------------------------------------------------------------

    async def handle(self, message: Message, text: str) -> None:
        raise NotImplementedError

    async def handle_chunk(self, chunk: FileChunk, frame: bytes) -> None:
        await self.drop("protocol", "file chunks are not accepted here", "chunk")

    async def handle_screen(self, frame: ScreenFrame, data: bytes) -> None:
        await self.drop("protocol", "screen frames are not accepted here", "screen.frame")

    async def on_close(self) -> None:
        """Called once when the connection is gone."""

    def session_for(self, text: str | None) -> str | None:
        """The session a refused frame (its text, if any) was sent in, for the audit; None: none known."""
        return None
