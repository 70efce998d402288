"""The session book with no I/O: every row of the session and action tables the agent walks, every
refusal, the consent queue, the clock, and held command output — against a fake outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.executors.described import Described
from agent.i18n import Lang, Text
from agent.session import texts
from agent.session.book import (
    HELD_NOTE,
    MAX_WAITING,
    Effect,
    Execute,
    LockVault,
    Send,
    SessionBook,
    SessionStarting,
    Show,
    Stop,
    UnlockVault,
)
from protocol.actions import (
    ActionParams,
    CommandOutcome,
    CommandParams,
    DiagnoseOutcome,
    DiagnoseParams,
    PushFileParams,
)
from protocol.lifecycle import ActionState, SessionState
from protocol.messages import (
    ActionProgress,
    ActionResult,
    ConsentReply,
    ConsentRequest,
    EngineerIdentity,
    Envelope,
    SessionAccept,
    SessionDecline,
)

TIMEOUT = 30.0
ENGINEER = EngineerIdentity(id="E1001", name="Wang Wei")
REFUSED = Text("已自动拒绝：“{title}” — 不行", "Refused automatically: “{title}” — not here")


@dataclass
class FakeOutbox:
    """What the guard would have carried out, in order."""

    effects: list[Effect] = field(default_factory=list)

    def take(self, effects: list[Effect] | None) -> list[Effect]:
        assert effects is not None
        self.effects += effects
        return effects

    def sent(self) -> list[Envelope]:
        return [e.message for e in self.effects if isinstance(e, Send)]

    def shown(self) -> list[Show]:
        return [e for e in self.effects if isinstance(e, Show)]

    def clear(self) -> None:
        self.effects.clear()


def described(kind: str, verbatim: str | None = None) -> dict[Lang, Any]:
    return {
        lang: Described(kind, f"{kind} ({lang})", "what", "why", "risk", "high", "undo", verbatim)
        for lang in ("zh-CN", "en")
    }


class Scene:
    def __init__(self) -> None:
        self.book = SessionBook(TIMEOUT)
        self.out = FakeOutbox()
        self.now = 1000.0
        self.ids = 0

    def offer(self, session: str = "s1") -> list[Effect]:
        return self.out.take(self.book.offer(session, "t1", ENGINEER, self.now, 1.7e9))

    def active(self, session: str = "s1") -> str:
        self.offer(session)
        assert self.book.prompt is not None
        effects = self.out.take(self.book.answer(self.book.prompt.id, True, self.now))
        assert effects == [LockVault(session)]
        self.out.take(self.book.vault_locked(session, 2))
        self.out.clear()
        return session

    def request(
        self,
        params: ActionParams | None = None,
        *,
        session: str | None = "s1",
        refusal: Text | None = None,
        action_id: str | None = None,
    ) -> str:
        self.ids += 1
        action_id = action_id or f"a{self.ids}"
        params = params or CommandParams(command=f"echo {self.ids}")
        holds = isinstance(params, CommandParams)
        self.out.take(
            self.book.request(
                session,
                action_id,
                params,
                described=described(params.kind, "x"),
                refusal=refusal,
                now=self.now,
                holds_output=holds,
            )
        )
        return action_id

    def allow(self, send_output: bool = False) -> str:
        prompt = self.book.prompt
        assert prompt is not None and prompt.action_id is not None
        self.out.take(self.book.answer(prompt.id, True, self.now, send_output=send_output))
        return prompt.action_id

    def state(self, action_id: str) -> ActionState:
        return self.book.actions[action_id].state


def decisions(messages: list[Envelope]) -> list[str]:
    return [m.body.decision for m in messages if isinstance(m, ConsentReply)]


# -- the session table ----------------------------------------------------------------------------------


def test_offer_asks_the_user_and_accept_locks_the_vault_first() -> None:
    s = Scene()
    effects = s.offer()
    assert isinstance(effects[0], Show) and effects[0].template == texts.OFFER
    assert SessionStarting() in effects
    assert s.book.session is not None and s.book.session.state is SessionState.OFFERED
    prompt = s.book.prompt
    assert prompt is not None and prompt.kind == "session" and prompt.content["engineer"]["id"] == "E1001"
    assert s.out.take(s.book.answer(prompt.id, True, s.now)) == [LockVault("s1")]
    assert not s.out.sent()  # nothing is accepted before the vault is closed
    s.out.take(s.book.vault_locked("s1", 3))
    assert [type(m) for m in s.out.sent()] == [SessionAccept]
    assert s.book.active


@pytest.mark.parametrize("how", ["denied", "timed_out", "vault"])
def test_offer_declined(how: str) -> None:
    s = Scene()
    s.offer()
    prompt = s.book.prompt
    assert prompt is not None
    if how == "denied":
        s.out.take(s.book.answer(prompt.id, False, s.now))
    elif how == "timed_out":
        assert s.book.tick(s.now + TIMEOUT - 0.1) == []
        s.out.take(s.book.tick(s.now + TIMEOUT))
    else:
        s.out.take(s.book.answer(prompt.id, True, s.now))
        s.out.take(s.book.vault_failed("s1", "disk full"))
    [decline] = s.out.sent()
    assert isinstance(decline, SessionDecline)
    assert (
        decline.body.reason
        == {"denied": "declined by the user", "timed_out": "timed_out", "vault": "vault"}[how]
    )
    assert s.book.session is None and s.book.prompt is None


def test_offer_ended_before_the_vault_closed_unlocks_it_again() -> None:
    s = Scene()
    s.offer()
    assert s.book.prompt is not None
    s.out.take(s.book.answer(s.book.prompt.id, True, s.now))
    ended = s.book.end()
    assert ended is not None and not ended.was_active and ended.refused == 0
    effects = s.out.take(s.book.vault_locked("s1", 1))
    assert UnlockVault() in effects and not s.out.sent()


def test_offer_end_refuses_the_open_prompt() -> None:
    s = Scene()
    s.offer()
    ended = s.book.end()
    assert ended is not None and ended.refused == 1 and ended.session.state is SessionState.ENDED
    assert s.book.prompt is None and s.book.end() is None  # ending twice does nothing


def test_a_second_offer_while_busy_is_declined() -> None:
    s = Scene()
    s.active()
    s.offer("s2")
    [decline] = s.out.sent()
    assert isinstance(decline, SessionDecline) and decline.body.reason == "busy" and decline.session == "s2"
    assert s.book.session is not None and s.book.session.id == "s1"


# -- the action table -----------------------------------------------------------------------------------


def test_requested_shown_allowed_running_done() -> None:
    s = Scene()
    s.active()
    action = s.request(DiagnoseParams())
    assert s.state(action) is ActionState.AWAITING_CONSENT  # REQUESTED --consent.request--> (shown at once)
    [request] = s.out.sent()
    assert isinstance(request, ConsentRequest) and request.body.timeout_s == TIMEOUT
    s.out.clear()
    s.allow()
    assert s.state(action) is ActionState.ALLOWED
    assert decisions(s.out.sent()) == ["allowed"] and Execute(action, DiagnoseParams()) in s.out.effects
    s.out.take(s.book.progress(action, note="started"))
    assert s.state(action) is ActionState.RUNNING
    s.out.take(s.book.progress(action, done=1, total=2))
    assert s.state(action) is ActionState.RUNNING
    outcome = DiagnoseOutcome.model_construct(kind="diagnose")
    s.out.take(s.book.finished(action, "ok", outcome, None))  # structured results flow as they come
    assert s.state(action) is ActionState.DONE
    result = s.out.sent()[-1]
    assert isinstance(result, ActionResult) and result.body.status == "ok"


@pytest.mark.parametrize("status", ["ok", "failed", "cancelled"])
@pytest.mark.parametrize("progressed", [False, True])
def test_every_result_from_allowed_and_running(status: str, progressed: bool) -> None:
    s = Scene()
    s.active()
    action = s.request(PushFileParams(name="a.txt", size=1, sha256="a" * 64))
    s.allow()
    if progressed:
        s.out.take(s.book.progress(action, done=0, total=1))
    s.out.take(s.book.finished(action, status, None, None if status == "ok" else "why"))  # type: ignore[arg-type]
    expected = {"ok": ActionState.DONE, "failed": ActionState.FAILED, "cancelled": ActionState.CANCELLED}
    assert s.state(action) is expected[status]
    assert isinstance(s.out.sent()[-1], ActionResult)
    s.out.clear()
    assert s.book.finished(action, "ok", None, None) == []  # a second result never goes out
    assert s.book.progress(action, done=1) == []


@pytest.mark.parametrize("answer", ["denied", "timed_out"])
def test_denied_and_timed_out_never_execute(answer: str) -> None:
    s = Scene()
    s.active()
    action = s.request()
    prompt = s.book.prompt
    assert prompt is not None
    if answer == "denied":
        s.out.take(s.book.answer(prompt.id, False, s.now))
    else:
        s.out.take(s.book.tick(s.now + TIMEOUT))
    assert s.state(action) is ActionState.DENIED
    assert decisions(s.out.sent()) == [answer]
    assert not [e for e in s.out.effects if isinstance(e, Execute)]
    # A late click changes nothing.
    assert s.book.answer(prompt.id, True, s.now) is None
    assert s.state(action) is ActionState.DENIED


def test_a_click_at_the_deadline_is_too_late() -> None:
    s = Scene()
    s.active()
    s.request()
    prompt = s.book.prompt
    assert prompt is not None
    assert s.book.answer(prompt.id, True, prompt.deadline) is None
    assert s.book.answer("no-such-prompt", True, s.now) is None


def test_end_cancels_every_unfinished_action_and_stops_the_running_ones() -> None:
    s = Scene()
    s.active()
    running = s.request()
    s.allow()
    s.out.take(s.book.progress(running, note="started"))
    allowed = s.request(DiagnoseParams())
    s.allow()
    awaiting = s.request()
    queued = s.request()
    finished = s.request(DiagnoseParams())  # queued behind `awaiting` too
    ended = s.book.end()
    assert ended is not None and ended.was_active
    assert ended.refused == 3  # the prompt on screen and the two queued behind it
    assert set(ended.stopped) == {running, allowed}
    for action in (running, allowed, awaiting, queued, finished):
        assert s.state(action) is ActionState.CANCELLED
    assert s.book.session is None and s.book.prompt is None and not s.book.queue
    s.out.clear()
    # After the end: nothing the executors report goes out.
    assert s.book.progress(running, note="late") == []
    assert s.book.finished(running, "ok", None, None) == []


# -- refusals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["no session", "offered", "other session", "after the end"])
def test_requests_outside_the_active_session_are_refused(when: str) -> None:
    s = Scene()
    session = "s1"
    if when == "offered":
        s.offer()
    elif when == "other session":
        s.active()
        session = "s-other"
    elif when == "after the end":
        s.active()
        s.book.end()
    s.out.clear()
    s.request(session=session, action_id="late")
    [reply] = s.out.sent()
    assert isinstance(reply, ConsentReply) and reply.body.decision == "refused"
    assert reply.body.reason == "no active session" and "late" not in s.book.actions


def test_the_agents_own_policy_refuses_before_asking() -> None:
    s = Scene()
    s.active()
    action = s.request(refusal=REFUSED)
    assert s.state(action) is ActionState.REFUSED
    [reply] = s.out.sent()
    assert isinstance(reply, ConsentReply) and reply.body.decision == "refused"
    assert reply.body.reason == "not here"
    assert s.book.prompt is None  # the user was never asked


def test_a_replayed_action_id_is_ignored() -> None:
    s = Scene()
    s.active()
    s.request(action_id="dup")
    s.out.clear()
    s.request(DiagnoseParams(), action_id="dup")
    assert s.out.effects == []
    assert s.book.actions["dup"].kind == "command"


# -- the consent queue -----------------------------------------------------------------------------------


def test_one_prompt_at_a_time_and_a_visible_queue() -> None:
    s = Scene()
    s.active()
    first = s.request()
    rest = [s.request() for _ in range(4)]
    assert s.book.prompt is not None and s.book.prompt.action_id == first
    assert [r.id for r in s.book.waiting()] == rest
    assert all(s.state(a) is ActionState.REQUESTED for a in rest)  # the engineer is not told "asking" yet
    assert len([m for m in s.out.sent() if isinstance(m, ConsentRequest)]) == 1
    assert [e.fields["ahead"] for e in s.out.shown() if e.template == texts.QUEUED] == [1, 2, 3, 4]
    # The next prompt is shown when the first is answered, with a full timeout of its own.
    s.now += TIMEOUT - 1
    s.allow()
    prompt = s.book.prompt
    assert prompt is not None and prompt.action_id == rest[0] and prompt.deadline == s.now + TIMEOUT
    assert s.state(rest[0]) is ActionState.AWAITING_CONSENT
    # Timeouts move the queue on, one prompt at a time.
    s.out.take(s.book.tick(s.now + TIMEOUT))
    assert s.state(rest[0]) is ActionState.DENIED and s.book.prompt is not None
    assert s.book.prompt.action_id == rest[1]


def test_a_flood_is_refused_beyond_the_queue() -> None:
    s = Scene()
    s.active()
    actions = [s.request() for _ in range(300)]
    assert len([m for m in s.out.sent() if isinstance(m, ConsentRequest)]) == 1
    assert len(s.book.queue) == MAX_WAITING
    refused = [a for a in actions if s.state(a) is ActionState.REFUSED]
    assert len(refused) == 300 - 1 - MAX_WAITING
    assert all(
        (m.body.reason or "").startswith("too many") for m in s.out.sent() if isinstance(m, ConsentReply)
    )


# -- command output belongs to the user ------------------------------------------------------------------


def outcome(text: str, exit_code: int | None = 0) -> CommandOutcome:
    return CommandOutcome(exit_code=exit_code, output=text, duration_ms=5)


@pytest.mark.parametrize("send", [True, False])
def test_output_is_held_until_the_user_releases_or_keeps_it(send: bool) -> None:
    s = Scene()
    s.active()
    action = s.request()
    s.allow()
    s.out.take(s.book.progress(action, note="started"))
    s.out.clear()
    secret = "password=hunter2\n" + "x" * 60_000
    s.out.take(s.book.finished(action, "ok", outcome(secret), None))
    assert s.book.actions[action].held is not None
    [note] = s.out.sent()  # the engineer learns only that it waits for the user
    assert isinstance(note, ActionProgress) and note.body.note == HELD_NOTE
    assert [e.fields["size"] for e in s.out.shown() if e.template == texts.OUTPUT_HELD] == [len(secret)]
    assert all("hunter2" not in m.model_dump_json() for m in s.out.sent())
    s.out.take(s.book.release(action, send))
    result = s.out.sent()[-1]
    assert isinstance(result, ActionResult) and isinstance(result.body.outcome, CommandOutcome)
    if send:
        assert result.body.outcome.output == secret and not result.body.outcome.withheld
    else:
        assert result.body.outcome.output == "" and result.body.outcome.withheld
        assert result.body.outcome.exit_code == 0
    assert s.state(action) is ActionState.DONE
    assert s.book.release(action, True) is None  # decided once


def test_send_without_asking_is_per_command_and_off_by_default() -> None:
    s = Scene()
    s.active()
    auto = s.request()
    s.allow(send_output=True)
    s.out.take(s.book.finished(auto, "ok", outcome("hello\n"), None))
    assert isinstance(s.out.sent()[-1], ActionResult) and s.book.actions[auto].held is None
    asked = s.request()
    s.allow()
    s.out.take(s.book.finished(asked, "ok", outcome("hello\n"), None))
    assert s.book.actions[asked].held is not None  # the next command asks again


def test_a_timed_out_command_is_held_too_and_released_as_failed() -> None:
    s = Scene()
    s.active()
    action = s.request()
    s.allow()
    s.out.take(s.book.finished(action, "failed", outcome("partial\n", None), "timed out"))
    s.out.take(s.book.release(action, True))
    result = s.out.sent()[-1]
    assert isinstance(result, ActionResult) and result.body.status == "failed"
    assert s.state(action) is ActionState.FAILED


def test_empty_output_needs_no_release_and_held_output_dies_with_the_session() -> None:
    s = Scene()
    s.active()
    empty = s.request()
    s.allow()
    s.out.take(s.book.finished(empty, "ok", outcome(""), None))
    assert s.state(empty) is ActionState.DONE
    held = s.request()
    s.allow()
    s.out.take(s.book.finished(held, "ok", outcome("secret\n"), None))
    ended = s.book.end()
    assert ended is not None and held in ended.stopped
    assert s.book.actions[held].held is None and s.state(held) is ActionState.CANCELLED
    assert s.book.release(held, True) is None
    assert all("secret" not in m.model_dump_json() for m in s.out.sent())


def test_release_of_what_is_not_held_is_refused() -> None:
    s = Scene()
    s.active()
    action = s.request(DiagnoseParams())
    assert s.book.release(action, True) is None
    assert s.book.release("nope", True) is None


# -- actions that stay on until stopped: screen view and control -----------------------------------------


def _view(s: Scene) -> str:
    from protocol.actions import ScreenViewParams

    view = s.request(ScreenViewParams(monitor=0))
    s.allow()
    s.out.take(s.book.progress(view, note="live"))  # the indicator is on screen: the stream may flow
    return view


def _control(s: Scene, view: str) -> str:
    from protocol.actions import ScreenControlParams

    control = s.request(ScreenControlParams(view=view))
    if s.book.prompt is not None and s.book.prompt.action_id == control:
        s.allow()
        s.out.take(s.book.progress(control, note="live"))
    return control


def test_screen_frames_flow_only_while_the_view_runs() -> None:
    from protocol.actions import ScreenViewParams

    s = Scene()
    s.active()
    view = s.request(ScreenViewParams())
    assert not s.book.frame_allowed(view)  # asked, not allowed
    s.allow()
    assert not s.book.frame_allowed(view)  # allowed, the indicator not yet shown
    s.out.take(s.book.progress(view, note="live"))
    assert s.book.frame_allowed(view) and s.state(view) is ActionState.RUNNING
    assert [r.id for r in s.book.streams()] == [view]


def test_control_without_a_running_view_is_refused_before_asking() -> None:
    from protocol.actions import ScreenControlParams

    s = Scene()
    s.active()
    control = s.request(ScreenControlParams(view="nope"))
    assert decisions(s.out.sent()) == ["refused"] and s.state(control) is ActionState.REFUSED
    assert s.book.prompt is None
    assert any(e.template == texts.SCREEN_NEEDS_VIEW for e in s.out.shown())
    command = s.request(CommandParams(command="true"))  # naming an action that is not a view
    s.allow()
    s.out.clear()
    s.request(ScreenControlParams(view=command))
    assert decisions(s.out.sent()) == ["refused"]


def test_control_input_needs_both_control_and_view_running() -> None:
    s = Scene()
    s.active()
    view = _view(s)
    control = _control(s, view)
    assert s.book.input_allowed("s1", control)
    assert not s.book.input_allowed("s2", control)  # another session's id
    assert not s.book.input_allowed("s1", view)  # a view takes no input


def test_user_stop_of_the_view_stops_its_control_and_reports_how_long() -> None:
    s = Scene()
    s.active()
    view = _view(s)
    control = _control(s, view)
    s.out.clear()
    s.now += 61.5
    effects = s.out.take(s.book.stop_stream(view, s.now))
    stops = [e.action_id for e in effects if isinstance(e, Stop)]
    assert set(stops) == {view, control}
    results = {m.body.action_id: m.body for m in s.out.sent() if isinstance(m, ActionResult)}
    assert results[view].status == "ok" and results[view].outcome is not None
    assert results[view].outcome.stopped_by == "user"  # type: ignore[union-attr]
    assert results[view].outcome.duration_ms == 61500  # type: ignore[union-attr]
    assert results[control].outcome.stopped_by == "view_ended"  # type: ignore[union-attr]
    assert not s.book.frame_allowed(view) and not s.book.input_allowed("s1", control)
    assert s.book.stop_stream(view, s.now) is None  # stopped once


def test_engineer_stop_moves_through_stopping_to_done() -> None:
    s = Scene()
    s.active()
    view = _view(s)
    s.out.clear()
    assert s.out.take(s.book.engineer_stop("s2", view, s.now)) == []  # not this session
    effects = s.out.take(s.book.engineer_stop("s1", view, s.now))
    assert Stop(view) in effects and s.state(view) is ActionState.DONE
    assert [m.body.outcome.stopped_by for m in s.out.sent() if isinstance(m, ActionResult)] == ["engineer"]  # type: ignore[union-attr]


def test_the_kill_switch_stops_view_and_control() -> None:
    s = Scene()
    s.active()
    view = _view(s)
    control = _control(s, view)
    ended = s.book.end()
    assert ended is not None and set(ended.stopped) == {view, control}
    assert not s.book.frame_allowed(view) and not s.book.input_allowed("s1", control)


def test_a_view_that_ends_by_itself_takes_its_control_along() -> None:
    from protocol.actions import ScreenOutcome

    s = Scene()
    s.active()
    view = _view(s)
    control = _control(s, view)
    s.out.clear()
    outcome = ScreenOutcome(duration_ms=5, stopped_by="indicator_closed")
    effects = s.out.take(s.book.finished(view, "ok", outcome, None))
    assert Stop(control) in effects and s.state(control) is ActionState.DONE
