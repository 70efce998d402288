"""An in-process stand-in for the WebSocket under an `EngineerLink`, so the SSH gateway works a session
through the very same link as the web console: the same protocol checks, rate limits, audit records,
queue snapshot, session adoption and bus notes (`server.relay.engineer_link`). Only the bytes' road
differs — an asyncio queue instead of a TLS socket.

The link side sees what starlette's `WebSocket` offers (`accept`, `receive`, `send_text`, `send_bytes`,
`close`, `application_state`); the desk side (`server.ssh.desk`) calls `to_link` / `hang_up` and reads
`from_link` (None once the link closed).
"""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocketState

# Frames waiting for the link: a file push waits here instead of filling memory (each chunk is at
# most 256 KiB, so at most ~8 MiB in flight).
INBOUND_FRAMES = 32


class LocalSocket:
    def __init__(self) -> None:
        self.application_state = WebSocketState.CONNECTING
        self.close_code: int | None = None
        self.close_reason = ""
        self._inbound: asyncio.Queue[dict[str, object]] = asyncio.Queue(INBOUND_FRAMES)
        self.from_link: asyncio.Queue[str | bytes | None] = asyncio.Queue()

    # -- the link's side (starlette's WebSocket interface) ----------------------------------------

    async def accept(self) -> None:
        self.application_state = WebSocketState.CONNECTED

    async def receive(self) -> dict[str, object]:
        return await self._inbound.get()

    async def send_text(self, data: str) -> None:
        self._deliver(data)

    async def send_bytes(self, data: bytes) -> None:
        self._deliver(data)

    def _deliver(self, frame: str | bytes) -> None:
        if self.application_state is WebSocketState.DISCONNECTED:
            raise RuntimeError("the SSH side has gone")
        self.from_link.put_nowait(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.application_state is WebSocketState.DISCONNECTED:
            return
        self.application_state = WebSocketState.DISCONNECTED
        self.close_code, self.close_reason = code, reason
        self.from_link.put_nowait(None)
        # Wake the link's receive loop, in case it is waiting for us.
        if self._inbound.empty():
            self._inbound.put_nowait({"type": "websocket.disconnect", "code": code})

    # -- the desk's side ---------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """Not closed (frames sent before the link accepted wait in the queue)."""
        return self.application_state is not WebSocketState.DISCONNECTED

    async def to_link(self, frame: str | bytes) -> None:
        if not self.open:
            raise ConnectionError("the engineer link is closed")
        event: dict[str, object] = {"type": "websocket.receive"}
        event["text" if isinstance(frame, str) else "bytes"] = frame
        await self._inbound.put(event)

    def hang_up(self) -> None:
        """The SSH connection is gone: the link's loop ends and it runs its clean-up (`on_close`)."""
        was_open = self.application_state is not WebSocketState.DISCONNECTED
        self.application_state = WebSocketState.DISCONNECTED
        if was_open:
            self.from_link.put_nowait(None)
        while True:  # a full queue (a push in flight) must not block the disconnect
            try:
                self._inbound.put_nowait({"type": "websocket.disconnect", "code": 1000})
                return
            except asyncio.QueueFull:
                self._inbound.get_nowait()
