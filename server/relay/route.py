"""A device's current ticket and session as its agent link holds them (`Route`), and the small pure
helpers the link uses on them: which action an agent message is about, what the audit keeps of a
relayed message, a ticket in a new state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from protocol.lifecycle import SessionState
from protocol.messages import ActionResult, ConsentReply, Message
from server.audit import JsonValue
from server.tickets.actions import ActionBook
from server.tickets.lifecycle import TicketState
from server.tickets.store import Ticket


@dataclass
class Route:
    """The device's current ticket/session, as seen by the link that owns it."""

    ticket: Ticket
    engineer_id: str | None = None
    engineer_name: str = ""
    # The engineer's console connection (`EngineerLink.link_id`) that holds the session: the one that
    # accepted it, or the newest that came back for it. Only its going away starts the grace timer.
    engineer_link: str | None = None
    engineer_node: str | None = None  # the server node holding that connection (`Services.node_id`)
    session: SessionState | None = None  # None until the offer is sent
    actions: ActionBook = field(default_factory=ActionBook)
    offer_timer: asyncio.TimerHandle | None = None
    grace_timer: asyncio.TimerHandle | None = None  # running while the engineer's console is away

    @property
    def id(self) -> str:
        return self.ticket.session_id


def action_event_of(message: Message) -> tuple[str, str] | None:
    """The (action id, lifecycle event) an agent message means, if it is about an action."""
    if message.type == "consent.request":
        return message.body.action_id, "consent.request"
    if isinstance(message, ConsentReply):
        return message.body.action_id, f"consent.reply:{message.body.decision}"
    if message.type == "action.progress":
        return message.body.action_id, "action.progress"
    if isinstance(message, ActionResult):
        return message.body.action_id, f"action.result:{message.body.status}"
    return None


def audit_data(message: Message) -> dict[str, JsonValue]:
    """What the audit keeps of a relayed message: its id and body (bounded by the protocol's limits)."""
    data: dict[str, JsonValue] = {"message": message.id}
    data.update(message.body.model_dump(mode="json"))
    return data


def with_state(ticket: Ticket, state: TicketState) -> Ticket:
    return replace(ticket, state=state)
