"""The ticket lifecycle as a transition table (after h11's `_state.py`).

Theory of operation: a ticket is born `queued` when a user asks for help. An engineer `accept`s it;
the server `offer`s the session to the user (naming the engineer); the user's `user_accept` makes it
`active`. Every road ends in `ended`, and the event that ends it is the outcome. A ticket is a
session: its `session_id` is fixed at birth, so the audit trail of the help request and of the work
done share one id. An engineer who drops off before the user answers `release`s the ticket back to
the queue for someone else. `apply` is the only way a state changes; anything not in the table
raises `TransitionError`, which the relay turns into a dropped, audited frame.

    queued ──accept──▶ accepted ──offer──▶ offered ──user_accept──▶ active
       ▲                   │                  │                        │
       └─────release───────┴──────────────────┘                        │
    any open state ──end:<outcome>──▶ ended  (which outcomes from where: END_FROM)
"""

from __future__ import annotations

from collections.abc import Mapping
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


class Event(StrEnum):
    ACCEPT = "accept"
    OFFER = "offer"
    USER_ACCEPT = "user_accept"
    RELEASE = "release"


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
        (S.ACCEPTED, Event.RELEASE): S.QUEUED,
        (S.OFFERED, Event.RELEASE): S.QUEUED,
    }
)

# The states each outcome may end a ticket from.
END_FROM: Mapping[Outcome, frozenset[TicketState]] = MappingProxyType(
    {
        Outcome.RESOLVED: frozenset({S.ACTIVE}),
        Outcome.UNRESOLVED: frozenset({S.ACTIVE}),
        Outcome.ENDED_BY_USER: frozenset(OPEN_STATES),
        Outcome.ENDED_BY_ENGINEER: frozenset({S.ACCEPTED, S.OFFERED, S.ACTIVE}),
        Outcome.DECLINED: frozenset({S.OFFERED}),
        Outcome.TIMED_OUT: frozenset(OPEN_STATES),
        Outcome.CONNECTION_LOST: frozenset(OPEN_STATES),
    }
)

# Who may cause what. The server causes offers, releases and the outcomes nobody chose.
EVENT_PARTY: Mapping[Event, Party] = MappingProxyType(
    {
        Event.ACCEPT: Party.ENGINEER,
        Event.OFFER: Party.SERVER,
        Event.USER_ACCEPT: Party.AGENT,
        Event.RELEASE: Party.SERVER,
    }
)
OUTCOME_PARTIES: Mapping[Outcome, frozenset[Party]] = MappingProxyType(
    {
        Outcome.RESOLVED: frozenset({Party.ENGINEER}),
        Outcome.UNRESOLVED: frozenset({Party.ENGINEER}),
        Outcome.ENDED_BY_USER: frozenset({Party.AGENT}),
        Outcome.ENDED_BY_ENGINEER: frozenset({Party.ENGINEER, Party.SERVER}),  # server: supervisor kill
        Outcome.DECLINED: frozenset({Party.AGENT}),
        Outcome.TIMED_OUT: frozenset({Party.SERVER}),
        Outcome.CONNECTION_LOST: frozenset({Party.SERVER}),
    }
)


def apply(state: TicketState, event: Event, party: Party) -> TicketState:
    """The state after `event` caused by `party`; TransitionError if the table does not allow it."""
    if EVENT_PARTY[event] is not party:
        raise TransitionError(f"{event} may only come from the {EVENT_PARTY[event]}, not the {party}")
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(f"{event} is not allowed when a ticket is {state}") from None


def end(state: TicketState, outcome: Outcome, party: Party) -> TicketState:
    """`ended`, if `party` may end a ticket in `state` with `outcome`; TransitionError otherwise."""
    if party not in OUTCOME_PARTIES[outcome]:
        raise TransitionError(f"the {party} may not end a ticket as {outcome}")
    if state not in END_FROM[outcome]:
        raise TransitionError(f"a ticket that is {state} cannot end as {outcome}")
    return S.ENDED
