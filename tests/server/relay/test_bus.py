"""The bus behind the relay: in-process, and Redis pub/sub against the local Redis server."""

from __future__ import annotations

import asyncio
import os

import pytest
import redis.asyncio as aioredis

from server.relay.bus import Bus, InProcessBus, Note
from server.relay.redis_bus import RedisBus, pack, unpack

REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_available() -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.ConnectionError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
        pytest.skip(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
    finally:
        await client.aclose()


def test_pack_round_trip_keeps_text_and_binary_apart() -> None:
    text = Note("frame", "engineer:eng", "s_1", '{"type": "chat"}', data="", reply_to="engineer.e_1")
    binary = Note("engineer.chunk", "engineer:eng", "s_1", b"RMEC\x00\xff" * 100, reply_to="engineer.e_1")
    assert unpack(pack(text)) == text
    assert unpack(pack(binary)) == binary
    assert isinstance(unpack(pack(binary)).frame, bytes)


async def exercise(bus: Bus, settle: float) -> None:
    got_a: list[Note] = []
    got_b: list[Note] = []

    async def handler_a(note: Note) -> None:
        got_a.append(note)

    async def handler_b(note: Note) -> None:
        got_b.append(note)
        raise RuntimeError("a broken subscriber")  # must not stop delivery to the others

    topic = f"agent.d_{os.urandom(4).hex()}"
    sub_a = await bus.subscribe(topic, handler_a)
    sub_b = await bus.subscribe(topic, handler_b)
    await asyncio.sleep(settle)
    assert await bus.publish(topic, Note("frame", "x", frame="one")) >= 1
    assert await bus.publish(topic, Note("frame", "x", frame="two")) >= 1
    for _ in range(100):
        if len(got_a) == 2:
            break
        await asyncio.sleep(0.02)
    assert [n.frame for n in got_a] == ["one", "two"]  # in order
    assert len(got_b) == 2
    await sub_a.cancel()
    await sub_b.cancel()
    await asyncio.sleep(settle)
    assert await bus.publish(topic, Note("frame", "x", frame="three")) == 0  # nobody listens any more
    assert await bus.publish("agent.nobody", Note("frame", "x")) == 0


async def test_in_process_bus() -> None:
    await exercise(InProcessBus(), 0)


async def test_redis_bus() -> None:
    await redis_available()
    bus = RedisBus(REDIS_URL)
    await bus.start()
    try:
        await exercise(bus, 0.1)
    finally:
        await bus.close()
