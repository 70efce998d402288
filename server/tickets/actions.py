"""The actions of one session: which exist, where each is in its lifecycle, how much of a pushed file
has passed.

The lifecycle table itself is the protocol's (`protocol.lifecycle.ACTION_TRANSITIONS`), shared with the
agent; this module adds what only the relay needs: action ids are single-use per session, a bound on
open actions, and file chunks that must arrive in order, only for an allowed file push, never past the
announced size — the server hashes them as they pass so the audit records what was really sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from protocol.errors import ProtocolError
from protocol.lifecycle import FINAL_ACTION_STATES, ActionState, advance_action

MAX_OPEN_ACTIONS = 16


class ActionError(Exception):
    """A message about an action that its lifecycle does not allow."""


@dataclass
class Action:
    id: str
    kind: str
    state: ActionState = ActionState.REQUESTED
    file_size: int | None = None  # announced size of a pushed file
    file_sha256: str | None = None  # announced digest
    received: int = 0  # bytes of the file relayed so far
    sent_all: bool = False  # the last chunk has passed
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)


class ActionBook:
    """The actions of one session. Pure bookkeeping: no I/O."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def check_open(self, action_id: str) -> None:
        """ActionError unless a new action may be opened with `action_id` (changes nothing)."""
        if action_id in self._actions:
            raise ActionError(f"action id {action_id!r} was already used in this session")
        if len(self.open_ids()) >= MAX_OPEN_ACTIONS:
            raise ActionError(f"more than {MAX_OPEN_ACTIONS} actions open at once")

    def open(self, action_id: str, kind: str, size: int | None = None, sha256: str | None = None) -> Action:
        self.check_open(action_id)
        action = Action(action_id, kind, file_size=size, file_sha256=sha256)
        self._actions[action_id] = action
        return action

    def get(self, action_id: str) -> Action:
        try:
            return self._actions[action_id]
        except KeyError:
            raise ActionError(f"no action {action_id!r} in this session") from None

    def check(self, action_id: str, event: str) -> ActionState:
        """The state `event` (e.g. `consent.reply:allowed`) would lead to; ActionError if not allowed."""
        action = self.get(action_id)
        try:
            return advance_action(action.state, event)
        except ProtocolError as exc:
            raise ActionError(f"{action.kind} action: {exc.reason}") from None

    def advance(self, action_id: str, event: str) -> Action:
        action = self.get(action_id)
        action.state = self.check(action_id, event)
        return action

    def check_chunk(self, action_id: str, offset: int, size: int, last: bool) -> Action:
        """ActionError unless a chunk of `size` bytes at `offset` is the next part of an allowed push."""
        action = self.get(action_id)
        if action.kind != "push_file" or action.file_size is None:
            raise ActionError("file chunk for an action that is not a file push")
        if action.state not in (ActionState.ALLOWED, ActionState.RUNNING):
            raise ActionError(f"file chunk for a file push that is {action.state}")
        if offset != action.received:
            raise ActionError(f"chunk at offset {offset}, expected {action.received}")
        if action.received + size > action.file_size:
            raise ActionError("chunk goes past the announced file size")
        if last and action.received + size != action.file_size:
            raise ActionError("last chunk before the announced size was reached")
        return action

    def digest_with(self, action: Action, payload: bytes | memoryview) -> str:
        """The pushed file's SHA-256 if `payload` were its last chunk (changes nothing)."""
        digest = action.digest.copy()
        digest.update(payload)
        return digest.hexdigest()

    def take_chunk(self, action: Action, payload: bytes | memoryview, last: bool = False) -> None:
        action.digest.update(payload)
        action.received += len(payload)
        action.sent_all = action.sent_all or last

    def pushes_in_flight(self) -> list[str]:
        """File pushes the user allowed whose last chunk has not passed: only the console connection that
        started sending can finish them (it alone holds the file)."""
        sending = (ActionState.ALLOWED, ActionState.RUNNING)
        return [
            a.id
            for a in self._actions.values()
            if a.kind == "push_file" and a.state in sending and not a.sent_all
        ]

    def open_ids(self) -> list[str]:
        return [a.id for a in self._actions.values() if a.state not in FINAL_ACTION_STATES]

    def cancel_all(self) -> list[str]:
        """The session ended: every unfinished action is cancelled. Returns their ids."""
        ids = self.open_ids()
        for action_id in ids:
            self._actions[action_id].state = ActionState.CANCELLED
        return ids
