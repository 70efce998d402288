"""The bus behind the relay: in-process, and Redis pub/sub against the local Redis server."""

from __future__ import annotations

import asyncio
import gc
import os
import weakref
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from server.relay.bus import Bus, InProcessBus, Subscription
from server.relay.notes import PAYLOADS, LinkMoved, Note, NoteError, NoteKind, NotePayload, Offer, Refusal
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
    text = Note(NoteKind.FRAME, "engineer:eng", "s_1", '{"type": "chat"}', reply_to="engineer.e_1")
    binary = Note(
        NoteKind.ENGINEER_CHUNK, "engineer:eng", "s_1", b"RMEC\x00\xff" * 100, reply_to="engineer.e_1"
    )
    assert unpack(pack(text)) == text
    assert unpack(pack(binary)) == binary
    assert isinstance(unpack(pack(binary)).frame, bytes)


SAMPLES: dict[NoteKind, NotePayload] = {
    NoteKind.OFFER: Offer(ticket="t_1", engineer="e_1", name="王工 Wang", link="l_1", node="n_1"),
    NoteKind.ENGINEER_AWAY: LinkMoved(link="l_1"),
    NoteKind.ENGINEER_BACK: LinkMoved(link="l_2", node="n_2"),
    NoteKind.ERROR: Refusal(code="ticket.gone", message="the user is no longer waiting", ref=None),
}


@pytest.mark.parametrize("kind", list(NoteKind))
def test_every_kind_round_trips_with_its_typed_payload(kind: NoteKind) -> None:
    note = Note(kind, "engineer:eng", "s_1", "", SAMPLES.get(kind), reply_to="engineer.e_1")
    back = unpack(pack(note))
    assert back == note and back.kind is kind and type(back.payload) is type(note.payload)


def test_a_payload_must_fit_its_kind() -> None:
    assert set(SAMPLES) == set(PAYLOADS)
    with pytest.raises(NoteError):
        Note(NoteKind.OFFER, "x")  # an offer without its fields
    with pytest.raises(NoteError):
        Note(NoteKind.OFFER, "x", payload=LinkMoved(link="l_1"))
    with pytest.raises(NoteError):
        Note(NoteKind.KILL, "x", payload=LinkMoved(link="l_1"))
    assert Note("revoke", "x").kind is NoteKind.REVOKE  # type: ignore[arg-type]  # a plain name is the kind
    with pytest.raises(ValueError, match="not a valid"):
        Note("no.such.kind", "x")  # type: ignore[arg-type]


def test_a_malformed_note_from_redis_is_refused_not_guessed() -> None:
    good = pack(Note(NoteKind.ENGINEER_AWAY, "engineer:eng", "s_1", payload=LinkMoved(link="l_1")))
    unknown_kind = good.replace(b"engineer.away", b"engineer.gone")
    bad_payload = good.replace(b'"link"', b'"lonk"')
    for payload in (unknown_kind, bad_payload, b"\x00\x00", b"\x00\x00\x00\x05[1,2"):
        with pytest.raises(NoteError):
            unpack(payload)


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
    assert await bus.publish(topic, Note(NoteKind.FRAME, "x", frame="one")) >= 1
    assert await bus.publish(topic, Note(NoteKind.FRAME, "x", frame="two")) >= 1
    for _ in range(100):
        if len(got_a) == 2:
            break
        await asyncio.sleep(0.02)
    assert [n.frame for n in got_a] == ["one", "two"]  # in order
    assert len(got_b) == 2
    await sub_a.cancel()
    await sub_b.cancel()
    await asyncio.sleep(settle)
    assert await bus.publish(topic, Note(NoteKind.FRAME, "x", frame="three")) == 0  # nobody listens any more
    assert await bus.publish("agent.nobody", Note(NoteKind.FRAME, "x")) == 0


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


class Subscriber:
    """Subscribes with its own bound method and keeps the subscription, as every link does."""

    def __init__(self) -> None:
        self.subscription: Subscription | None = None

    async def on_note(self, note: Note) -> None:
        pass


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects here: what a cycle keeps stays."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def cancelled_subscriber_is_freed(bus: Bus) -> None:
    subscriber = Subscriber()
    subscriber.subscription = await bus.subscribe(f"agent.d_{os.urandom(4).hex()}", subscriber.on_note)
    await subscriber.subscription.cancel()
    alive = weakref.ref(subscriber)
    del subscriber
    # A closed connection must go at once, not at the next full collection (which, with a large heap,
    # comes only minutes later: the soak's memory grew by every churned connection until then).
    assert alive() is None, "a cancelled subscription still holds its subscriber"


@pytest.mark.usefixtures("no_cyclic_gc")
async def test_in_process_bus_cancel_frees_the_subscriber() -> None:
    await cancelled_subscriber_is_freed(InProcessBus())


@pytest.mark.usefixtures("no_cyclic_gc")
async def test_redis_bus_cancel_frees_the_subscriber() -> None:
    await redis_available()
    bus = RedisBus(REDIS_URL)
    await bus.start()
    try:
        await cancelled_subscriber_is_freed(bus)
    finally:
        await bus.close()
