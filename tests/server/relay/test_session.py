"""The relay's session core (`server.relay.session`), with no I/O: events in, decisions out. Every
refusal, every row of the session and action tables as the core walks them, and every way a session
ends; the links that carry the decisions out are tested with real servers in the other files here."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import pytest

from protocol.actions import ActionParams, CommandOutcome, CommandParams, DiagnoseParams, PushFileParams
from protocol.codec import FileChunk
from protocol.lifecycle import (
    ACTION_TRANSITIONS,
    SESSION_TRAFFIC,
    SESSION_TRANSITIONS,
    ActionState,
    SessionState,
)
from protocol.messages import (
    ActionProgress,
    ActionProgressBody,
    ActionRequest,
    ActionRequestBody,
    ActionResult,
    ActionResultBody,
    Chat,
    ChatBody,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    Error,
    Message,
    SessionAccept,
    SessionDecline,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
)
from server.relay.decisions import (
    NOTHING,
    STOP,
    CancelTimer,
    Decision,
    Finish,
    QueueChanged,
    Refuse,
    SendAgent,
    StartTimer,
    TellClosed,
    Timer,
    ToAgent,
    ToEngineer,
)
from server.relay.notes import LinkMoved, Note, NoteKind, Offer, engineer_topic
from server.relay.records import output_digest
from server.relay.session import PUSH_STOPPED, RelaySession
from server.tickets.actions import MAX_OPEN_ACTIONS
from server.tickets.lifecycle import Outcome, Party, TicketState
from server.tickets.ticket import Ticket

SESSION = "s_core"
ENGINEER = "e_1"
TOPIC = engineer_topic(ENGINEER)
OFFER_S, GRACE_S = 120.0, 20.0


def ticket() -> Ticket:
    return Ticket(
        id="t_core", session_id=SESSION, device_id="d_1", customer_id="c_1", state=TicketState.QUEUED,
        engineer_id=None, words="no internet", lang="en", created_at=dt.datetime.now(dt.UTC), report=None,
    )  # fmt: skip


def carry(core: RelaySession, decision: Decision) -> Decision:
    """What a link does when every write succeeds: commit, then follow a `Finish` to its end."""
    assert decision.refusal is None, decision.refusal
    core.commit(decision)
    for effect in decision.effects:
        if isinstance(effect, Finish):
            carry(core, core.end(effect))
    return decision


def offered(grace: float = GRACE_S) -> RelaySession:
    core = RelaySession(ticket(), offer_timeout=OFFER_S, engineer_grace=grace)
    carry(core, core.offer(Offer(ticket="t_core", engineer=ENGINEER, name="Wang", link="l_1", node="n_1")))
    return core


def active(grace: float = GRACE_S) -> RelaySession:
    core = offered(grace)
    carry(core, core.agent_frame(SessionAccept(session=SESSION), "{}"))
    return core


def from_engineer(message: Message, *, topic: str = TOPIC, session: str | None = SESSION) -> Note:
    return Note(NoteKind.ENGINEER_FRAME, "engineer:eng", session, message.model_dump_json(), reply_to=topic)


def request(action_id: str = "a_1", params: ActionParams | None = None) -> ActionRequest:
    return ActionRequest(
        session=SESSION, body=ActionRequestBody(action_id=action_id, action=params or DiagnoseParams())
    )


def with_action(core: RelaySession, state: ActionState, action_id: str = "a_1") -> None:
    carry(core, core.engineer_frame(from_engineer(request(action_id)), request(action_id)))
    core.actions.get(action_id).state = state


def agent_refusal(decision: Decision) -> Refuse:
    assert decision.refusal is not None and decision.refusal.to is Party.AGENT
    return decision.refusal


def engineer_refusal(decision: Decision, code: str) -> Refuse:
    assert decision.refusal is not None and decision.refusal.to is Party.ENGINEER, decision
    assert decision.refusal.code == code and decision.refusal.topic == TOPIC
    return decision.refusal


# -- the offer and the user's answer ---------------------------------------------------------------


def test_an_offer_binds_the_engineer_moves_the_ticket_and_starts_the_clock() -> None:
    core = RelaySession(ticket(), offer_timeout=OFFER_S, engineer_grace=GRACE_S)
    offer = Offer(ticket="t_core", engineer=ENGINEER, name="Wang", link="l_1", node="n_1")
    assert core.takes_offer(offer) and not core.takes_offer(offer.model_copy(update={"ticket": "t_other"}))
    decision = core.offer(offer)
    assert decision.move is not None and decision.move.before == {TicketState.ACCEPTED}
    assert decision.move.after is TicketState.OFFERED and decision.if_lost is STOP
    assert (core.engineer, core.state) == (None, None)  # nothing changes before the move is persisted
    core.commit(decision)
    assert core.state is SessionState.OFFERED and core.ticket.state is TicketState.OFFERED
    assert core.engineer is not None and core.engineer.link == "l_1" and core.ticket.engineer_id == ENGINEER
    sent, timer, queue = decision.effects
    assert isinstance(sent, SendAgent) and isinstance(sent.message, SessionOffer)
    assert sent.message.body.engineer.name == "Wang"
    assert timer == StartTimer(Timer.OFFER, OFFER_S) and queue == QueueChanged("t_core")
    assert not core.takes_offer(offer)  # offered already: a second offer is stale


def test_the_users_accept_is_recorded_moved_then_relayed() -> None:
    core = offered()
    decision = core.agent_frame(SessionAccept(session=SESSION), '{"accept"}')
    assert decision.record is not None and decision.record.kind == "session.accept" and decision.must_record
    assert decision.record.data == {"engineer": ENGINEER}
    assert decision.unrecorded is not None and decision.unrecorded.code == "server.unavailable"
    assert not decision.unrecorded.strike  # the frame was fine; the server could not take it
    assert decision.move is not None and decision.move.after is TicketState.ACTIVE
    assert decision.if_lost is not None and decision.if_lost.code == "session"
    assert decision.effects == (
        CancelTimer(Timer.OFFER),
        QueueChanged("t_core"),
        ToEngineer(TOPIC, "device:d_1", '{"accept"}', "session.accept"),
    )
    core.commit(decision)
    assert core.state is SessionState.ACTIVE and core.ticket.state is TicketState.ACTIVE


def test_a_decline_ends_the_session_as_declined() -> None:
    core = offered()
    decision = core.agent_frame(SessionDecline(session=SESSION), "{}")
    assert decision.record is not None and decision.record.kind == "session.decline"
    finish = decision.effects[-1]
    assert finish == Finish(Outcome.DECLINED, Party.AGENT, None, notify_agent=False, notify_engineer=False)
    carry(core, decision)
    assert core.state is SessionState.DECLINED and core.ticket.state is TicketState.ENDED
    assert core.outcome is Outcome.DECLINED


def test_the_offer_times_out_only_while_it_is_open() -> None:
    core = offered()
    assert core.timeout(Timer.OFFER).effects == (Finish(Outcome.TIMED_OUT, Party.SERVER, "system"),)
    carry(core, core.agent_frame(SessionAccept(session=SESSION), "{}"))
    assert core.timeout(Timer.OFFER) is NOTHING


def test_an_offer_for_a_ticket_in_the_wrong_state_changes_nothing() -> None:
    core = active()
    assert core.offer(Offer(ticket="t_core", engineer=ENGINEER)) is NOTHING


# -- agent frames: every refusal -------------------------------------------------------------------


def test_agent_frames_outside_the_session_are_dropped() -> None:
    core = RelaySession(ticket(), offer_timeout=OFFER_S, engineer_grace=GRACE_S)
    refusal = agent_refusal(core.agent_frame(SessionAccept(session=SESSION), "{}"))  # not offered yet
    assert refusal.code == "session" and refusal.strike and "outside" in refusal.detail
    core = active()
    refusal = agent_refusal(core.agent_frame(Chat(session="s_other", body=ChatBody(text="hi")), "{}"))
    assert refusal.code == "session" and refusal.msg_type == "chat"
    refusal = agent_refusal(core.agent_frame(Chat(body=ChatBody(text="hi")), "{}"))  # no session named
    assert refusal.code == "session"


AGENT_SESSION_MESSAGES: dict[str, Message] = {
    "session.accept": SessionAccept(session=SESSION),
    "session.decline": SessionDecline(session=SESSION),
    "session.end": SessionEnd(session=SESSION, body=SessionEndBody(reason="ended_by_user")),
    "chat": Chat(session=SESSION, body=ChatBody(text="hi")),
}


@pytest.mark.parametrize(
    ("state", "msg_type"),
    list(itertools.product([SessionState.OFFERED, SessionState.ACTIVE], AGENT_SESSION_MESSAGES)),
)
def test_every_session_row_as_the_core_walks_it(state: SessionState, msg_type: str) -> None:
    core = offered() if state is SessionState.OFFERED else active()
    decision = core.agent_frame(AGENT_SESSION_MESSAGES[msg_type], "{}")
    admitted = (state, msg_type) in SESSION_TRANSITIONS or msg_type in SESSION_TRAFFIC[state]
    if not admitted:
        assert agent_refusal(decision).code == "session"
        return
    carry(core, decision)
    if (state, msg_type) in SESSION_TRANSITIONS:
        assert core.state is SESSION_TRANSITIONS[(state, msg_type)]
    else:
        assert core.state is state


def test_an_agent_cannot_end_a_session_with_the_engineers_outcome() -> None:
    core = active()
    for reason in ("resolved", "ended_by_engineer", "timed_out"):
        end = SessionEnd(session=SESSION, body=SessionEndBody(reason=reason))
        refusal = agent_refusal(core.agent_frame(end, "{}"))
        assert refusal.code == "session" and refusal.ref == end.id
    assert core.state is SessionState.ACTIVE and core.ticket.state is TicketState.ACTIVE


def action_message(event: str, action_id: str = "a_1") -> Message:
    """The agent message that means `event` for an action."""
    kind, _, detail = event.partition(":")
    if kind == "consent.request":
        return ConsentRequest(session=SESSION, body=ConsentRequestBody(action_id=action_id, timeout_s=60))
    if kind == "consent.reply":
        return ConsentReply(session=SESSION, body=ConsentReplyBody(action_id=action_id, decision=detail))  # type: ignore[arg-type]
    if kind == "action.progress":
        return ActionProgress(session=SESSION, body=ActionProgressBody(action_id=action_id, done=1))
    assert kind == "action.result"
    return ActionResult(session=SESSION, body=ActionResultBody(action_id=action_id, status=detail))  # type: ignore[arg-type]


# The rows an agent's message walks (the screen stream's rows are walked by the tests at the end).
AGENT_EVENTS = ("consent.request", "consent.reply", "action.progress", "action.result")
ACTION_EVENTS = sorted({event for _, event in ACTION_TRANSITIONS if event.split(":")[0] in AGENT_EVENTS})


@pytest.mark.parametrize(("state", "event"), list(itertools.product(ActionState, ACTION_EVENTS)))
def test_every_action_row_as_the_core_walks_it(state: ActionState, event: str) -> None:
    core = active()
    with_action(core, state)
    decision = core.agent_frame(action_message(event), "{}")
    if (state, event) not in ACTION_TRANSITIONS:
        refusal = agent_refusal(decision)
        assert refusal.code == "action" and core.actions.get("a_1").state is state
        return
    assert core.actions.get("a_1").state is state  # not before the commit
    carry(core, decision)
    assert core.actions.get("a_1").state is ACTION_TRANSITIONS[(state, event)]


@pytest.mark.parametrize("state", [s for s in ActionState if (s, "session.end") in ACTION_TRANSITIONS])
def test_an_end_cancels_every_unfinished_action(state: ActionState) -> None:
    core = active()
    with_action(core, state)
    carry(core, core.kill(Note(NoteKind.KILL, "engineer:sup", SESSION)))
    assert core.actions.get("a_1").state is ActionState.CANCELLED


def test_a_message_about_an_unknown_action_is_dropped() -> None:
    core = active()
    refusal = agent_refusal(core.agent_frame(action_message("consent.request", "a_nobody"), "{}"))
    assert refusal.code == "action" and "no action" in refusal.detail


def test_audited_agent_messages_must_be_recorded_before_they_are_relayed() -> None:
    core = active()
    with_action(core, ActionState.AWAITING_CONSENT)
    reply = action_message("consent.reply:allowed")
    decision = core.agent_frame(reply, "frame")
    assert decision.record is not None and decision.record.kind == "consent.reply" and decision.must_record
    assert decision.record.data["decision"] == "allowed" and decision.record.data["message"] == reply.id
    assert decision.unrecorded == Refuse(
        Party.AGENT, "server.unavailable", "could not be recorded; not relayed", ref=reply.id, strike=False
    )
    assert decision.effects == (ToEngineer(TOPIC, "device:d_1", "frame", "consent.reply"),)
    # Progress and chat are relayed without an audit record.
    core.commit(decision)
    progress = core.agent_frame(action_message("action.progress"), "p")
    assert progress.record is None and progress.effects == (
        ToEngineer(TOPIC, "device:d_1", "p", "action.progress"),
    )


def test_a_command_output_is_recorded_as_its_hash_and_kept_beside_the_log() -> None:
    core = active()
    with_action(core, ActionState.RUNNING)
    text = "secret 密码\n" + "x" * 1000
    outcome = CommandOutcome(exit_code=0, output=text, duration_ms=5)
    result = ActionResult(
        session=SESSION, body=ActionResultBody(action_id="a_1", status="ok", outcome=outcome)
    )
    decision = core.agent_frame(result, "frame")
    assert decision.record is not None
    recorded = decision.record.data["outcome"]
    assert isinstance(recorded, dict) and "output" not in recorded
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert recorded["output_sha256"] == digest and recorded["output_size"] == len(text.encode())
    assert text not in str(decision.record.data)
    kept = decision.output
    assert kept is not None and kept.text == text and kept.sha256 == digest and kept.message_id == result.id
    assert (kept.sha256, kept.size) == output_digest(text)
    # An empty output (none, or withheld by the user) is recorded as such and nothing is kept.
    empty = result.model_copy(
        update={"body": result.body.model_copy(update={"outcome": outcome.model_copy(update={"output": ""})})}
    )
    nothing = core.agent_frame(empty, "frame")
    assert nothing.output is None and nothing.record is not None
    assert nothing.record.data["outcome"]["output_size"] == 0  # type: ignore[index,call-overload]


# -- the agent's end, and every other end ---------------------------------------------------------


def test_the_users_end_is_recorded_relayed_then_finished_without_telling_the_sides_again() -> None:
    core = active()
    end = SessionEnd(session=SESSION, body=SessionEndBody(reason="ended_by_user"))
    decision = core.agent_frame(end, "end-frame")
    assert decision.record is not None and decision.record.kind == "session.end"
    relay, finish = decision.effects
    assert relay == ToEngineer(TOPIC, "device:d_1", "end-frame", None)  # counted as an end, not a relay
    assert finish == Finish(
        Outcome.ENDED_BY_USER, Party.AGENT, None, notify_agent=False, notify_engineer=False
    )
    core.commit(decision)
    closing = core.end(finish)
    assert closing.record is None  # recorded above already
    assert closing.move is not None and closing.move.outcome is Outcome.ENDED_BY_USER
    assert closing.effects == (
        CancelTimer(Timer.OFFER),
        CancelTimer(Timer.GRACE),
        TellClosed(TOPIC, SESSION),
        QueueChanged("t_core", removed=True),
    )
    core.commit(closing)
    assert core.state is SessionState.ENDED and core.ticket.state is TicketState.ENDED


def test_every_end_tells_the_sides_that_did_not_end_it() -> None:
    core = active()
    decision = core.end(Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system"))
    assert decision.record is not None and decision.record.actor == "system"
    assert decision.record.data == {
        "reason": "connection_lost", "resolution": None, "note": None, "ticket": "t_core",
    }  # fmt: skip
    kinds = [type(e).__name__ for e in decision.effects]
    assert kinds == ["CancelTimer", "CancelTimer", "SendAgent", "ToEngineer", "TellClosed", "QueueChanged"]
    sent = decision.effects[2]
    assert isinstance(sent, SendAgent) and isinstance(sent.message, SessionEnd)
    # Not yet offered: the agent has no session to be told about, and there is no engineer.
    queued = RelaySession(ticket(), offer_timeout=OFFER_S, engineer_grace=GRACE_S)
    quiet = queued.end(Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system", notify_agent=False))
    assert [type(e).__name__ for e in quiet.effects] == ["CancelTimer", "CancelTimer", "QueueChanged"]


def test_a_supervisors_kill_ends_only_this_session() -> None:
    core = active()
    assert core.kill(Note(NoteKind.KILL, "engineer:sup", "s_other")) is NOTHING
    (finish,) = core.kill(Note(NoteKind.KILL, "engineer:sup", SESSION)).effects
    assert finish == Finish(
        Outcome.ENDED_BY_ENGINEER, Party.SERVER, "engineer:sup", note="ended by a supervisor"
    )
    # The server may kill a ticket still in the queue (the table's supervisor row).
    queued = RelaySession(ticket(), offer_timeout=OFFER_S, engineer_grace=GRACE_S)
    (finish,) = queued.kill(Note(NoteKind.KILL, "engineer:sup", SESSION)).effects
    assert isinstance(finish, Finish)
    assert queued.end(finish).move is not None


def test_the_agents_connection_lost_ends_without_writing_to_it() -> None:
    (finish,) = active().connection_lost().effects
    assert finish == Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system", notify_agent=False)


# -- engineer frames: every refusal ---------------------------------------------------------------


def test_only_the_sessions_engineer_is_heard() -> None:
    core = active()
    chat = Chat(session=SESSION, body=ChatBody(text="hello"))
    for note in (
        from_engineer(chat, topic=engineer_topic("e_other")),  # another engineer
        from_engineer(chat, session="s_other"),  # another session
    ):
        refusal = core.engineer_frame(note, chat).refusal
        assert refusal is not None and refusal.code == "session.not_yours" and refusal.ref == chat.id
    queued = RelaySession(ticket(), offer_timeout=OFFER_S, engineer_grace=GRACE_S)  # no engineer yet
    assert queued.engineer_frame(from_engineer(chat), chat).refusal is not None
    relayed = core.engineer_frame(from_engineer(chat), chat)
    assert relayed.refusal is None and relayed.effects == (ToAgent(chat.model_dump_json(), "chat"),)


def test_an_engineer_cannot_act_before_the_user_accepts() -> None:
    core = offered()
    message = request()
    refusal = engineer_refusal(core.engineer_frame(from_engineer(message), message), "session.state")
    assert "offered" in refusal.detail and refusal.session == SESSION and refusal.sender == "engineer:eng"


def test_an_action_request_is_recorded_then_opened_then_relayed() -> None:
    core = active()
    message = request("a_1", CommandParams(command="ipconfig /all"))
    decision = core.engineer_frame(from_engineer(message), message)
    assert decision.record is not None and decision.record.kind == "action.request" and decision.must_record
    assert decision.record.actor == "engineer:eng"
    assert decision.unrecorded is not None and decision.unrecorded.code == "server.unavailable"
    assert decision.open is not None and decision.open.kind == "command"
    with pytest.raises(Exception, match="no action"):
        core.actions.get("a_1")  # nothing opened before the record is durable
    core.commit(decision)
    assert core.actions.get("a_1").state is ActionState.REQUESTED
    again = core.engineer_frame(from_engineer(message), message)
    assert engineer_refusal(again, "action.refused").detail.startswith("action id")


def test_too_many_open_actions_are_refused() -> None:
    core = active()
    for n in range(MAX_OPEN_ACTIONS):
        with_action(core, ActionState.REQUESTED, f"a_{n}")
    message = request("a_more")
    assert (
        "more than"
        in engineer_refusal(core.engineer_frame(from_engineer(message), message), "action.refused").detail
    )


@pytest.mark.parametrize(
    ("reason", "state", "allowed"),
    [
        ("resolved", SessionState.ACTIVE, True),
        ("unresolved", SessionState.ACTIVE, True),
        ("ended_by_engineer", SessionState.ACTIVE, True),
        ("ended_by_engineer", SessionState.OFFERED, True),
        ("resolved", SessionState.OFFERED, False),  # nothing was done yet to resolve
        ("ended_by_user", SessionState.ACTIVE, False),
        ("declined", SessionState.OFFERED, False),
        ("timed_out", SessionState.ACTIVE, False),
    ],
)
def test_an_engineers_end_follows_the_table(reason: str, state: SessionState, allowed: bool) -> None:
    core = offered() if state is SessionState.OFFERED else active()
    end = SessionEnd(session=SESSION, body=SessionEndBody(reason=reason, resolution=None, note="fixed"))  # type: ignore[arg-type]
    decision = core.engineer_frame(from_engineer(end), end)
    if not allowed:
        engineer_refusal(decision, "session.state")
        return
    (finish,) = decision.effects
    assert finish == Finish(
        Outcome(reason), Party.ENGINEER, "engineer:eng", None, "fixed", notify_engineer=False
    )
    carry(core, decision)
    assert core.ticket.state is TicketState.ENDED and core.outcome is Outcome(reason)


# -- file chunks ----------------------------------------------------------------------------------

DATA = b"pushed file bytes " * 10
DIGEST = hashlib.sha256(DATA).hexdigest()


def pushing(state: ActionState = ActionState.ALLOWED, sha256: str = DIGEST) -> RelaySession:
    core = active()
    message = request("a_push", PushFileParams(name="driver.exe", size=len(DATA), sha256=sha256))
    carry(core, core.engineer_frame(from_engineer(message), message))
    core.actions.get("a_push").state = state
    return core


def chunk_note(offset: int, payload: bytes, last: bool, *, topic: str = TOPIC) -> tuple[Note, FileChunk]:
    chunk = FileChunk("a_push", offset, payload, last)
    return Note(NoteKind.ENGINEER_CHUNK, "engineer:eng", SESSION, b"frame", reply_to=topic), chunk


def test_chunks_pass_in_order_and_the_last_is_recorded_with_the_hash_seen() -> None:
    core = pushing()
    note, chunk = chunk_note(0, DATA[:100], False)
    first = core.engineer_chunk(note, chunk, b"f1")
    assert first.record is None and first.effects == (ToAgent(b"f1", "chunk"),)
    carry(core, first)
    note, chunk = chunk_note(100, DATA[100:], True)
    last = core.engineer_chunk(note, chunk, b"f2")
    assert last.record is not None and last.record.kind == "file.pushed" and last.must_record
    assert last.record.data == {"action": "a_push", "size": len(DATA), "sha256": DIGEST, "announced": DIGEST}
    assert core.actions.get("a_push").received == 100  # not taken before the record is durable
    carry(core, last)
    assert core.actions.get("a_push").sent_all and core.actions.pushes_in_flight() == []


@pytest.mark.parametrize(
    ("state", "offset", "size", "last", "why"),
    [
        (ActionState.AWAITING_CONSENT, 0, 10, False, "file push that is awaiting_consent"),
        (ActionState.ALLOWED, 5, 10, False, "expected 0"),
        (ActionState.ALLOWED, 0, len(DATA) + 1, False, "past the announced"),
        (ActionState.ALLOWED, 0, 10, True, "before the announced size"),
    ],
)
def test_every_chunk_refusal(state: ActionState, offset: int, size: int, last: bool, why: str) -> None:
    core = pushing(state)
    note, chunk = chunk_note(offset, (DATA * 2)[:size], last)
    assert why in engineer_refusal(core.engineer_chunk(note, chunk, b""), "action.refused").detail


def test_a_chunk_for_something_that_is_not_a_push_or_not_the_engineers_is_refused() -> None:
    core = pushing()
    with_action(core, ActionState.ALLOWED, "a_diag")
    note = Note(NoteKind.ENGINEER_CHUNK, "engineer:eng", SESSION, b"", reply_to=TOPIC)
    decision = core.engineer_chunk(note, FileChunk("a_diag", 0, b"x"), b"")
    assert "not a file push" in engineer_refusal(decision, "action.refused").detail
    note, chunk = chunk_note(0, DATA, True, topic=engineer_topic("e_other"))
    refusal = core.engineer_chunk(note, chunk, b"").refusal
    assert refusal is not None and refusal.code == "session.not_yours"


def test_a_file_that_does_not_match_its_hash_is_recorded_refused_and_the_agent_told() -> None:
    core = pushing(sha256="0" * 64)
    note, chunk = chunk_note(0, DATA, True)
    decision = core.engineer_chunk(note, chunk, b"frame")
    assert decision.record is not None and decision.record.data["sha256"] == DIGEST
    refusal, told = decision.effects
    assert isinstance(refusal, Refuse) and refusal.code == "action.refused"
    assert isinstance(told, SendAgent) and isinstance(told.message, Error)
    assert told.message.body.code == "file.rejected" and told.message.body.ref == "a_push"
    assert not any(isinstance(e, ToAgent) for e in decision.effects)  # the last chunk never reaches the PC


# -- the engineer's console away and back ----------------------------------------------------------


def away(link: str = "l_1", topic: str = TOPIC) -> Note:
    return Note(NoteKind.ENGINEER_AWAY, "engineer:eng", SESSION, payload=LinkMoved(link=link), reply_to=topic)


def back(link: str = "l_2", node: str | None = "n_2", topic: str = TOPIC) -> Note:
    payload = LinkMoved(link=link, node=node)
    return Note(NoteKind.ENGINEER_BACK, "engineer:eng", SESSION, payload=payload, reply_to=topic)


def test_away_starts_the_grace_and_stops_pushes_in_flight() -> None:
    core = pushing()
    decision = core.engineer_away(away())
    assert decision.record is not None and decision.record.kind == "session.engineer_away"
    assert not decision.must_record  # waiting is not refusable: the end comes anyway
    assert decision.record.data["stopped_pushes"] == ["a_push"]
    told, timer = decision.effects
    assert isinstance(told, SendAgent) and isinstance(told.message, Error)
    assert told.message.body.message == PUSH_STOPPED and told.message.body.ref == "a_push"
    assert timer == StartTimer(Timer.GRACE, GRACE_S, "l_1")
    core.commit(decision)
    assert core.away == "l_1"
    assert core.engineer_away(away()) is NOTHING  # away already


def test_away_from_another_engineer_or_an_older_console_is_ignored() -> None:
    core = active()
    assert core.engineer_away(away(topic=engineer_topic("e_other"))) is NOTHING
    assert core.engineer_away(away(link="l_old")) is NOTHING  # l_1 holds the session


def test_back_within_the_grace_keeps_the_session_and_the_old_timer_is_spent() -> None:
    core = active()
    carry(core, core.engineer_away(away()))
    decision = core.engineer_back(back())
    assert decision.record is not None and decision.record.data == {"link": "l_2", "previous": "l_1"}
    assert decision.effects == (CancelTimer(Timer.GRACE),)
    core.commit(decision)
    assert core.away is None and core.engineer is not None
    assert (core.engineer.link, core.engineer.node) == ("l_2", "n_2")
    assert core.timeout(Timer.GRACE, "l_1") is NOTHING


def test_no_return_within_the_grace_ends_the_session() -> None:
    core = active()
    carry(core, core.engineer_away(away()))
    assert core.timeout(Timer.GRACE, "l_other") is NOTHING  # a timer of another wait
    decision = core.timeout(Timer.GRACE, "l_1")
    assert decision.effects == (Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system"),)
    carry(core, decision)
    assert core.ticket.state is TicketState.ENDED


def test_without_a_grace_the_session_ends_with_the_console() -> None:
    core = active(grace=0)
    decision = core.engineer_away(away())
    assert decision.record is None
    assert decision.effects == (Finish(Outcome.CONNECTION_LOST, Party.SERVER, "system"),)


def test_back_for_a_session_no_longer_here_says_it_is_over() -> None:
    core = active()
    decision = core.engineer_back(back(topic=engineer_topic("e_other")))
    assert decision.effects == (TellClosed(engineer_topic("e_other"), SESSION),)
    assert (
        RelaySession.not_here(Note(NoteKind.ENGINEER_BACK, "x", None, payload=LinkMoved(link="l"))) is NOTHING
    )


def test_the_death_of_the_engineers_node_starts_the_wait() -> None:
    core = active()
    assert core.engineer_node_lost("n_other") is NOTHING
    decision = core.engineer_node_lost("n_1")
    assert decision.record is not None and decision.record.actor == "system"
    assert decision.record.data["node_lost"] == "n_1"
    core.commit(decision)
    assert core.engineer_node_lost("n_1") is NOTHING  # waiting already
    queued = RelaySession(ticket(), offer_timeout=OFFER_S, engineer_grace=GRACE_S)
    assert queued.engineer_node_lost("n_1") is NOTHING


# -- the screen stream: frames only for a running view, input only for a running control --------------


def _screen_frame(action_id: str) -> tuple[object, bytes]:
    from protocol.screen import ScreenFrame, Tile, encode_screen

    frame = ScreenFrame(action_id, 0, 64, 32, (Tile(0, 0, 16, 16, b"\xff\xd8x"),), key=True)
    return frame, encode_screen(frame)


def _view(core: RelaySession, action_id: str, state: ActionState) -> None:
    from protocol.actions import ScreenViewParams

    message = request(action_id, ScreenViewParams())
    carry(core, core.engineer_frame(from_engineer(message), message))
    core.actions.get(action_id).state = state


@pytest.mark.parametrize("state", [ActionState.REQUESTED, ActionState.AWAITING_CONSENT, ActionState.ALLOWED])
def test_no_screen_frame_is_relayed_before_the_view_runs(state: ActionState) -> None:
    core = active()
    _view(core, "v_1", state)
    frame, data = _screen_frame("v_1")
    refusal = agent_refusal(core.agent_screen(frame, data))  # type: ignore[arg-type]
    assert refusal.code == "screen" and refusal.msg_type == "screen.frame"  # dropped, audited, a strike


@pytest.mark.parametrize("state", [ActionState.STOPPING, ActionState.DONE, ActionState.CANCELLED])
def test_late_frames_of_a_stopped_view_are_dropped_without_a_strike(state: ActionState) -> None:
    core = active()
    _view(core, "v_1", state)
    frame, data = _screen_frame("v_1")
    decision = core.agent_screen(frame, data)  # type: ignore[arg-type]
    assert decision.refusal is not None and decision.refusal.to is Party.SERVER and not decision.effects


def test_a_running_view_relays_its_frames_to_the_engineer_only() -> None:
    core = active()
    _view(core, "v_1", ActionState.RUNNING)
    frame, data = _screen_frame("v_1")
    decision = core.agent_screen(frame, data)  # type: ignore[arg-type]
    assert decision.refusal is None and decision.record is None  # pixels are never audited
    assert decision.effects == (ToEngineer(TOPIC, "device:d_1", data, "screen.frame"),)
    other, other_data = _screen_frame("a_cmd")  # a frame naming an action that is not a view
    with_action(core, ActionState.RUNNING, "a_cmd")
    assert agent_refusal(core.agent_screen(other, other_data)).code == "screen"  # type: ignore[arg-type]


def test_screen_frames_outside_an_active_session_are_dropped() -> None:
    core = offered()
    frame, data = _screen_frame("v_1")
    assert agent_refusal(core.agent_screen(frame, data)).code == "session"  # type: ignore[arg-type]


def test_control_needs_a_running_view_at_the_relay_too() -> None:
    from protocol.actions import ScreenControlParams

    core = active()
    message = request("c_1", ScreenControlParams(view="v_1"))
    refusal = engineer_refusal(core.engineer_frame(from_engineer(message), message), "action.refused")
    assert "screen view" in refusal.detail
    _view(core, "v_1", ActionState.RUNNING)
    assert core.engineer_frame(from_engineer(message), message).refusal is None


def test_screen_input_only_for_a_running_control_and_stop_is_audited() -> None:
    from protocol.actions import ScreenControlParams
    from protocol.messages import ActionStop, ActionStopBody, ScreenInput, ScreenInputBody
    from protocol.screen import PointerMove

    core = active()
    _view(core, "v_1", ActionState.RUNNING)
    control = request("c_1", ScreenControlParams(view="v_1"))
    carry(core, core.engineer_frame(from_engineer(control), control))
    move = ScreenInput(session=SESSION, body=ScreenInputBody(action_id="c_1", events=[PointerMove(x=1, y=2)]))
    engineer_refusal(core.engineer_frame(from_engineer(move), move), "action.refused")  # not yet allowed
    core.actions.get("c_1").state = ActionState.RUNNING
    decision = core.engineer_frame(from_engineer(move), move)
    assert decision.refusal is None and isinstance(decision.effects[0], ToAgent)
    to_view = ScreenInput(
        session=SESSION, body=ScreenInputBody(action_id="v_1", events=[PointerMove(x=1, y=2)])
    )
    assert (
        "not a screen control"
        in engineer_refusal(core.engineer_frame(from_engineer(to_view), to_view), "action.refused").detail
    )
    stop = ActionStop(session=SESSION, body=ActionStopBody(action_id="v_1"))
    decision = carry(core, core.engineer_frame(from_engineer(stop), stop))
    assert decision.record is not None and decision.record.kind == "screen.stop"
    assert core.actions.get("v_1").state is ActionState.STOPPING
    frame, data = _screen_frame("v_1")
    late = core.agent_screen(frame, data)  # type: ignore[arg-type]
    assert late.refusal is not None and late.refusal.to is Party.SERVER  # not relayed after the stop
