"""The relay's session core: one pure object per support session — no I/O, no clock, no asyncio
(after the sans-I/O cores of h11 and websockets).

Theory of operation. A `RelaySession` holds the ticket (`server.tickets`), the session's state
(`protocol.lifecycle`), the book of its actions (`server.tickets.actions`) and the engineer binding
(who holds it, through which console connection, on which node). The agent's link feeds it events —
a frame from the agent, a frame or file chunk from the engineer, the offer, the engineer's console
going away and coming back, a timeout, a supervisor's kill, the agent's connection lost — and each
returns a `Decision` (`server.relay.decisions`): refuse, record, move the ticket, relay, send, time,
finish. The link carries it out and calls `commit` once the writes it needed are durable; nothing in
the core changes before that, so a refused write leaves it as it was.

Every ticket move comes from the lifecycle tables (`server.tickets.lifecycle.apply` / `end`); every
session move from `protocol.lifecycle`; every action move from the action table. `end` is the one
place a session finishes: every road (the user's End, the engineer's, a timeout, a lost connection,
a supervisor's kill) passes through a `Finish` effect to it.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from protocol.actions import ScreenControlParams, ServiceItemOutcome
from protocol.codec import FileChunk
from protocol.errors import ProtocolError
from protocol.lifecycle import ActionState, SessionState, advance_session, session_admits
from protocol.messages import (
    ActionRequest,
    ActionResult,
    ActionStop,
    EngineerIdentity,
    Error,
    ErrorBody,
    Message,
    ScreenInput,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    SessionOfferBody,
)
from protocol.screen import ScreenFrame
from server.audit.jcs import JsonValue
from server.relay.decisions import (
    NOTHING,
    STOP,
    CancelTimer,
    Decision,
    Effect,
    EngineerBinding,
    Finish,
    Keep,
    OpenAction,
    QueueChanged,
    Refuse,
    SendAgent,
    SetServiceItem,
    StartTimer,
    TakeChunk,
    TellClosed,
    Timer,
    ToAgent,
    ToEngineer,
    refused,
)
from server.relay.notes import LinkMoved, Note, Offer
from server.relay.records import Record, action_event_of, audit_data, kept_output
from server.tickets.actions import ActionBook, ActionError
from server.tickets.lifecycle import Event, Outcome, Party, TransitionError, apply, end
from server.tickets.ticket import Ticket

# Agent messages audited before they are relayed (chat is relayed but not audited: it is the user's
# conversation, kept in the user's own session log on the agent).
AUDITED_FROM_AGENT = frozenset({"consent.reply", "action.result", "session.decline", "session.end"})
# A view in these states was on and has been stopped: its late frames are dropped without a strike.
SCREEN_OVER = frozenset({ActionState.STOPPING, ActionState.DONE, ActionState.CANCELLED, ActionState.FAILED})
# Told to the agent (`file.rejected`) for a push whose sender went away: it deletes the partial file.
PUSH_STOPPED = "the engineer's connection dropped during the transfer"
NOT_RECORDED = "could not be recorded; not relayed"
SUPERVISOR_NOTE = "ended by a supervisor"


def refuse_engineer(note: Note, code: str, detail: str, ref: str | None = None) -> Refuse:
    """Refuse what an engineer sent in `note` (answered on the note's reply topic)."""
    return Refuse(
        Party.ENGINEER,
        code,
        detail[:256],
        ref=ref,
        topic=note.reply_to,
        sender=note.sender,
        session=note.session,
    )


def not_yours(note: Note, ref: str | None = None) -> Refuse:
    return refuse_engineer(note, "session.not_yours", "no such session for this engineer", ref)


def _drop(reason: str, detail: str, msg_type: str, ref: str | None = None) -> Decision:
    return refused(Refuse(Party.AGENT, reason, detail, msg_type=msg_type, ref=ref))


class RelaySession:
    """One device's current ticket and (once offered) support session, as its agent's link holds it."""

    def __init__(self, ticket: Ticket, *, offer_timeout: float, engineer_grace: float) -> None:
        self.ticket = ticket
        self.state: SessionState | None = None  # None until the session is offered
        self.actions = ActionBook()
        self.engineer: EngineerBinding | None = None
        self.away: str | None = None  # the console connection the session is waiting for
        self.outcome: Outcome | None = None  # set once the session has ended
        self.offer_timeout = offer_timeout
        self.engineer_grace = engineer_grace

    @property
    def id(self) -> str:
        return self.ticket.session_id

    @property
    def actor(self) -> str:
        return f"device:{self.ticket.device_id}"

    def from_its_engineer(self, note: Note) -> bool:
        """Is `note` about this session, from the engineer who holds it? (The one place this is asked.)"""
        return (
            self.engineer is not None
            and self.state is not None
            and note.session == self.id
            and note.reply_to == self.engineer.topic
        )

    # -- frames from the agent ---------------------------------------------------------------------

    def agent_frame(self, message: Message, text: str) -> Decision:
        msg_type = message.type
        if self.state is None or message.session != self.id:
            return _drop("session", f"{msg_type} outside this device's session", msg_type)
        if not session_admits(self.state, msg_type):
            return _drop("session", f"{msg_type} not allowed in a {self.state} session", msg_type)
        action_event = action_event_of(message)
        if action_event is not None:
            try:
                self.actions.check(*action_event)
            except ActionError as exc:
                return _drop("action", str(exc), msg_type, message.id)
        if msg_type == "session.accept":
            return self._user_accepts(text)
        outcome: Outcome | None = None
        try:
            if isinstance(message, SessionEnd):
                outcome = Outcome(message.body.reason)
            elif msg_type == "session.decline":
                outcome = Outcome.DECLINED
            if outcome is not None:
                end(self.ticket.state, outcome, Party.AGENT)
        except (ValueError, TransitionError) as exc:
            return _drop("session", str(exc), msg_type, message.id)
        audited = msg_type in AUDITED_FROM_AGENT
        effects: list[Effect] = [self._to_engineer(self.actor, text, None if outcome else msg_type)]
        if outcome is not None:  # the agent's end was recorded above: no second record
            effects.append(Finish(outcome, Party.AGENT, None, notify_agent=False, notify_engineer=False))
        if (
            isinstance(message, ActionResult)
            and message.body.status == "ok"
            and isinstance(message.body.outcome, ServiceItemOutcome)
            and self.actions.get(message.body.action_id).kind == "service_item"
        ):
            effects.append(SetServiceItem(message.body.outcome.item))
        return Decision(
            output=kept_output(message),
            record=Record(msg_type, self.actor, audit_data(message)) if audited else None,
            must_record=True,
            unrecorded=Refuse(Party.AGENT, "server.unavailable", NOT_RECORDED, ref=message.id, strike=False),
            action=action_event,
            effects=tuple(effects),
        )

    def _user_accepts(self, text: str) -> Decision:
        try:
            move = apply(self.ticket.state, Event.USER_ACCEPT, Party.AGENT)
        except TransitionError as exc:
            return _drop("session", str(exc), "session.accept")
        assert self.engineer is not None and self.state is not None
        return Decision(
            record=Record("session.accept", self.actor, {"engineer": self.engineer.id}),
            must_record=True,
            unrecorded=Refuse(
                Party.AGENT, "server.unavailable", "session start could not be recorded", strike=False
            ),
            move=move,
            if_lost=Refuse(Party.AGENT, "session", "the offer is no longer open", msg_type="session.accept"),
            session=advance_session(self.state, "session.accept"),
            effects=(
                CancelTimer(Timer.OFFER),
                QueueChanged(self.ticket.id),
                self._to_engineer(self.actor, text, "session.accept"),
            ),
        )

    def agent_screen(self, frame: ScreenFrame, data: bytes) -> Decision:
        """A screen frame from the agent: relayed only inside the active session, for a screen view
        the user allowed that is on (RUNNING) — never before the Allow, never after a stop or the end."""
        if self.state is not SessionState.ACTIVE or self.engineer is None:
            return _drop("session", "screen frame outside an active session", "screen.frame")
        try:
            action = self.actions.get(frame.action_id)
            if action.kind != "screen_view":
                raise ActionError("screen frame for an action that is not a screen view")
            if action.state in SCREEN_OVER:
                # Sent before the agent heard of the stop (the engineer's `action.stop` crossed it):
                # not relayed, and not held against the agent — a strike per stop would close it.
                return refused(Refuse(Party.SERVER, "screen.late", "screen frame after its view stopped"))
            self.actions.check(frame.action_id, "screen.frame")
        except ActionError as exc:
            return _drop("screen", str(exc), "screen.frame", frame.action_id)
        return Decision(effects=(self._to_engineer(self.actor, data, "screen.frame"),))

    def _to_engineer(self, sender: str, frame: str | bytes, counted: str | None) -> ToEngineer:
        assert self.engineer is not None
        return ToEngineer(self.engineer.topic, sender, frame, counted)

    # -- frames and chunks from the engineer -------------------------------------------------------

    def engineer_frame(self, note: Note, message: Message) -> Decision:
        if not self.from_its_engineer(note):
            return refused(not_yours(note, message.id))
        assert self.state is not None
        msg_type = message.type
        if not session_admits(self.state, msg_type):
            detail = f"{msg_type} not allowed in a {self.state} session"
            return refused(refuse_engineer(note, "session.state", detail, message.id))
        if isinstance(message, SessionEnd):
            try:
                outcome = Outcome(message.body.reason)
                end(self.ticket.state, outcome, Party.ENGINEER)
            except (ValueError, TransitionError) as exc:
                return refused(refuse_engineer(note, "session.state", str(exc), message.id))
            body = message.body
            finish = Finish(
                outcome, Party.ENGINEER, note.sender, body.resolution, body.note, notify_engineer=False
            )
            return Decision(effects=(finish,))
        frame = note.frame if isinstance(note.frame, str) else note.frame.decode()
        relay = ToAgent(frame, msg_type)
        if isinstance(message, ScreenInput | ActionStop):
            return self._screen_from_engineer(note, message, relay)
        if not isinstance(message, ActionRequest):
            return Decision(effects=(relay,))
        action_id, params = message.body.action_id, message.body.action
        try:
            self.actions.check_open(action_id)
            if isinstance(params, ScreenControlParams):
                self._check_view_running(params.view)
        except ActionError as exc:
            return refused(refuse_engineer(note, "action.refused", str(exc), message.id))
        return Decision(
            record=Record("action.request", note.sender, audit_data(message)),
            must_record=True,
            unrecorded=refuse_engineer(note, "server.unavailable", NOT_RECORDED, message.id),
            open=OpenAction(
                action_id, params.kind, getattr(params, "size", None), getattr(params, "sha256", None)
            ),
            effects=(relay,),
        )

    def _check_view_running(self, view_id: str) -> None:
        """ActionError unless `view_id` is a screen view of this session that is on."""
        try:
            view = self.actions.get(view_id)
        except ActionError:
            view = None
        if view is None or view.kind != "screen_view" or view.state is not ActionState.RUNNING:
            raise ActionError("screen control needs a screen view the user allowed and that is on")

    def _screen_from_engineer(
        self, note: Note, message: ScreenInput | ActionStop, relay: ToAgent
    ) -> Decision:
        """The engineer's input (only for a running control whose view runs) or stop of a screen action."""
        action_id = message.body.action_id
        try:
            action = self.actions.get(action_id)
            if isinstance(message, ScreenInput):
                if action.kind != "screen_control":
                    raise ActionError("screen input for an action that is not a screen control")
                self.actions.check(action_id, "screen.input")
                return Decision(effects=(relay,))
            if action.kind not in ("screen_view", "screen_control"):
                raise ActionError("only a screen view or control can be stopped")
            self.actions.check(action_id, "action.stop")
        except ActionError as exc:
            return refused(refuse_engineer(note, "action.refused", str(exc), message.id))
        return Decision(
            record=Record("screen.stop", note.sender, {"action": action_id, "kind": action.kind}),
            must_record=True,
            unrecorded=refuse_engineer(note, "server.unavailable", NOT_RECORDED, message.id),
            action=(action_id, "action.stop"),
            effects=(relay,),
        )

    def engineer_chunk(self, note: Note, chunk: FileChunk, frame: bytes) -> Decision:
        if not self.from_its_engineer(note):
            return refused(not_yours(note))
        try:
            action = self.actions.check_chunk(chunk.action_id, chunk.offset, len(chunk.payload), chunk.last)
        except ActionError as exc:
            return refused(refuse_engineer(note, "action.refused", str(exc), chunk.action_id))
        take = TakeChunk(action.id, chunk.payload, chunk.last)
        relay = ToAgent(frame, "chunk")
        if not chunk.last:
            return Decision(chunk=take, effects=(relay,))
        digest = self.actions.digest_with(action, chunk.payload)
        record = Record(
            "file.pushed",
            note.sender,
            {
                "action": action.id,
                "size": action.received + len(chunk.payload),
                "sha256": digest,
                "announced": action.file_sha256,
            },
        )
        effects: tuple[Effect, ...] = (relay,)
        if digest != action.file_sha256:
            mismatch = "file does not match its announced SHA-256"
            # The agent deletes its partial file now instead of waiting out its idle timeout.
            rejected = Error(
                session=self.id, body=ErrorBody(code="file.rejected", message=mismatch, ref=action.id)
            )
            effects = (refuse_engineer(note, "action.refused", mismatch, action.id), SendAgent(rejected))
        return Decision(
            record=record,
            must_record=True,
            unrecorded=refuse_engineer(note, "server.unavailable", NOT_RECORDED, action.id),
            chunk=take,
            effects=effects,
        )

    # -- the offer -----------------------------------------------------------------------------------

    def takes_offer(self, offer: Offer) -> bool:
        """Is `offer` for this ticket, not offered yet? (If not, the offer is stale: the link says so.)"""
        return offer.ticket == self.ticket.id and self.state is None

    def offer(self, offer: Offer) -> Decision:
        """An engineer accepted the ticket (their link moved it to `accepted`): offer the session."""
        try:
            accepted = apply(self.ticket.state, Event.ACCEPT, Party.ENGINEER, engineer_id=offer.engineer)
            move = apply(accepted.after, Event.OFFER, Party.SERVER)
        except TransitionError:
            return NOTHING
        engineer = EngineerBinding(offer.engineer, offer.name, offer.link, offer.node)
        identity = EngineerIdentity(id=engineer.id, name=engineer.name[:256])
        message = SessionOffer(
            session=self.id, body=SessionOfferBody(ticket_id=self.ticket.id, engineer=identity)
        )
        return Decision(
            move=move,
            if_lost=STOP,
            session=SessionState.OFFERED,
            engineer=engineer,
            effects=(
                SendAgent(message),
                StartTimer(Timer.OFFER, self.offer_timeout),
                QueueChanged(self.ticket.id),
            ),
        )

    # -- the engineer's console going away and coming back -----------------------------------------

    def engineer_away(self, note: Note) -> Decision:
        if not self.from_its_engineer(note) or not isinstance(note.payload, LinkMoved):
            return NOTHING
        assert self.engineer is not None
        link = note.payload.link
        if self.away is not None:
            return NOTHING  # away already
        if self.engineer.link not in (None, link):  # None: offered by a node that did not say which
            return NOTHING  # from an older connection that no longer holds the session
        return self._wait_for_engineer(link, note.sender, {})

    def engineer_node_lost(self, node: str) -> Decision:
        """The server node holding the engineer's console connection died: that connection is gone
        without having said so, so the session waits for the engineer as if it had."""
        if self.state is None or self.engineer is None or self.engineer.node != node or self.away is not None:
            return NOTHING
        return self._wait_for_engineer(self.engineer.link or "", "system", {"node_lost": node})

    def _wait_for_engineer(self, link: str, actor: str, detail: dict[str, JsonValue]) -> Decision:
        assert self.engineer is not None
        engineer = replace(self.engineer, link=link)
        if self.engineer_grace <= 0:  # no waiting: the session ends with the connection that held it
            return Decision(
                engineer=engineer, effects=(Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system"),)
            )
        # Pushes in flight cannot go on without the connection that was sending them: the agent is
        # told at once, so it deletes the partial file now instead of at its idle timeout.
        stopped = self.actions.pushes_in_flight()
        tell: list[Effect] = [
            SendAgent(
                Error(session=self.id, body=ErrorBody(code="file.rejected", message=PUSH_STOPPED, ref=a))
            )
            for a in stopped
        ]
        data: dict[str, JsonValue] = {
            "link": link,
            "grace_s": self.engineer_grace,
            "stopped_pushes": list(stopped),
            **detail,
        }
        return Decision(
            record=Record("session.engineer_away", actor, data),  # not refusable: the end comes anyway
            engineer=engineer,
            away=link,
            effects=(*tell, StartTimer(Timer.GRACE, self.engineer_grace, link)),
        )

    def engineer_back(self, note: Note) -> Decision:
        if not self.from_its_engineer(note) or not isinstance(note.payload, LinkMoved):
            return self.not_here(note)
        assert self.engineer is not None
        moved = note.payload
        previous = self.engineer.link
        return Decision(
            record=Record("session.engineer_back", note.sender, {"link": moved.link, "previous": previous}),
            engineer=replace(self.engineer, link=moved.link, node=moved.node),
            away=None,
            effects=(CancelTimer(Timer.GRACE),),
        )

    @staticmethod
    def not_here(note: Note) -> Decision:
        """An engineer's console came back for a session this device no longer has: it is over."""
        if note.reply_to and note.session is not None:
            return Decision(effects=(TellClosed(note.reply_to, note.session),))
        return NOTHING

    # -- timers, kill, lost connection ---------------------------------------------------------------

    def timeout(self, timer: Timer, link: str | None = None) -> Decision:
        if timer is Timer.OFFER and self.state is SessionState.OFFERED:
            return Decision(effects=(Finish(Outcome.TIMED_OUT, Party.SERVER, "system"),))
        if timer is Timer.GRACE and self.away is not None and self.engineer and self.engineer.link == link:
            # Told to the engineer too: another console of theirs may be open without holding it.
            return Decision(away=None, effects=(Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system"),))
        return NOTHING

    def kill(self, note: Note) -> Decision:
        """A supervisor's kill switch (the server acts for them)."""
        if note.session != self.id:
            return NOTHING
        finish = Finish(Outcome.ENDED_BY_ENGINEER, Party.SERVER, note.sender, note=SUPERVISOR_NOTE)
        return Decision(effects=(finish,))

    def connection_lost(self) -> Decision:
        """The agent's connection closed."""
        return Decision(
            effects=(Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system", notify_agent=False),)
        )

    # -- the end -------------------------------------------------------------------------------------

    def end(self, finish: Finish) -> Decision:
        """How the session finishes, whoever ends it: record (never refused: the kill switch must
        work), move the ticket to `ended`, cancel open actions, tell the sides that did not end it."""
        move = end(self.ticket.state, finish.outcome, finish.party, resolution=finish.resolution)
        record = None
        if finish.actor is not None:
            data: dict[str, JsonValue] = {
                "reason": finish.outcome.value,
                "resolution": finish.resolution,
                "note": finish.note,
                "ticket": self.ticket.id,
            }
            record = Record("session.end", finish.actor, data)
        message = SessionEnd(
            session=self.id, body=SessionEndBody(reason=finish.outcome.value, resolution=finish.resolution)
        )
        effects: list[Effect] = [CancelTimer(Timer.OFFER), CancelTimer(Timer.GRACE)]
        if finish.notify_agent and self.state is not None:
            effects.append(SendAgent(message))
        if self.engineer is not None:
            if finish.notify_engineer:
                effects.append(ToEngineer(self.engineer.topic, "server", message.model_dump_json()))
            effects.append(TellClosed(self.engineer.topic, self.id))
        effects.append(QueueChanged(self.ticket.id, removed=True))
        return Decision(record=record, move=move, away=None, ends=finish.outcome, effects=tuple(effects))

    # -- committing ------------------------------------------------------------------------------------

    def commit(self, decision: Decision) -> None:
        """Take on the changes of `decision`, once the link has made its writes durable."""
        if decision.move is not None:
            self.ticket = replace(
                self.ticket,
                state=decision.move.after,
                engineer_id=decision.move.engineer_id or self.ticket.engineer_id,
            )
        if decision.engineer is not None:
            self.engineer = decision.engineer
            self.ticket = replace(self.ticket, engineer_id=decision.engineer.id)
        if decision.session is not None:
            self.state = decision.session
        if decision.action is not None:
            self.actions.advance(*decision.action)
        if decision.open is not None:
            o = decision.open
            self.actions.open(o.action_id, o.kind, o.size, o.sha256)
        if decision.chunk is not None:
            c = decision.chunk
            self.actions.take_chunk(self.actions.get(c.action_id), c.payload, c.last)
        if not isinstance(decision.away, Keep):
            self.away = decision.away
        if decision.ends is not None:
            self.actions.cancel_all()
            self.outcome = decision.ends
            if self.state is not None:
                event = "session.decline" if decision.ends is Outcome.DECLINED else "session.end"
                with contextlib.suppress(ProtocolError):  # one already ended or declined stays so
                    self.state = advance_session(self.state, event)


__all__ = ["AUDITED_FROM_AGENT", "PUSH_STOPPED", "RelaySession", "not_yours", "refuse_engineer"]
