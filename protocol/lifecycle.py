"""Lifecycles of a support session and of one engineer action, as transition tables.

Both ends keep these: the server to decide what it relays, the agent to decide what it accepts. An
event not in a table is a protocol error (`advance` raises), so an out-of-order message — a result
before consent, an action after the session ended — can never move a lifecycle.

Session (one per accepted ticket):

    OFFERED ──session.accept──▶ ACTIVE ──session.end──▶ ENDED
       ├──session.decline──▶ DECLINED
       └──session.end──────▶ ENDED

Action (one per action.request):

    REQUESTED ──consent.request──▶ AWAITING_CONSENT ──consent.reply(allowed)──▶ ALLOWED
        │                               ├──consent.reply(denied|timed_out)──▶ DENIED
        └──consent.reply(refused)──▶ REFUSED   (agent policy, the user was never asked)
    ALLOWED ──action.progress──▶ RUNNING ──action.progress──▶ RUNNING
    ALLOWED | RUNNING ──action.result(ok|failed|cancelled)──▶ DONE | FAILED | CANCELLED
    any unfinished state ──session ended──▶ CANCELLED

Actions that stay on until stopped (`protocol.actions.STREAM_KINDS`: screen view, screen control) add:

    RUNNING ──screen.frame / screen.input──▶ RUNNING   (the stream flows only while RUNNING)
    ALLOWED | RUNNING ──action.stop──▶ STOPPING ──action.result(ok|failed|cancelled)──▶ DONE | …
    STOPPING ──screen.frame──▶ STOPPING is *not* a row: after the engineer's stop nothing more flows.

The user stops one (panel, on-screen indicator) with an `action.result` straight from RUNNING.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from protocol.errors import ProtocolError


class SessionState(StrEnum):
    OFFERED = "offered"
    ACTIVE = "active"
    DECLINED = "declined"
    ENDED = "ended"


SESSION_TRANSITIONS: Mapping[tuple[SessionState, str], SessionState] = MappingProxyType(
    {
        (SessionState.OFFERED, "session.accept"): SessionState.ACTIVE,
        (SessionState.OFFERED, "session.decline"): SessionState.DECLINED,
        (SessionState.OFFERED, "session.end"): SessionState.ENDED,
        (SessionState.ACTIVE, "session.end"): SessionState.ENDED,
    }
)
# What may flow while a session is in each state (besides the transitions above).
SESSION_TRAFFIC: Mapping[SessionState, frozenset[str]] = MappingProxyType(
    {
        SessionState.OFFERED: frozenset(),
        SessionState.ACTIVE: frozenset(
            {"action.request", "consent.request", "consent.reply", "action.progress", "action.result",
             "chat", "chunk", "action.stop", "screen.frame", "screen.input"}
        ),
        SessionState.DECLINED: frozenset(),
        SessionState.ENDED: frozenset(),
    }
)  # fmt: skip


class ActionState(StrEnum):
    REQUESTED = "requested"
    AWAITING_CONSENT = "awaiting_consent"
    ALLOWED = "allowed"
    DENIED = "denied"
    REFUSED = "refused"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPING = "stopping"  # the engineer asked a screen view or control to stop; its result follows


FINAL_ACTION_STATES = frozenset(
    {ActionState.DENIED, ActionState.REFUSED, ActionState.DONE, ActionState.FAILED, ActionState.CANCELLED}
)

# Events are message types, refined by the decision/status they carry: "consent.reply:allowed".
ACTION_TRANSITIONS: Mapping[tuple[ActionState, str], ActionState] = MappingProxyType(
    {
        (ActionState.REQUESTED, "consent.request"): ActionState.AWAITING_CONSENT,
        (ActionState.REQUESTED, "consent.reply:refused"): ActionState.REFUSED,
        (ActionState.AWAITING_CONSENT, "consent.reply:allowed"): ActionState.ALLOWED,
        (ActionState.AWAITING_CONSENT, "consent.reply:denied"): ActionState.DENIED,
        (ActionState.AWAITING_CONSENT, "consent.reply:timed_out"): ActionState.DENIED,
        (ActionState.AWAITING_CONSENT, "consent.reply:refused"): ActionState.REFUSED,
        (ActionState.ALLOWED, "action.progress"): ActionState.RUNNING,
        (ActionState.RUNNING, "action.progress"): ActionState.RUNNING,
        (ActionState.ALLOWED, "action.result:ok"): ActionState.DONE,
        (ActionState.RUNNING, "action.result:ok"): ActionState.DONE,
        (ActionState.ALLOWED, "action.result:failed"): ActionState.FAILED,
        (ActionState.RUNNING, "action.result:failed"): ActionState.FAILED,
        (ActionState.ALLOWED, "action.result:cancelled"): ActionState.CANCELLED,
        (ActionState.RUNNING, "action.result:cancelled"): ActionState.CANCELLED,
        # actions that stay on until stopped (screen view and control)
        (ActionState.RUNNING, "screen.frame"): ActionState.RUNNING,
        (ActionState.RUNNING, "screen.input"): ActionState.RUNNING,
        (ActionState.ALLOWED, "action.stop"): ActionState.STOPPING,
        (ActionState.RUNNING, "action.stop"): ActionState.STOPPING,
        (ActionState.STOPPING, "action.progress"): ActionState.STOPPING,
        (ActionState.STOPPING, "action.result:ok"): ActionState.DONE,
        (ActionState.STOPPING, "action.result:failed"): ActionState.FAILED,
        (ActionState.STOPPING, "action.result:cancelled"): ActionState.CANCELLED,
        **{
            (state, "session.end"): ActionState.CANCELLED
            for state in ActionState
            if state not in FINAL_ACTION_STATES
        },
    }
)


def advance_session(state: SessionState, event: str) -> SessionState:
    """The session's next state after `event` (a message type); ProtocolError if not allowed."""
    try:
        return SESSION_TRANSITIONS[(state, event)]
    except KeyError:
        raise ProtocolError(f"{event} not allowed in session state {state}") from None


def session_admits(state: SessionState, msg_type: str) -> bool:
    """True if `msg_type` may flow in a session in `state` (transitions or traffic)."""
    return (state, msg_type) in SESSION_TRANSITIONS or msg_type in SESSION_TRAFFIC[state]


def advance_action(state: ActionState, event: str) -> ActionState:
    """The action's next state after `event` (e.g. "consent.reply:allowed"); ProtocolError if not allowed."""
    try:
        return ACTION_TRANSITIONS[(state, event)]
    except KeyError:
        raise ProtocolError(f"{event} not allowed for an action in state {state}") from None


__all__ = [
    "ACTION_TRANSITIONS",
    "FINAL_ACTION_STATES",
    "SESSION_TRAFFIC",
    "SESSION_TRANSITIONS",
    "ActionState",
    "SessionState",
    "advance_action",
    "advance_session",
    "session_admits",
]
