"""`Bus` over Redis pub/sub, for several server nodes sharing one PostgreSQL database.

Each node keeps one pub/sub connection; a topic is subscribed on Redis while at least one local
handler wants it. Notes travel as a small binary record (JSON header: kind, sender, session, payload
fields, reply topic, binary flag; then the frame bytes) so file chunks are not base64-inflated; the
receiving node validates the payload against its kind (`server.relay.notes`). `publish` returns
Redis' receiver count — the number of *nodes* listening — which is what a sender needs to know
("is the other side connected anywhere?").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct

import redis.asyncio as aioredis

from server.relay.bus import Bus, Handler, Subscription
from server.relay.notes import Note, NoteError, NoteKind, parse_payload

log = logging.getLogger("rme.bus")
_HEAD = struct.Struct(">I")
RECONNECT_S = 0.5


def pack(note: Note) -> bytes:
    binary = isinstance(note.frame, bytes)
    frame = note.frame if isinstance(note.frame, bytes) else note.frame.encode()
    fields = None if note.payload is None else note.payload.model_dump(mode="json")
    head = json.dumps([note.kind.value, note.sender, note.session, fields, note.reply_to, binary]).encode()
    return _HEAD.pack(len(head)) + head + frame


def unpack(payload: bytes) -> Note:
    """The note in a Redis message; NoteError (a ValueError) if it is not one a node would send."""
    try:
        (size,) = _HEAD.unpack_from(payload)
        kind, sender, session, fields, reply_to, binary = json.loads(payload[_HEAD.size : _HEAD.size + size])
        note_kind = NoteKind(kind)
    except (struct.error, ValueError, TypeError) as exc:
        raise NoteError(f"not a bus note: {exc}") from None
    raw = payload[_HEAD.size + size :]
    frame = raw if binary else raw.decode()
    return Note(note_kind, sender, session, frame, parse_payload(note_kind, fields), reply_to)


class _RedisSubscription(Subscription):
    def __init__(self, bus: RedisBus, topic: str, handler: Handler) -> None:
        self._bus, self._topic = bus, topic
        self._handler: Handler | None = handler

    async def cancel(self) -> None:
        # Forget the handler (a bound method of the subscribing link): no cycle keeps a closed link.
        handler, self._handler = self._handler, None
        if handler is not None:
            await self._bus.unsubscribe(self._topic, handler)


class RedisBus(Bus):
    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._handlers: dict[str, list[Handler]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._listening = True

    async def start(self) -> None:
        await self._client.ping()  # fail at start-up, not on the first message

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        first = topic not in self._handlers
        self._handlers.setdefault(topic, []).append(handler)
        if first:
            await self._pubsub.subscribe(topic)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
        return _RedisSubscription(self, topic, handler)

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._handlers.get(topic)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._handlers[topic]
                await self._pubsub.unsubscribe(topic)

    async def publish(self, topic: str, note: Note) -> int:
        return int(await self._client.publish(topic, pack(note)))

    async def ready(self) -> str | None:
        try:
            async with asyncio.timeout(1.0):
                await self._client.ping()
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            return f"redis: {type(exc).__name__}"
        if self._reader is not None and not self._listening:
            return "redis: pub/sub reconnecting"
        return None

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                # Redis restarted or unreachable: the next read reconnects and subscribes every topic
                # again (redis-py's `on_connect`); notes published meanwhile are lost, as pub/sub is.
                if self._listening:
                    log.warning("redis pub/sub connection lost, reconnecting", extra={"error": str(exc)})
                self._listening = False
                await asyncio.sleep(RECONNECT_S)
                continue
            if not self._listening:
                log.warning("redis pub/sub connection back")
                self._listening = True
            if message is None or message.get("type") != "message":
                continue
            topic = message["channel"].decode()
            try:
                note = unpack(message["data"])
            except (NoteError, UnicodeDecodeError):
                log.exception("dropped a malformed bus note", extra={"topic": topic})
                continue
            for handler in list(self._handlers.get(topic, ())):
                try:
                    await handler(note)
                except Exception:
                    log.exception("bus handler failed", extra={"topic": topic, "kind": str(note.kind)})

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
