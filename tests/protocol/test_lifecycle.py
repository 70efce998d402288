import pytest

from protocol import ActionState, ProtocolError, SessionState, advance_action, advance_session, session_admits
from protocol.lifecycle import ACTION_TRANSITIONS, FINAL_ACTION_STATES


def test_session_happy_path_and_decline() -> None:
    assert advance_session(SessionState.OFFERED, "session.accept") is SessionState.ACTIVE
    assert advance_session(SessionState.ACTIVE, "session.end") is SessionState.ENDED
    assert advance_session(SessionState.OFFERED, "session.decline") is SessionState.DECLINED


def test_nothing_moves_an_ended_session() -> None:
    for event in ("session.accept", "session.end", "session.decline"):
        with pytest.raises(ProtocolError, match="not allowed in session state ended"):
            advance_session(SessionState.ENDED, event)


def test_actions_flow_only_in_an_active_session() -> None:
    assert session_admits(SessionState.ACTIVE, "action.request")
    assert session_admits(SessionState.ACTIVE, "chunk")
    for state in (SessionState.OFFERED, SessionState.DECLINED, SessionState.ENDED):
        assert not session_admits(state, "action.request")
        assert not session_admits(state, "chunk")


def test_action_allowed_then_run() -> None:
    state = ActionState.REQUESTED
    for event in ("consent.request", "consent.reply:allowed", "action.progress", "action.result:ok"):
        state = advance_action(state, event)
    assert state is ActionState.DONE


@pytest.mark.parametrize("decision", ["denied", "timed_out"])
def test_no_consent_means_no_run(decision: str) -> None:
    state = advance_action(
        advance_action(ActionState.REQUESTED, "consent.request"), f"consent.reply:{decision}"
    )
    assert state is ActionState.DENIED
    for event in ("action.progress", "action.result:ok"):
        with pytest.raises(ProtocolError):
            advance_action(state, event)


def test_a_result_before_consent_is_refused() -> None:
    for state in (ActionState.REQUESTED, ActionState.AWAITING_CONSENT):
        with pytest.raises(ProtocolError):
            advance_action(state, "action.result:ok")
        with pytest.raises(ProtocolError):
            advance_action(state, "action.progress")


def test_agent_policy_refusal_needs_no_prompt() -> None:
    assert advance_action(ActionState.REQUESTED, "consent.reply:refused") is ActionState.REFUSED


def test_session_end_cancels_every_unfinished_action_and_leaves_final_ones() -> None:
    for state in ActionState:
        if state in FINAL_ACTION_STATES:
            assert (state, "session.end") not in ACTION_TRANSITIONS
            assert not any(s == state for s, _ in ACTION_TRANSITIONS)
        else:
            assert advance_action(state, "session.end") is ActionState.CANCELLED


def test_a_screen_stream_flows_only_while_running_and_stops_through_stopping() -> None:
    from protocol.lifecycle import ActionState as S

    for event in ("screen.frame", "screen.input"):
        assert advance_action(S.RUNNING, event) is S.RUNNING
        for state in (S.REQUESTED, S.AWAITING_CONSENT, S.ALLOWED, S.STOPPING, S.DONE, S.CANCELLED):
            with pytest.raises(ProtocolError):
                advance_action(state, event)
    assert advance_action(S.RUNNING, "action.stop") is S.STOPPING
    assert advance_action(S.STOPPING, "action.result:ok") is S.DONE
    assert advance_action(S.STOPPING, "session.end") is S.CANCELLED
    with pytest.raises(ProtocolError):
        advance_action(S.DONE, "action.stop")
