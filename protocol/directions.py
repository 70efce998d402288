"""Who may send each message type to whom — the direction table, as data.

A hop is (sender, receiver) on one connection. A message the server relays has two hops: the
originator → server, then server → the other side. The server forwards a message only if the table lists
the onward hop, and the agent accepts only what the table lets the server send it.

The one-way promise lives here: no type that the agent may send carries file contents or listings, and
binary file chunks travel engineer → server → agent only. `tests/protocol/test_directions.py` proves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Peer(StrEnum):
    AGENT = "agent"
    SERVER = "server"
    ENGINEER = "engineer"


Hop = tuple[Peer, Peer]

A2S: Hop = (Peer.AGENT, Peer.SERVER)
S2A: Hop = (Peer.SERVER, Peer.AGENT)
E2S: Hop = (Peer.ENGINEER, Peer.SERVER)
S2E: Hop = (Peer.SERVER, Peer.ENGINEER)

# The pseudo-type of binary frames (file chunks).
CHUNK = "chunk"
# The pseudo-type of binary screen frames (`protocol.screen`): pixels, agent → server → engineer only.
SCREEN = "screen.frame"

DIRECTION_TABLE: Mapping[str, frozenset[Hop]] = MappingProxyType(
    {
        # connection set-up
        "hello": frozenset({A2S, E2S}),
        "welcome": frozenset({S2A, S2E}),
        "auth.challenge": frozenset({S2A}),
        "auth.response": frozenset({A2S}),
        "auth.ok": frozenset({S2A}),
        "enroll.request": frozenset({A2S}),
        "enroll.ok": frozenset({S2A}),
        "heartbeat": frozenset({A2S, S2A, E2S, S2E}),
        "error": frozenset({A2S, S2A, E2S, S2E}),
        # asking for help
        "help.request": frozenset({A2S}),
        "help.queued": frozenset({S2A}),
        "help.refused": frozenset({S2A}),
        "queue.update": frozenset({S2E}),
        "ticket.accept": frozenset({E2S}),
        # the session
        "session.offer": frozenset({S2A}),
        "session.accept": frozenset({A2S, S2E}),
        "session.decline": frozenset({A2S, S2E}),
        "action.request": frozenset({E2S, S2A}),
        "consent.request": frozenset({A2S, S2E}),
        "consent.reply": frozenset({A2S, S2E}),
        "action.progress": frozenset({A2S, S2E}),
        "action.result": frozenset({A2S, S2E}),
        CHUNK: frozenset({E2S, S2A}),
        "chat": frozenset({A2S, S2A, E2S, S2E}),
        "session.end": frozenset({A2S, S2A, E2S, S2E}),
        "feedback": frozenset({A2S}),
        # after the session: the user's copy of the audit proof
        "audit.evidence": frozenset({S2A}),
        # the screen view: pixels up, the engineer's stop and input down
        SCREEN: frozenset({A2S, S2E}),
        "action.stop": frozenset({E2S, S2A}),
        "screen.input": frozenset({E2S, S2A}),
        # the service catalogue before asking (事前可选) and the service record after (事后可查)
        "catalogue.request": frozenset({A2S}),
        "catalogue": frozenset({S2A}),
        "records.request": frozenset({A2S}),
        "records": frozenset({S2A}),
    }
)

# Types the server forwards within a session, and to whom: everything else ends at the server.
RELAYED_TO: Mapping[str, Peer] = MappingProxyType(
    {
        "session.accept": Peer.ENGINEER,
        "session.decline": Peer.ENGINEER,
        "consent.request": Peer.ENGINEER,
        "consent.reply": Peer.ENGINEER,
        "action.progress": Peer.ENGINEER,
        "action.result": Peer.ENGINEER,
        "action.request": Peer.AGENT,
        CHUNK: Peer.AGENT,
        SCREEN: Peer.ENGINEER,
        "action.stop": Peer.AGENT,
        "screen.input": Peer.AGENT,
    }
)
# `chat` and `session.end` go to the other side of the session whichever side sent them.
RELAYED_TO_OTHER_SIDE: frozenset[str] = frozenset({"chat", "session.end"})


def is_allowed(msg_type: str, sender: Peer, receiver: Peer) -> bool:
    """True if a message of `msg_type` may travel from `sender` to `receiver` on one connection."""
    return (sender, receiver) in DIRECTION_TABLE.get(msg_type, frozenset())


def relay_target(msg_type: str, sender: Peer) -> Peer | None:
    """Where the server forwards a message of `msg_type` received from `sender`, or None (it stops here)."""
    if msg_type in RELAYED_TO_OTHER_SIDE:
        target = Peer.ENGINEER if sender is Peer.AGENT else Peer.AGENT
    else:
        found = RELAYED_TO.get(msg_type)
        if found is None:
            return None
        target = found
    if is_allowed(msg_type, sender, Peer.SERVER) and is_allowed(msg_type, Peer.SERVER, target):
        return target
    return None
