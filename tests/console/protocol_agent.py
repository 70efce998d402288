"""A protocol-level agent for the console's browser tests: real sockets, real enrollment, but every
message chosen by the test (so it can also misbehave). It runs on an event loop in a thread of its own,
since Playwright's sync API holds the test thread's loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import pytest

from protocol.messages import HelpQueued, HelpRequest, HelpRequestBody, SessionAccept, SessionOffer
from tests.server.helpers import (
    ADMIN,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    logged_in,
    new_customer_code,
)

T = TypeVar("T")


class Background:
    """An event loop in a thread, for the protocol agent (Playwright's sync API holds this thread's)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def background() -> Iterator[Background]:
    bg = Background()
    yield bg
    bg.close()


async def enroll(server: RunningServer) -> ProtocolClient:
    async with logged_in(server, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    return await agent_enroll(server, AgentIdentity(), code)


async def ask(agent: ProtocolClient, words: str) -> str:
    await agent.send(HelpRequest(body=HelpRequestBody(words=words, lang="zh-CN")))
    return (await agent.expect(HelpQueued)).body.ticket_id


async def take_offer(agent: ProtocolClient) -> str:
    offer = await agent.expect(SessionOffer, wait=30)
    assert offer.session is not None
    await agent.send(SessionAccept(session=offer.session))
    return offer.session


async def next_of(agent: ProtocolClient, kind: type[Any], wait: float = 30) -> Any:
    """The next message of `kind`, skipping chunk frames and other kinds."""
    while True:
        message = await agent.recv(wait)
        if isinstance(message, kind):
            return message
