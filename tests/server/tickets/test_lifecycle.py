"""The ticket lifecycle tables: every (state, event, party) and every (state, outcome, party) row,
allowed or refused, and the moves they make."""

import itertools

import pytest

from server.tickets.lifecycle import (
    ENDS,
    EVENT_PARTY,
    OPEN_STATES,
    TRANSITIONS,
    Event,
    Move,
    Outcome,
    Party,
    TicketState,
    TransitionError,
    apply,
    end,
)

S = TicketState


def test_the_happy_path() -> None:
    accepted = apply(S.QUEUED, Event.ACCEPT, Party.ENGINEER, engineer_id="e_1")
    assert accepted == Move(frozenset({S.QUEUED}), S.ACCEPTED, event=Event.ACCEPT, engineer_id="e_1")
    offered = apply(accepted.after, Event.OFFER, Party.SERVER)
    active = apply(offered.after, Event.USER_ACCEPT, Party.AGENT)
    assert active.after is S.ACTIVE and active.before == {S.OFFERED}
    ended = end(active.after, Outcome.RESOLVED, Party.ENGINEER, resolution="dns.fixed")
    assert ended == Move(frozenset({S.ACTIVE}), S.ENDED, outcome=Outcome.RESOLVED, resolution="dns.fixed")


@pytest.mark.parametrize(("state", "event"), list(itertools.product(TicketState, Event)))
def test_every_event_in_every_state_follows_the_table(state: TicketState, event: Event) -> None:
    party = EVENT_PARTY[event]
    if (state, event) in TRANSITIONS:
        move = apply(state, event, party, engineer_id="e_1")
        assert move.after is TRANSITIONS[(state, event)] and move.before == {state} and move.event is event
    else:
        with pytest.raises(TransitionError):
            apply(state, event, party, engineer_id="e_1")
    for other in set(Party) - {party}:
        with pytest.raises(TransitionError):
            apply(state, event, other, engineer_id="e_1")  # the wrong party never moves a ticket


def test_an_accept_names_its_engineer() -> None:
    with pytest.raises(TransitionError):
        apply(S.QUEUED, Event.ACCEPT, Party.ENGINEER)


@pytest.mark.parametrize(("state", "outcome", "party"), list(itertools.product(TicketState, Outcome, Party)))
def test_every_end_follows_the_table(state: TicketState, outcome: Outcome, party: Party) -> None:
    allowed = state in ENDS.get((outcome, party), frozenset())
    if allowed:
        move = end(state, outcome, party)
        assert move == Move(frozenset({state}), S.ENDED, outcome=outcome)
    else:
        with pytest.raises(TransitionError):
            end(state, outcome, party)


@pytest.mark.parametrize(("outcome", "party"), list(itertools.product(Outcome, Party)))
def test_an_end_from_an_unknown_state_is_checked_by_the_store(outcome: Outcome, party: Party) -> None:
    if (outcome, party) in ENDS:
        assert end(None, outcome, party).before == ENDS[(outcome, party)]
    else:
        with pytest.raises(TransitionError):
            end(None, outcome, party)


def test_nothing_leaves_ended_and_every_open_state_can_be_lost() -> None:
    assert all(from_state is not S.ENDED for from_state, _ in TRANSITIONS)
    assert all(S.ENDED not in states and states <= OPEN_STATES for states in ENDS.values())
    assert ENDS[(Outcome.CONNECTION_LOST, Party.SERVER)] == OPEN_STATES
    # A user cannot mark their own session "resolved": only the engineer judges that.
    with pytest.raises(TransitionError):
        end(S.ACTIVE, Outcome.RESOLVED, Party.AGENT)
    # An engineer cannot end a ticket still in the queue; a supervisor's kill switch (the server) can.
    with pytest.raises(TransitionError):
        end(S.QUEUED, Outcome.ENDED_BY_ENGINEER, Party.ENGINEER)
    assert end(S.QUEUED, Outcome.ENDED_BY_ENGINEER, Party.SERVER).after is S.ENDED
