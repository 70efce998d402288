import itertools

import pytest

from server.tickets.lifecycle import (
    END_FROM,
    EVENT_PARTY,
    OPEN_STATES,
    OUTCOME_PARTIES,
    TRANSITIONS,
    Event,
    Outcome,
    Party,
    TicketState,
    TransitionError,
    apply,
    end,
)

S = TicketState


def test_the_happy_path() -> None:
    state = S.QUEUED
    state = apply(state, Event.ACCEPT, Party.ENGINEER)
    state = apply(state, Event.OFFER, Party.SERVER)
    state = apply(state, Event.USER_ACCEPT, Party.AGENT)
    assert state is S.ACTIVE
    assert end(state, Outcome.RESOLVED, Party.ENGINEER) is S.ENDED


@pytest.mark.parametrize(("state", "event"), list(itertools.product(TicketState, Event)))
def test_every_event_in_every_state_follows_the_table(state: TicketState, event: Event) -> None:
    party = EVENT_PARTY[event]
    if (state, event) in TRANSITIONS:
        assert apply(state, event, party) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(TransitionError):
            apply(state, event, party)
    for other in set(Party) - {party}:
        with pytest.raises(TransitionError):
            apply(state, event, other)  # the wrong party never moves a ticket


@pytest.mark.parametrize(("state", "outcome", "party"), list(itertools.product(TicketState, Outcome, Party)))
def test_every_end_follows_the_table(state: TicketState, outcome: Outcome, party: Party) -> None:
    allowed = state in END_FROM[outcome] and party in OUTCOME_PARTIES[outcome]
    if allowed:
        assert end(state, outcome, party) is S.ENDED
    else:
        with pytest.raises(TransitionError):
            end(state, outcome, party)


def test_nothing_leaves_ended_and_every_open_state_can_be_lost() -> None:
    assert all(from_state is not S.ENDED for from_state, _ in TRANSITIONS)
    assert all(S.ENDED not in states for states in END_FROM.values())
    assert END_FROM[Outcome.CONNECTION_LOST] == OPEN_STATES
    # A user cannot mark their own session "resolved": only the engineer judges that.
    with pytest.raises(TransitionError):
        end(S.ACTIVE, Outcome.RESOLVED, Party.AGENT)
