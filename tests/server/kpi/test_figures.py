"""The figure definitions on hand-built ticket facts (the database side is in test_store.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from server.kpi.figures import TARGETS, TicketFacts, compute, daily, day_starts

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def facts(
    n: int,
    *,
    device: str = "d1",
    response_s: float | None = 5,
    length_min: float | None = 10,
    outcome: str | None = "resolved",
    rating: int | None = None,
    created: dt.datetime = T0,
) -> TicketFacts:
    accepted = None if response_s is None else created + dt.timedelta(seconds=response_s)
    started = None if accepted is None or length_min is None else accepted + dt.timedelta(seconds=3)
    ended = None
    if outcome is not None and started is not None:
        ended = started + dt.timedelta(minutes=length_min or 0)
    elif outcome is not None:
        ended = created + dt.timedelta(minutes=1)
    return TicketFacts(f"t{n}", device, created, accepted, started, ended, outcome, rating)


def test_empty_window_has_no_figures_rather_than_perfect_ones() -> None:
    figures = compute([])
    assert figures.requests == 0
    assert figures.answer_rate is None
    assert figures.response_s is None
    assert figures.first_contact_fix is None
    assert figures.session_min is None
    assert figures.satisfaction is None


def test_answer_rate_counts_abandoned_calls_and_leaves_waiting_ones_out() -> None:
    answered = facts(1)
    abandoned = facts(2, response_s=None, outcome="ended_by_user")
    waiting = facts(3, response_s=None, outcome=None)
    figures = compute([answered, abandoned, waiting])
    assert (figures.requests, figures.answered, figures.unanswered, figures.waiting) == (3, 1, 1, 1)
    assert figures.answer_rate == 0.5


def test_response_time_mean_and_nearest_rank_p90() -> None:
    tickets = [facts(i, response_s=s, device=f"d{i}") for i, s in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 40])]
    figures = compute(tickets)
    assert figures.response_s == 8.5
    assert figures.response_p90_s == 9


def test_first_contact_fix_counts_a_repeat_call_within_a_day_as_not_fixed() -> None:
    first = facts(1, device="a")
    assert first.ended_at is not None
    repeat = facts(2, device="a", created=first.ended_at + dt.timedelta(hours=2))
    other = facts(3, device="b", outcome="unresolved")
    late = facts(4, device="b", created=T0 + dt.timedelta(days=3))  # after an unresolved one: not a repeat
    figures = compute([first, repeat, other, late])
    assert figures.sessions == 4
    assert figures.resolved == 3
    assert figures.repeat_calls == 1
    assert figures.first_contact_fix == 0.5


def test_session_length_and_satisfaction() -> None:
    tickets = [
        facts(1, device="a", length_min=10, rating=5),
        facts(2, device="b", length_min=20, rating=4),
        facts(3, device="c", length_min=30, rating=2),
        facts(4, device="d", length_min=None, outcome="ended_by_user"),  # never started: no length
    ]
    figures = compute(tickets)
    assert figures.session_min is not None and abs(figures.session_min - 20) < 1e-9
    assert figures.ratings == 3
    assert figures.satisfaction is not None and abs(figures.satisfaction - 2 / 3) < 1e-9
    assert figures.mean_rating is not None and abs(figures.mean_rating - 11 / 3) < 1e-9


def test_targets_are_the_brief_service_standards() -> None:
    by_key = {t.key: t for t in TARGETS}
    assert by_key["answer_rate"].met(1.0) and not by_key["answer_rate"].met(0.99)
    assert by_key["response_s"].met(14.9) and not by_key["response_s"].met(15.1)
    assert by_key["first_contact_fix"].met(0.91) and not by_key["first_contact_fix"].met(0.89)
    assert by_key["session_min"].met(14) and not by_key["session_min"].met(16)
    assert by_key["satisfaction"].met(0.96) and not by_key["satisfaction"].met(0.94)
    assert by_key["satisfaction"].met(None) is None


def test_days_follow_the_callers_local_midnight() -> None:
    now = dt.datetime(2026, 11, 21, 17, 30, tzinfo=dt.UTC)  # 01:30 on the 22nd in Beijing
    starts = day_starts(now, dt.timedelta(hours=8), 7)
    assert len(starts) == 7
    assert starts[-1] == dt.datetime(2026, 11, 21, 16, 0, tzinfo=dt.UTC)
    assert starts[0] == dt.datetime(2026, 11, 15, 16, 0, tzinfo=dt.UTC)
    before = facts(1, created=dt.datetime(2026, 11, 21, 15, 59, tzinfo=dt.UTC))
    after = facts(2, device="x", created=dt.datetime(2026, 11, 21, 16, 1, tzinfo=dt.UTC))
    per_day = daily([before, after], starts, now)
    assert [f.requests for _, f in per_day] == [0, 0, 0, 0, 0, 1, 1]


def test_each_figure_names_the_tickets_behind_it() -> None:
    from server.kpi.figures import FIGURE_KEYS, behind

    start = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    answered = TicketFacts("a", "d1", start, start + dt.timedelta(seconds=5), start + dt.timedelta(seconds=9),
                           start + dt.timedelta(minutes=5), "resolved", 5)  # fmt: skip
    abandoned = TicketFacts(
        "b", "d2", start, None, None, start + dt.timedelta(minutes=1), "ended_by_user", None
    )
    waiting = TicketFacts("c", "d3", start, None, None, None, None, None)
    accepted_only = TicketFacts("d", "d4", start, start + dt.timedelta(seconds=3), None, None, None, None)
    tickets = [answered, abandoned, waiting, accepted_only]
    assert behind("answer_rate", tickets) == ["a", "b", "d"]
    assert behind("response_s", tickets) == ["a", "d"]
    assert behind("first_contact_fix", tickets) == ["a"]
    assert behind("session_min", tickets) == ["a"]
    assert behind("satisfaction", tickets) == ["a"]
    assert set(FIGURE_KEYS) == {
        "answer_rate",
        "response_s",
        "first_contact_fix",
        "session_min",
        "satisfaction",
    }
    with pytest.raises(ValueError):
        behind("mood", tickets)
