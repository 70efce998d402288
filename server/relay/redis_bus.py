"""`Bus` over Redis pub/sub, for several server nodes sharing one PostgreSQL database.

Each node keeps one pub/sub connection; a topic is subscribed on Redis while at least one local
handler wants it. Notes travel as a small binary record (JSON header, then the frame bytes) so file
chunks are not base64-inflated. `publish` returns Redis' receiver count — the number of *nodes*
listening — which is what a sender needs to know ("is the other side connected anywhere?").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct

import redis.asyncio as aioredis

from server.relay.bus import Bus, Handler, Note, Subscription

log = logging.getLogger("rme.bus")
_HEAD = struct.Struct(">I")


def pack(note: Note) -> bytes:
    binary = isinstance(note.frame, bytes)
    frame = note.frame if isinstance(note.frame, bytes) else note.frame.encode()
    head = json.dumps([note.kind, note.sender, note.session, note.data, note.reply_to, binary]).encode()
    return _HEAD.pack(len(head)) + head + frame


def unpack(payload: bytes) -> Note:
    (size,) = _HEAD.unpack_from(payload)
    kind, sender, session, data, reply_to, binary = json.loads(payload[_HEAD.size : _HEAD.size + size])
    raw = payload[_HEAD.size + size :]
    return Note(kind, sender, session, raw if binary else raw.decode(), data, reply_to)


class _RedisSubscription(Subscription):
    def __init__(self, bus: RedisBus, topic: str, handler: Handler) -> None:
        self._bus, self._topic, self._handler = bus, topic, handler

    async def cancel(self) -> None:
        await self._bus.unsubscribe(self._topic, self._handler)


class RedisBus(Bus):
    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._handlers: dict[str, list[Handler]] = {}
        self._reader: asyncio.Task[None] | None = None

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

    async def _read(self) -> None:
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            topic = message["channel"].decode()
            note = unpack(message["data"])
            for handler in list(self._handlers.get(topic, ())):
                try:
                    await handler(note)
                except Exception:
                    log.exception("bus handler failed", extra={"topic": topic, "kind": note.kind})

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
