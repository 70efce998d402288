"""What the relay writes down about a relayed message (pure): which action a message is about, what
the audit log keeps of it, and the command output it keeps *beside* the log.

The audit log is append-only and exported to third parties, so it never holds user data: a command's
output is recorded there as its SHA-256 and size only (`output_sha256`, `output_size` in place of
`output`); the text itself goes to the output store (`server.tickets.outputs`), which forgets it after
the retention period. An export attaches the texts still kept, and verification checks each against
the hash in the signed log — so it still proves what the engineer saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from protocol.actions import CommandOutcome
from protocol.messages import ActionResult, ConsentReply, Message
from server.audit.jcs import JsonValue


@dataclass(frozen=True, slots=True)
class Record:
    """An audit event to write: `kind`, who (`actor`), and its fields (the session is the core's)."""

    kind: str
    actor: str
    data: dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class KeptOutput:
    """A command's output to keep in the output store, named by the action and the result message."""

    action_id: str
    message_id: str
    text: str
    sha256: str
    size: int  # bytes of UTF-8


def output_digest(text: str) -> tuple[str, int]:
    """(SHA-256 hex, size in bytes) of an output text as UTF-8: what the audit log records of it."""
    raw = text.encode("utf-8")
    return hashlib.sha256(raw).hexdigest(), len(raw)


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
    """What the audit keeps of a relayed message: its id and body (bounded by the protocol's limits),
    with a command's output replaced by its hash and size (`kept_output` has the text)."""
    data: dict[str, JsonValue] = {"message": message.id}
    body: dict[str, JsonValue] = message.body.model_dump(mode="json")
    outcome = body.get("outcome")
    if isinstance(message, ActionResult) and isinstance(message.body.outcome, CommandOutcome):
        assert isinstance(outcome, dict)
        text = outcome.pop("output")
        assert isinstance(text, str)
        outcome["output_sha256"], outcome["output_size"] = output_digest(text)
    data.update(body)
    return data


def kept_output(message: Message) -> KeptOutput | None:
    """The command output an agent message carries, to keep beside the audit log (None: no output)."""
    if not isinstance(message, ActionResult) or not isinstance(message.body.outcome, CommandOutcome):
        return None
    text = message.body.outcome.output
    digest, size = output_digest(text)
    return KeptOutput(message.body.action_id, message.id, text, digest, size)


__all__ = ["KeptOutput", "Record", "action_event_of", "audit_data", "kept_output", "output_digest"]
