"""The ticket lifecycle as transition tables (after h11's `_state.py`): everything that changes a
ticket's state goes through here.

Theory of operation: a ticket is born `queued` when a user asks for help. An engineer `accept`s it;
the server `offer`s the session to the user (naming the engineer); the user's `user_accept` makes it
`active`. Every road ends in `ended`, and the event that ends it is the outcome. A ticket is a
session: its `session_id` is fixed at birth, so the audit trail of the help request and of the work
done share one id.

`apply` (an event) and `end` (an outcome) are the only ways a state changes: each checks the table
and the party that causes it, and returns a `Move`, which the store persists with one
compare-and-set (`server.tickets.store.transition`: the ticket must still be in `Move.before`), so
two engineers racing for one ticket, or an end racing an accept, cannot both win — on any node.
Anything not in the tables raises `TransitionError`, which the relay turns into a refused frame.

    queued ──accept──▶ accepted ──offer──▶ offered ──user_accept──▶ active
    open states ──end:<outcome>──▶ ended   (which party, which outcome, from where: ENDS)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class TicketState(StrEnum):
    QUEUED = "queued"
    ACCEPTED = "accepted"
    OFFERED = "offered"
    ACTIVE = "active"
    ENDED = "ended"


class Outcome(StrEnum):
    """How a ticket ended (the wire's `session.end` reasons)."""

    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    ENDED_BY_USER = "ended_by_user"
    ENDED_BY_ENGINEER = "ended_by_engineer"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    CONNECTION_LOST = "connection_lost"
    NOT_ENTITLED = "not_entitled"  # billing: the subscription no longer allows it when the session starts


class Event(StrEnum):
    ACCEPT = "accept"
    OFFER = "offer"
    USER_ACCEPT = "user_accept"


class Party(StrEnum):
    """Who causes an event; the relay checks the sender against this before applying it."""

    AGENT = "agent"
    ENGINEER = "engineer"
    SERVER = "server"


class TransitionError(Exception):
    """The event is not allowed in the ticket's current state (or not by that party)."""


S = TicketState
OPEN_STATES = frozenset({S.QUEUED, S.ACCEPTED, S.OFFERED, S.ACTIVE})

TRANSITIONS: Mapping[tuple[TicketState, Event], TicketState] = MappingProxyType(
    {
        (S.QUEUED, Event.ACCEPT): S.ACCEPTED,
        (S.ACCEPTED, Event.OFFER): S.OFFERED,
        (S.OFFERED, Event.USER_ACCEPT): S.ACTIVE,
    }
)

# Who may cause what. The server causes offers.
EVENT_PARTY: Mapping[Event, Party] = MappingProxyType(
    {Event.ACCEPT: Party.ENGINEER, Event.OFFER: Party.SERVER, Event.USER_ACCEPT: Party.AGENT}
)

# (outcome, who ends it) → the states it may end a ticket from. A pair not listed is not allowed.
ENDS: Mapping[tuple[Outcome, Party], frozenset[TicketState]] = MappingProxyType(
    {
        (Outcome.RESOLVED, Party.ENGINEER): frozenset({S.ACTIVE}),
        (Outcome.UNRESOLVED, Party.ENGINEER): frozenset({S.ACTIVE}),
        (Outcome.ENDED_BY_USER, Party.AGENT): OPEN_STATES,
        (Outcome.ENDED_BY_ENGINEER, Party.ENGINEER): frozenset({S.ACCEPTED, S.OFFERED, S.ACTIVE}),
        # A supervisor's kill switch (the server acts for them) ends any open ticket, queued too.
        (Outcome.ENDED_BY_ENGINEER, Party.SERVER): OPEN_STATES,
        (Outcome.DECLINED, Party.AGENT): frozenset({S.OFFERED}),
        (Outcome.TIMED_OUT, Party.SERVER): OPEN_STATES,
        (Outcome.CONNECTION_LOST, Party.SERVER): OPEN_STATES,
        (Outcome.NOT_ENTITLED, Party.SERVER): frozenset({S.QUEUED, S.ACCEPTED}),
    }
)


@dataclass(frozen=True, slots=True)
class Move:
    """A checked change of a ticket's state, for the store to persist with one compare-and-set: the
    stored ticket must still be in one of `before`. `engineer_id` is who accepts; an end carries its
    `outcome` (and the engineer's `resolution` code, if any)."""

    before: frozenset[TicketState]
    after: TicketState
    event: Event | None = None
    outcome: Outcome | None = None
    engineer_id: str | None = None
    resolution: str | None = None


def apply(state: TicketState, event: Event, party: Party, *, engineer_id: str | None = None) -> Move:
    """The move `event` caused by `party` makes from `state`; TransitionError if the table forbids it."""
    if EVENT_PARTY[event] is not party:
        raise TransitionError(f"{event} may only come from the {EVENT_PARTY[event]}, not the {party}")
    try:
        after = TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(f"{event} is not allowed when a ticket is {state}") from None
    if event is Event.ACCEPT and engineer_id is None:
        raise TransitionError("an accept names the engineer who accepts")
    return Move(frozenset({state}), after, event=event, engineer_id=engineer_id)


def end(state: TicketState | None, outcome: Outcome, party: Party, *, resolution: str | None = None) -> Move:
    """The move to `ended` with `outcome` by `party` from `state`; TransitionError if the table forbids it.

    `state=None` ends the ticket from whichever state the table allows (for a ticket whose current
    state is not known here, as in the orphan sweep: the store's compare-and-set checks it)."""
    allowed = ENDS.get((outcome, party))
    if allowed is None:
        raise TransitionError(f"the {party} may not end a ticket as {outcome}")
    if state is not None and state not in allowed:
        raise TransitionError(f"a ticket that is {state} cannot end as {outcome}")
    before = allowed if state is None else frozenset({state})
    return Move(before, S.ENDED, outcome=outcome, resolution=resolution)


__all__ = [
    "ENDS",
    "EVENT_PARTY",
    "OPEN_STATES",
    "TRANSITIONS",
    "Event",
    "Move",
    "Outcome",
    "Party",
    "TicketState",
    "TransitionError",
    "apply",
    "end",
]
