"""The session book: the agent's session rules as a pure object. Events in, decisions out, no I/O.

Theory of operation. The guard (`agent.session.guard`) turns everything that happens — a message from
the server, a click in the panel, a clock tick, an executor's progress or result — into one call here,
and carries out the decisions it gets back, in order: send this message, show this line to the user,
run this action, stop that one, lock the vault, report the end. The book never awaits, never reads a
clock (callers pass `now`, a monotonic time) and never touches a file or a socket, so every rule is
tested without any (`tests/agent/session/test_book.py`).

What it keeps: the session (`protocol.lifecycle` session table), every action of it (the action table:
a message the table does not allow is never sent), the one consent prompt on screen, the queue of
requests waiting behind it, and command output held for the user's release.

The rules, in the order they apply to one engineer request:
1. no active session, or another session's id → `refused` ("no active session"); a replayed action id
   → ignored (the first request stands);
2. the agent's own policy (the executor's refusal: a vault path, a push the inbox cannot take), or a
   full queue (`MAX_WAITING`) → `refused` before the user is bothered;
3. otherwise the request joins the consent queue. One prompt is on screen at a time; the
   `consent.request` message (with its `timeout_s`) goes to the engineer when the prompt is *shown*,
   and the timeout runs from that moment. A queued request waits, visibly, in `requested` state; the
   kill switch refuses the prompt and every queued request alike. No answer in time means Deny.
4. Allowed → `Execute`. Screen control (`screen_control`) is refused unless the view it names is a
   screen view of this session the user allowed and that is still on.
5. Actions that stay on until stopped (`protocol.actions.STREAM_KINDS`): the stream flows only while
   the action is RUNNING (`frame_allowed`, `input_allowed`); the user stops one (`stop_stream`, from the
   panel or the on-screen indicator), the engineer too (`engineer_stop`, `action.stop`); a view that
   stops takes its controls with it; the kill switch stops them all.
6. A command's output (when the user did not tick "send the output without
   asking me") is held: shown to the user in full, sent only on `release(send=True)`; `release(False)`
   sends the result with the output withheld (`CommandOutcome.withheld`). Results of the built-in
   actions (diagnose, repair, push) go out as they come.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.i18n import Lang, Text
from agent.session import texts
from protocol.actions import (
    STREAM_KINDS,
    ActionOutcome,
    ActionParams,
    CommandOutcome,
    ScreenControlParams,
    ScreenOutcome,
)
from protocol.errors import ProtocolError
from protocol.lifecycle import FINAL_ACTION_STATES, ActionState, SessionState, advance_action, advance_session
from protocol.messages import (
    ActionProgress,
    ActionProgressBody,
    ActionResult,
    ActionResultBody,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    EngineerIdentity,
    Envelope,
    SessionAccept,
    SessionDecline,
    SessionDeclineBody,
)

MAX_WAITING = 100  # requests queued behind the prompt; beyond this the agent refuses (a flood, not work)
HELD_NOTE = "output held for the user's release"  # the progress note the engineer sees meanwhile
Decision = Literal["allowed", "denied", "timed_out", "refused"]
Status = Literal["ok", "failed", "cancelled"]


# -- decisions: what the guard is told to do ---------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send this message to the server (when offline it is dropped; the book has moved on)."""

    message: Envelope


@dataclass(frozen=True)
class Show:
    """One line in the user's feed and log: `template` in both languages, filled with `fields`."""

    kind: str
    template: Text
    detail: str | None = None
    fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Execute:
    """The user allowed it: run the action's executor."""

    action_id: str
    params: ActionParams


@dataclass(frozen=True)
class Stop:
    """The kill switch for one action: kill what it started, delete what it half wrote, cancel it."""

    action_id: str


@dataclass(frozen=True)
class LockVault:
    """Close and lock the vault before the session may be accepted; answer `vault_locked`/`vault_failed`."""

    session: str


@dataclass(frozen=True)
class UnlockVault:
    """The session is over: the user may open the vault again."""


@dataclass(frozen=True)
class SessionStarting:
    """An engineer asks to connect: bring the panel to the user's eyes."""


Effect = Send | Show | Execute | Stop | LockVault | UnlockVault | SessionStarting


# -- what the book keeps ------------------------------------------------------------------------------


@dataclass
class SessionInfo:
    id: str
    ticket_id: str
    engineer: EngineerIdentity
    started: float  # wall-clock seconds, for the panel
    state: SessionState = SessionState.OFFERED


@dataclass
class Prompt:
    """The one question on screen: accept this engineer, or allow this request."""

    id: str
    kind: Literal["session", "action"]
    content: dict[str, Any]  # what the panel shows, in both languages
    shown: float  # monotonic
    timeout_s: float
    action_id: str | None = None
    offers_auto_send: bool = False  # "send the output without asking me" is offered (commands)

    @property
    def deadline(self) -> float:
        return self.shown + self.timeout_s


@dataclass
class ActionRecord:
    id: str
    session: str
    params: ActionParams
    described: Mapping[Lang, Any]  # the executor's `Described`, per language
    holds_output: bool  # its output is the user's to release (commands)
    state: ActionState = ActionState.REQUESTED
    auto_send: bool = False  # the user ticked "send the output without asking me"
    held: CommandOutcome | None = None  # finished, waiting for the user's release
    started: float | None = None  # monotonic, when the user allowed it (how long a screen view ran)
    frames: int = 0  # screen frames sent (a view)

    @property
    def kind(self) -> str:
        return self.params.kind

    def title(self) -> Text:
        return Text(self.described["zh-CN"].title, self.described["en"].title)


@dataclass(frozen=True)
class Ended:
    """What `end` did, for the kill switch's report and the rating question."""

    session: SessionInfo
    was_active: bool
    refused: int  # prompts and queued requests refused
    stopped: tuple[str, ...]  # actions told to stop


class SessionBook:
    def __init__(self, consent_timeout: float) -> None:
        self.consent_timeout = consent_timeout
        self.session: SessionInfo | None = None
        self.actions: dict[str, ActionRecord] = {}
        self.prompt: Prompt | None = None
        self.queue: deque[str] = deque()  # action ids waiting for the prompt, oldest first

    # -- queries ------------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.session is not None and self.session.state is SessionState.ACTIVE

    def live(self, action_id: str) -> bool:
        """The action belongs to the active session and is not finished."""
        record = self.actions.get(action_id)
        return (
            record is not None
            and self.session is not None
            and self.session.id == record.session
            and self.session.state is SessionState.ACTIVE
            and record.state not in FINAL_ACTION_STATES
        )

    def running(self, action_id: str) -> bool:
        """Allowed and not finished: the only time its executor may act (a file chunk may be written)."""
        record = self.actions.get(action_id)
        return (
            self.live(action_id)
            and record is not None
            and record.state
            in (
                ActionState.ALLOWED,
                ActionState.RUNNING,
            )
        )

    def frame_allowed(self, action_id: str) -> bool:
        """A screen frame of `action_id` may leave: a screen view of the active session, RUNNING."""
        record = self.actions.get(action_id)
        return (
            record is not None
            and record.kind == "screen_view"
            and self.live(action_id)
            and record.state is ActionState.RUNNING
        )

    def input_allowed(self, session_id: str | None, action_id: str) -> bool:
        """The engineer's input for `action_id` may reach the screen: control RUNNING, its view too."""
        record = self.actions.get(action_id)
        if (
            record is None
            or record.session != session_id
            or not isinstance(record.params, ScreenControlParams)
        ):
            return False
        return (
            self.live(action_id)
            and record.state is ActionState.RUNNING
            and self.frame_allowed(record.params.view)
        )

    def streams(self) -> list[ActionRecord]:
        """Screen views and controls that are on (the panel shows each with a Stop button)."""
        return [r for r in self.actions.values() if r.kind in STREAM_KINDS and self.running(r.id)]

    def next_deadline(self) -> float | None:
        return self.prompt.deadline if self.prompt is not None else None

    def held(self) -> list[ActionRecord]:
        return [r for r in self.actions.values() if r.held is not None]

    def waiting(self) -> list[ActionRecord]:
        return [self.actions[i] for i in self.queue]

    # -- helpers ------------------------------------------------------------------------------------

    def _move(self, record: ActionRecord, event: str, message: Envelope) -> list[Effect]:
        """Move the action on and send; never sends what the table does not allow."""
        try:
            record.state = advance_action(record.state, event)
        except ProtocolError:
            return []
        return [Send(message)]

    def _show_next(self, now: float) -> list[Effect]:
        """Put the oldest queued request on screen, if the screen is free."""
        out: list[Effect] = []
        while self.prompt is None and self.queue:
            record = self.actions[self.queue.popleft()]
            if not self.live(record.id) or record.state is not ActionState.REQUESTED:
                continue
            timeout = self.consent_timeout
            body = ConsentRequestBody(action_id=record.id, timeout_s=round(timeout))
            out += self._move(record, "consent.request", ConsentRequest(session=record.session, body=body))
            self.prompt = Prompt(
                secrets.token_urlsafe(12),
                "action",
                {
                    "action_id": record.id,
                    "zh-CN": record.described["zh-CN"].to_json(),
                    "en": record.described["en"].to_json(),
                },
                now,
                timeout,
                action_id=record.id,
                offers_auto_send=record.holds_output,
            )
        return out

    # -- the session offer --------------------------------------------------------------------------

    def offer(
        self, session_id: str, ticket_id: str, engineer: EngineerIdentity, now: float, wall: float
    ) -> list[Effect]:
        if self.session is not None and self.session.state in (SessionState.OFFERED, SessionState.ACTIVE):
            decline = SessionDecline(session=session_id, body=SessionDeclineBody(reason="busy"))
            return [Show("session", texts.OFFER_BUSY), Send(decline)]
        info = SessionInfo(session_id, ticket_id, engineer, wall)
        self.session = info
        names = {"name": engineer.name, "id": engineer.id}
        content = {
            "engineer": names,
            "ticket": ticket_id,
            "title": {"zh-CN": texts.OFFER.zh.format(**names), "en": texts.OFFER.en.format(**names)},
        }
        self.prompt = Prompt(secrets.token_urlsafe(12), "session", content, now, self.consent_timeout)
        return [Show("session", texts.OFFER, fields=names), SessionStarting()]

    def _settle_offer(self, decision: Decision) -> list[Effect]:
        info = self.session
        self.prompt = None
        if info is None or info.state is not SessionState.OFFERED:
            return []
        if decision == "allowed":
            return [LockVault(info.id)]
        info.state = advance_session(info.state, "session.decline")
        self.session = None
        text = texts.OFFER_TIMED_OUT if decision == "timed_out" else texts.OFFER_DECLINED
        reason = "timed_out" if decision == "timed_out" else "declined by the user"
        decline = SessionDecline(session=info.id, body=SessionDeclineBody(reason=reason))
        return [Show("session", text, fields={"name": info.engineer.name}), Send(decline)]

    def vault_locked(self, session_id: str, folders: int | None) -> list[Effect]:
        """The vault is closed (`folders` encrypted; None: there is no vault): accept, if still offered."""
        out: list[Effect] = []
        if folders is not None:
            out.append(Show("session", texts.VAULT_CLOSED, fields={"count": folders}))
        info = self.session
        if info is None or info.id != session_id or info.state is not SessionState.OFFERED:
            return [*out, UnlockVault()]  # ended meanwhile: the lock is not needed
        info.state = advance_session(info.state, "session.accept")
        names = {"name": info.engineer.name, "id": info.engineer.id}
        return [
            *out,
            Show("session", texts.OFFER_ACCEPTED, fields=names),
            Send(SessionAccept(session=info.id)),
        ]

    def vault_failed(self, session_id: str, why: str | Text) -> list[Effect]:
        """The vault could not be closed: the session does not start."""
        info = self.session
        if info is None or info.id != session_id or info.state is not SessionState.OFFERED:
            return []
        info.state = advance_session(info.state, "session.decline")
        self.session = None
        decline = SessionDecline(session=info.id, body=SessionDeclineBody(reason="vault"))
        return [Show("session", texts.VAULT_FAILED, fields={"why": why}), Send(decline)]

    # -- one request --------------------------------------------------------------------------------

    def request(
        self,
        session_id: str | None,
        action_id: str,
        params: ActionParams,
        *,
        described: Mapping[Lang, Any],
        refusal: Text | None,
        now: float,
        holds_output: bool = False,
    ) -> list[Effect]:
        """An engineer request. `refusal` is the executor's own policy answer (facts the shell gathered)."""
        info = self.session
        if info is None or info.state is not SessionState.ACTIVE or session_id != info.id:
            body = ConsentReplyBody(action_id=action_id, decision="refused", reason="no active session")
            return [Send(ConsentReply(session=session_id, body=body))]
        if action_id in self.actions:
            return []  # a replayed id: the first request stands, the copy is ignored
        record = ActionRecord(action_id, info.id, params, described, holds_output)
        self.actions[action_id] = record
        title = record.title()
        out: list[Effect] = [
            Show("request", texts.REQUEST, detail=described["en"].verbatim, fields={"title": title})
        ]
        if refusal is None and len(self.queue) >= MAX_WAITING:
            refusal = texts.REFUSED_FLOOD
        if refusal is None and isinstance(params, ScreenControlParams):
            view = self.actions.get(params.view)
            if view is None or view.kind != "screen_view" or not self.running(view.id):
                refusal = texts.SCREEN_NEEDS_VIEW
        if refusal is not None:
            out.append(Show("consent", refusal, fields={"title": title}))
            reason = refusal.en.split("—")[-1].strip()[:200]
            body = ConsentReplyBody(action_id=action_id, decision="refused", reason=reason)
            return out + self._move(record, "consent.reply:refused", ConsentReply(session=info.id, body=body))
        self.queue.append(action_id)
        if self.prompt is not None:
            out.append(Show("consent", texts.QUEUED, fields={"title": title, "ahead": len(self.queue)}))
        return out + self._show_next(now)

    def _settle_action(self, record: ActionRecord, decision: Decision, now: float) -> list[Effect]:
        text = {
            "allowed": texts.ALLOWED,
            "denied": texts.DENIED,
            "timed_out": texts.TIMED_OUT,
            "refused": texts.KILLED,
        }[decision]
        out: list[Effect] = [Show("consent", text, fields={"title": record.title()})]
        reply = ConsentReply(
            session=record.session, body=ConsentReplyBody(action_id=record.id, decision=decision)
        )
        moved = self._move(record, f"consent.reply:{decision}", reply)
        out += moved
        if moved and decision == "allowed":
            if isinstance(record.params, ScreenControlParams) and not self.running(record.params.view):
                # the view was stopped while the user read the prompt: control has nothing to act in
                return out + self._stream_result(record, "view_ended", now, texts.SCREEN_VIEW_ENDED)
            record.started = now
            out.append(Execute(record.id, record.params))
        return out

    # -- the user's answers and the clock -----------------------------------------------------------

    def answer(
        self, prompt_id: str, allow: bool, now: float, send_output: bool = False
    ) -> list[Effect] | None:
        """A click on the prompt on screen; None if there is no such prompt (late, or never shown)."""
        prompt = self.prompt
        if prompt is None or prompt.id != prompt_id or now >= prompt.deadline:
            return None  # a late click never turns a timed-out Deny into an Allow
        decision: Decision = "allowed" if allow else "denied"
        if prompt.kind == "session":
            return self._settle_offer(decision)
        self.prompt = None
        record = self.actions[prompt.action_id or ""]
        record.auto_send = allow and send_output and record.holds_output
        return self._settle_action(record, decision, now) + self._show_next(now)

    def tick(self, now: float) -> list[Effect]:
        """The clock: a prompt past its deadline is answered Deny (timed out)."""
        prompt = self.prompt
        if prompt is None or now < prompt.deadline:
            return []
        if prompt.kind == "session":
            return self._settle_offer("timed_out")
        self.prompt = None
        record = self.actions[prompt.action_id or ""]
        return self._settle_action(record, "timed_out", now) + self._show_next(now)

    # -- the executor's reports ---------------------------------------------------------------------

    def progress(
        self, action_id: str, *, done: int | None = None, total: int | None = None, note: str | None = None
    ) -> list[Effect]:
        record = self.actions.get(action_id)
        if record is None or not self.running(action_id):
            return []
        body = ActionProgressBody(action_id=action_id, done=done, total=total, note=note)
        return self._move(record, "action.progress", ActionProgress(session=record.session, body=body))

    def finished(
        self, action_id: str, status: Status, outcome: ActionOutcome | None, error: str | None
    ) -> list[Effect]:
        """The executor is done. A command's output waits for the user unless they chose to send it."""
        record = self.actions.get(action_id)
        if record is None or not self.running(action_id):
            return []  # ended meanwhile: the session end already cancelled it
        title = record.title()
        if (
            isinstance(outcome, CommandOutcome)
            and record.holds_output
            and not record.auto_send
            and outcome.output
        ):
            record.held = outcome
            fields = {"title": title, "size": len(outcome.output.encode("utf-8"))}
            return [
                Show("result", texts.OUTPUT_HELD, fields=fields),
                *self.progress(action_id, note=HELD_NOTE),
            ]
        out: list[Effect] = []
        if record.kind == "screen_view":  # the view ended on its own (indicator closed, capture failed)
            out += self._stop_controls_of(record.id, None)
        if status == "ok":
            out.append(Show("result", texts.DONE, fields={"title": title}))
        else:
            out.append(Show("result", texts.FAILED, fields={"title": title, "why": error or status}))
        return out + self._result(record, status, outcome, error)

    def _result(
        self, record: ActionRecord, status: Status, outcome: ActionOutcome | None, error: str | None
    ) -> list[Effect]:
        body = ActionResultBody(action_id=record.id, status=status, outcome=outcome, error=error)
        return self._move(record, f"action.result:{status}", ActionResult(session=record.session, body=body))

    # -- actions that stay on until stopped (screen view and control) -----------------------------------

    def _stream_result(self, record: ActionRecord, by: str, now: float | None, text: Text) -> list[Effect]:
        started = record.started if record.started is not None else now
        duration = 0 if now is None or started is None else max(0, round((now - started) * 1000))
        outcome = ScreenOutcome(duration_ms=duration, stopped_by=by, frames=record.frames)  # type: ignore[arg-type]
        return [
            Show("result", text, fields={"title": record.title()}),
            *self._result(record, "ok", outcome, None),
        ]

    def _stop_controls_of(self, view_id: str, now: float | None) -> list[Effect]:
        out: list[Effect] = []
        for other in self.actions.values():
            params = other.params
            if isinstance(params, ScreenControlParams) and params.view == view_id and self.running(other.id):
                out += [
                    Stop(other.id),
                    *self._stream_result(other, "view_ended", now, texts.SCREEN_VIEW_ENDED),
                ]
        return out

    def stop_stream(self, action_id: str, now: float, by: str = "user") -> list[Effect] | None:
        """The user's Stop (panel or on-screen indicator) on a screen view or control; None if there is
        no such stream on. A view takes its controls with it."""
        record = self.actions.get(action_id)
        if record is None or record.kind not in STREAM_KINDS or not self.running(action_id):
            return None
        out: list[Effect] = [Stop(action_id)]
        if record.kind == "screen_view":
            out += self._stop_controls_of(action_id, now)
        return out + self._stream_result(record, by, now, texts.SCREEN_STOPPED)

    def engineer_stop(self, session_id: str | None, action_id: str, now: float) -> list[Effect]:
        """The engineer's `action.stop` for a screen view or control of the active session."""
        record = self.actions.get(action_id)
        if (
            record is None
            or record.session != session_id
            or record.kind not in STREAM_KINDS
            or not self.running(action_id)
        ):
            return []
        record.state = advance_action(record.state, "action.stop")
        out: list[Effect] = [Stop(action_id)]
        if record.kind == "screen_view":
            out += self._stop_controls_of(action_id, now)
        return out + self._stream_result(record, "engineer", now, texts.SCREEN_STOPPED_BY_ENGINEER)

    def frame_sent(self, action_id: str) -> None:
        record = self.actions.get(action_id)
        if record is not None:
            record.frames += 1

    def release(self, action_id: str, send: bool) -> list[Effect] | None:
        """The user's decision on held output: send it as it is, or keep it (the engineer learns only that
        it was withheld). None if there is nothing held under that id."""
        record = self.actions.get(action_id)
        if record is None or record.held is None or not self.running(action_id):
            return None
        outcome, record.held = record.held, None
        fields = {"title": record.title()}
        status: Status = "ok" if outcome.exit_code is not None else "failed"
        error = None if status == "ok" else "timed out"
        if send:
            return [
                Show("result", texts.OUTPUT_SENT, fields=fields),
                *self._result(record, status, outcome, error),
            ]
        kept = outcome.model_copy(update={"output": "", "truncated": False, "withheld": True})
        return [Show("result", texts.OUTPUT_KEPT, fields=fields), *self._result(record, status, kept, error)]

    # -- the end ------------------------------------------------------------------------------------

    def end(self) -> Ended | None:
        """The kill switch, as bookkeeping: the session ends, every open question is refused and every
        unfinished action cancelled. The caller stops the actions (`Ended.stopped`) and reports."""
        info = self.session
        if info is None or info.state not in (SessionState.OFFERED, SessionState.ACTIVE):
            return None
        was_active = info.state is SessionState.ACTIVE
        info.state = advance_session(info.state, "session.end")
        refused = len(self.queue) + (1 if self.prompt is not None else 0)
        self.prompt = None
        self.queue.clear()
        stopped: list[str] = []
        for record in self.actions.values():
            if record.session != info.id or record.state in FINAL_ACTION_STATES:
                continue
            if record.state in (ActionState.ALLOWED, ActionState.RUNNING):
                stopped.append(record.id)
            record.held = None  # never sent: the session it was for is over
            record.state = advance_action(record.state, "session.end")
        self.session = None
        return Ended(info, was_active, refused, tuple(stopped))
