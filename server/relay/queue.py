"""The engineers' queue, live: each change of a ticket is pushed to every engineer console (on every
node) as a `queue.update` on the `engineers` topic."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.messages import QueueUpdate, QueueUpdateBody, TicketSummary
from server.relay.bus import Bus
from server.relay.notes import ENGINEERS_TOPIC, Note, NoteKind
from server.tickets import store as tickets


async def announce(
    engine: AsyncEngine, bus: Bus, changed: Sequence[str] = (), removed: Sequence[str] = ()
) -> None:
    """Push the summaries of the `changed` tickets and the ids of the `removed` ones to every engineer."""
    summaries = await tickets.summaries(engine, list(changed)) if changed else []
    await push(bus, summaries, removed)


async def push(bus: Bus, changed: Sequence[TicketSummary], removed: Sequence[str] = ()) -> None:
    """Push summaries already at hand (a new ticket's: `tickets.new_summary`)."""
    update = QueueUpdate(body=QueueUpdateBody(changed=list(changed), removed=list(removed)))
    await bus.publish(ENGINEERS_TOPIC, Note(NoteKind.QUEUE, "server", frame=update.model_dump_json()))


__all__ = ["announce", "push"]
