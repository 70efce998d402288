"""What travels on the bus between connections: typed notes and the topics they go to.

A `Note` is one routed item. Its `kind` (`NoteKind`) says what the receiver does with it; kinds that
carry fields instead of (or beside) a wire frame carry a typed `payload` (`PAYLOADS` says which model
for which kind, and `Note` refuses a mismatch). Every connection subscribes to its own topic
(`agent.<device id>`, `engineer.<engineer id>`); engineers also to `engineers` (queue updates).

To an agent's link (`agent_topic`):
  `engineer.frame` / `engineer.chunk` an engineer's session frame or file chunk, to check and relay;
  `offer` (`Offer`) an engineer accepted the device's ticket: offer the session to the user;
  `engineer.away` / `engineer.back` (`LinkMoved`) the engineer's console connection went away / came back;
  `kill` a supervisor ends the session; `revoke` the device was revoked: close the connection.
To an engineer's links (`engineer_topic`, `ENGINEERS_TOPIC`):
  `frame` a checked frame to write to the console; `queue` a queue update frame;
  `session.closed` the session is over (forget it); `error` (`Refusal`) a refusal to tell the console;
  `kick` the account was disabled: close the connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ENGINEERS_TOPIC = "engineers"


def agent_topic(device_id: str) -> str:
    return f"agent.{device_id}"


def engineer_topic(engineer_id: str) -> str:
    return f"engineer.{engineer_id}"


class NoteKind(StrEnum):
    # to an agent's link
    ENGINEER_FRAME = "engineer.frame"
    ENGINEER_CHUNK = "engineer.chunk"
    OFFER = "offer"
    ENGINEER_AWAY = "engineer.away"
    ENGINEER_BACK = "engineer.back"
    KILL = "kill"
    REVOKE = "revoke"
    # to an engineer's links
    FRAME = "frame"
    QUEUE = "queue"
    SESSION_CLOSED = "session.closed"
    ERROR = "error"
    KICK = "kick"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Short = Annotated[str, Field(max_length=256)]


class Offer(_Payload):
    """An engineer accepted `ticket`; `link` is the console connection that holds the session and
    `node` the server node it is on (if that node dies, the agent's node starts the engineer's grace)."""

    ticket: Short
    engineer: Short
    name: Short = ""
    link: Short | None = None
    node: Short | None = None


class LinkMoved(_Payload):
    """An engineer's console connection `link` went away, or came back (`node`: where it is now; None
    from a node that does not say, and then it is not watched for node death)."""

    link: Short
    node: Short | None = None


class Refusal(_Payload):
    """An error to show the engineer's console (`protocol.messages.ErrorBody` fields)."""

    code: Short
    message: Short = ""
    ref: Short | None = None


NotePayload = Offer | LinkMoved | Refusal

PAYLOADS: Mapping[NoteKind, type[Offer] | type[LinkMoved] | type[Refusal]] = MappingProxyType(
    {
        NoteKind.OFFER: Offer,
        NoteKind.ENGINEER_AWAY: LinkMoved,
        NoteKind.ENGINEER_BACK: LinkMoved,
        NoteKind.ERROR: Refusal,
    }
)


class NoteError(ValueError):
    """A note whose payload does not fit its kind."""


@dataclass(frozen=True, slots=True)
class Note:
    """One routed item: `kind`, who sent it (`sender`, an audit actor) and which session it is about;
    `frame` is a wire frame (text as `str`, a binary file chunk as `bytes`) or empty; `payload` the
    kind's fields; `reply_to` the topic that hears about refusals (the sender's own topic)."""

    kind: NoteKind
    sender: str
    session: str | None = None
    frame: str | bytes = ""
    payload: NotePayload | None = None
    reply_to: str = ""
    # The frame already decoded by the sender's link, when the note never left this process
    # (saves decoding twice); the Redis bus drops it and the receiver decodes `frame` again.
    message: object = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if type(self.kind) is not NoteKind:  # a plain string names a kind too; unknown ones fail here
            object.__setattr__(self, "kind", NoteKind(self.kind))
        model = PAYLOADS.get(self.kind)
        if model is None and self.payload is not None:
            raise NoteError(f"a {self.kind} note carries no payload")
        if model is not None and not isinstance(self.payload, model):
            raise NoteError(f"a {self.kind} note carries a {model.__name__}")


def parse_payload(kind: NoteKind, fields: object) -> NotePayload | None:
    """The payload of a `kind` note from its JSON fields (a note that crossed Redis); NoteError if bad."""
    model = PAYLOADS.get(kind)
    if model is None:
        if fields is not None:
            raise NoteError(f"a {kind} note carries no payload")
        return None
    try:
        payload: NotePayload = model.model_validate(fields)
    except ValueError as exc:
        raise NoteError(f"bad {kind} payload: {exc}") from None
    return payload


__all__ = [
    "ENGINEERS_TOPIC",
    "PAYLOADS",
    "LinkMoved",
    "Note",
    "NoteError",
    "NoteKind",
    "NotePayload",
    "Offer",
    "Refusal",
    "agent_topic",
    "engineer_topic",
    "parse_payload",
]
