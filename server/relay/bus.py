"""Message routing between connections, behind one small interface so nodes can be added later.

Every connection subscribes to its own topic (`server.relay.notes`: what notes there are, and
which topics). A connection never writes to another connection's
socket directly: it publishes a `Note` to the other side's topic, and the owner of that socket —
in this process or, with `RedisBus`, on another node — validates and delivers it.

`InProcessBus` calls the subscribers straight away (no queue, no task switch), which keeps the relay's
round trip close to a direct WebSocket. `publish` returns how many subscribers got the note, so a
sender learns at once that the other side is gone.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable

from server.relay.notes import Note

log = logging.getLogger("rme.bus")


Handler = Callable[[Note], Awaitable[None]]


class Subscription(abc.ABC):
    @abc.abstractmethod
    async def cancel(self) -> None: ...


class Bus(abc.ABC):
    """Topic-based routing of `Note`s. Delivery is at most once and in order per publisher."""

    @abc.abstractmethod
    async def subscribe(self, topic: str, handler: Handler) -> Subscription: ...

    @abc.abstractmethod
    async def publish(self, topic: str, note: Note) -> int:
        """Deliver `note` to every subscriber of `topic`; returns how many there were."""

    async def ready(self) -> str | None:
        """None if the bus can carry notes now, else why not (for `/ready`)."""
        return None

    async def start(self) -> None:  # noqa: B027  (optional hook)
        """Connect to whatever the bus runs on."""

    async def close(self) -> None:  # noqa: B027  (optional hook)
        """Disconnect."""


class _LocalSubscription(Subscription):
    def __init__(self, bus: InProcessBus, topic: str, handler: Handler) -> None:
        self._bus, self._topic = bus, topic
        self._handler: Handler | None = handler

    async def cancel(self) -> None:
        # Forget the handler too: it is usually a bound method of the link that holds this
        # subscription, and that cycle kept every closed connection (its TLS state and buffers with it)
        # alive until a full garbage collection — the soak's memory growth (docs/server.md).
        handler, self._handler = self._handler, None
        handlers = self._bus.handlers.get(self._topic)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._bus.handlers[self._topic]


class InProcessBus(Bus):
    """Subscribers in this process, called directly by `publish`."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Handler]] = {}

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        self.handlers.setdefault(topic, []).append(handler)
        return _LocalSubscription(self, topic, handler)

    async def publish(self, topic: str, note: Note) -> int:
        handlers = self.handlers.get(topic)
        if not handlers:
            return 0
        for handler in list(handlers):
            try:
                await handler(note)
            except Exception:  # one broken subscriber must not stop delivery to the rest
                log.exception("bus handler failed", extra={"topic": topic, "kind": str(note.kind)})
        return len(handlers)


__all__ = ["Bus", "Handler", "InProcessBus", "Note", "Subscription"]  # Note: `server.relay.notes`
