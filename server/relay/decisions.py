"""The vocabulary of the relay's session core: what it decides (`Decision`) and the effects a link
carries out for it. Pure data, no I/O.

A `Decision` is carried out in a fixed order (by `server.relay.agent_link`):

1. `refusal`: refuse the event (tell the sender, audit the attempt) — and nothing else;
2. `output`, then `record`: keep a command's output, write the audit event; if that fails and
   `must_record`, refuse with `unrecorded` — nothing has changed;
3. `move`: persist the ticket's move (compare-and-set); if it loses, `if_lost` (None: carry on);
4. the core commits the decision's changes (`RelaySession.commit`);
5. `effects`, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.lifecycle import SessionState
from protocol.messages import Envelope
from server.relay.notes import engineer_topic
from server.relay.records import KeptOutput, Record
from server.tickets.lifecycle import Move, Outcome, Party


class Timer(StrEnum):
    OFFER = "offer"  # the user has `offer_timeout` seconds to answer the offer
    GRACE = "grace"  # the engineer's console has `engineer_grace` seconds to come back


@dataclass(frozen=True, slots=True)
class EngineerBinding:
    """Who holds the session: the engineer, the console connection (`link`, `EngineerLink.link_id`)
    that holds it now, and the server node that connection is on (None: not watched for node death)."""

    id: str
    name: str
    link: str | None = None
    node: str | None = None

    @property
    def topic(self) -> str:
        return engineer_topic(self.id)


# -- effects ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refuse:
    """Say no to the party that sent something, and audit the attempt (with the session's id).

    To the agent: a dropped frame (`code` is the drop's reason; a strike against the connection) or,
    if not `strike`, a plain error (nothing was wrong with the frame, the server could not take it).
    To an engineer: an `error` note on `topic` (`sender` is their actor and `session` the session the
    note named, for the audit).
    To the server: nobody is told; the event just goes no further."""

    to: Party
    code: str
    detail: str
    msg_type: str | None = None
    ref: str | None = None
    topic: str = ""
    sender: str = ""
    session: str | None = None
    strike: bool = True


STOP = Refuse(Party.SERVER, "stop", "")


@dataclass(frozen=True, slots=True)
class ToAgent:
    """Write a checked frame from the engineer to the agent's socket; `counted` names it in the metrics."""

    frame: str | bytes
    counted: str


@dataclass(frozen=True, slots=True)
class SendAgent:
    """Send the server's own message to the agent."""

    message: Envelope


@dataclass(frozen=True, slots=True)
class ToEngineer:
    """Publish a frame to the session's engineer (`counted`: relayed from the agent, for the metrics)."""

    topic: str
    sender: str
    frame: str | bytes  # text, or a binary screen frame
    counted: str | None = None


@dataclass(frozen=True, slots=True)
class TellClosed:
    """Tell the engineer's consoles on `topic` that `session` is over (they forget it)."""

    topic: str
    session: str | None


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """The ticket changed (`removed`: left the queue): push it to every engineer's queue."""

    ticket_id: str
    removed: bool = False


@dataclass(frozen=True, slots=True)
class StartTimer:
    timer: Timer
    seconds: float
    link: str | None = None  # the grace timer waits for this console connection


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Finish:
    """End the session: the link asks the core for the end's decision (`RelaySession.end`) and carries
    it out — the one way a session finishes. `actor` None: the end was recorded already."""

    outcome: Outcome
    party: Party
    actor: str | None
    resolution: str | None = None
    note: str | None = None
    notify_agent: bool = True
    notify_engineer: bool = True


@dataclass(frozen=True, slots=True)
class SetServiceItem:
    """The user agreed to change the session's service item (a `service_item` action done): put it on
    the ticket (billing reads it there when the session ends)."""

    item: str


Effect = (
    Refuse
    | ToAgent
    | SendAgent
    | ToEngineer
    | TellClosed
    | QueueChanged
    | StartTimer
    | CancelTimer
    | Finish
    | SetServiceItem
)


# -- changes the core takes on when the decision is committed ----------------------------------------


@dataclass(frozen=True, slots=True)
class OpenAction:
    action_id: str
    kind: str
    size: int | None
    sha256: str | None


@dataclass(frozen=True, slots=True)
class TakeChunk:
    action_id: str
    payload: bytes | memoryview
    last: bool


class Keep:
    """`Decision.away` when the wait for the engineer does not change."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = Keep()


@dataclass(frozen=True, slots=True)
class Decision:
    refusal: Refuse | None = None
    output: KeptOutput | None = None
    record: Record | None = None
    must_record: bool = False
    unrecorded: Refuse | None = None
    move: Move | None = None
    if_lost: Refuse | None = None
    # changes (step 4)
    session: SessionState | None = None
    action: tuple[str, str] | None = None  # (action id, lifecycle event)
    open: OpenAction | None = None
    chunk: TakeChunk | None = None
    engineer: EngineerBinding | None = None
    away: str | Keep | None = KEEP  # the console connection the session waits for, or None
    ends: Outcome | None = None
    effects: tuple[Effect, ...] = ()


NOTHING = Decision()


def refused(refusal: Refuse) -> Decision:
    return Decision(refusal=refusal)


__all__ = [
    "KEEP",
    "NOTHING",
    "STOP",
    "CancelTimer",
    "Decision",
    "Effect",
    "EngineerBinding",
    "Finish",
    "Keep",
    "OpenAction",
    "QueueChanged",
    "Refuse",
    "SendAgent",
    "SetServiceItem",
    "StartTimer",
    "TakeChunk",
    "TellClosed",
    "Timer",
    "ToAgent",
    "ToEngineer",
    "refused",
]
