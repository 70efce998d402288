"""Erlang C and A against published worked examples and exact special cases."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from server.kpi.erlang import agents_needed, erlang_a, erlang_b, erlang_c, erlang_c_service_level


def test_erlang_b_published_table_value() -> None:
    # Standard Erlang B table (e.g. ITU-T E.800 series tables, any teletraffic textbook): 10 Erlangs on
    # 10 trunks block 21.46 % of calls; 5 Erlangs on 10 trunks 1.84 %.
    assert erlang_b(10, 10.0) == pytest.approx(0.2146, abs=5e-5)
    assert erlang_b(10, 5.0) == pytest.approx(0.0184, abs=5e-5)


def test_call_centre_helper_worked_example() -> None:
    # Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example": 100 calls in
    # 30 minutes, 180 s average handling time (10 Erlangs), target 80 % answered in 20 s.
    # With 11 agents the probability of waiting is 68.21 %, the service level 39 %, the average speed
    # of answer 122.8 s; the raw number of agents needed for 80/20 is 14 (service level 88.84 %).
    rate = 100 / 1800
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-5)
    assert erlang_c_service_level(11, rate, 180, 20) == pytest.approx(0.39, abs=0.005)
    eleven = erlang_a(11, rate, 180, None, 20)
    assert eleven.mean_wait_s == pytest.approx(122.8, abs=0.05)
    assert agents_needed(rate, 180, 20, 0.80) == 14
    assert erlang_c_service_level(14, rate, 180, 20) == pytest.approx(0.8884, abs=5e-5)


def test_westbay_erlang_c_worked_example() -> None:
    # Westbay Engineers, "The Erlang-C formula" worked example: 360 calls per half hour, 4 minutes
    # each (48 Erlangs), 55 agents, 15 s target: occupancy 87.3 %, probability of waiting ≈ 24 %,
    # average speed of answer ≈ 8.2 s, service level ≈ 85 %.
    rate = 360 / 1800
    result = erlang_a(55, rate, 240, None, 15)
    assert result.load / 55 == pytest.approx(0.873, abs=5e-4)
    assert result.wait_probability == pytest.approx(0.24, abs=0.005)
    assert result.mean_wait_s == pytest.approx(8.2, abs=0.05)
    assert result.service_level == pytest.approx(0.85, abs=0.005)


def test_erlang_a_with_patience_equal_to_handling_is_poisson() -> None:
    # Garnett, Mandelbaum & Reiman (2002), §3: when patience and service have the same rate, every
    # request leaves at that rate wherever it is, so the number present is Poisson(load) (M/M/∞).
    rate, handle, agents = 0.02, 300.0, 6
    load = rate * handle
    result = erlang_a(agents, rate, handle, handle, 15)
    poisson = [math.exp(-load) * load**k / math.factorial(k) for k in range(80)]
    assert result.wait_probability == pytest.approx(sum(poisson[agents:]), rel=1e-9)
    expected_queue = sum((k - agents) * p for k, p in enumerate(poisson) if k > agents)
    assert result.abandon_probability == pytest.approx(expected_queue / load, rel=1e-9)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    rate = 100 / 1800
    c = erlang_a(12, rate, 180, None, 20)
    a = erlang_a(12, rate, 180, 1e9, 20)
    assert a.wait_probability == pytest.approx(c.wait_probability, rel=1e-4)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-4)
    assert a.abandon_probability < 1e-6


def _simulate(agents: int, rate: float, handle: float, patience: float, target: float, n: int) -> float:
    """A discrete-event FIFO M/M/n+M run: the share of requests answered within `target`. In arrival
    order each request takes the earliest free engineer, unless its patience ran out before."""
    rng = random.Random(7)
    free_at = [0.0] * agents  # a heap of the times each engineer is next free
    clock = 0.0
    answered = 0
    for _ in range(n):
        clock += rng.expovariate(rate)
        start = max(free_at[0], clock)
        if start - clock > rng.expovariate(1 / patience):
            continue  # gave up
        heapq.heapreplace(free_at, start + rng.expovariate(1 / handle))
        answered += start - clock <= target
    return answered / n


def test_erlang_a_matches_a_simulation() -> None:
    # Lost-capacity check against an independent simulation of the same queue (FIFO, exponential
    # patience); 200,000 requests give the share to about ±0.3 %.
    rate, handle, patience, agents, target = 1 / 60, 300.0, 120.0, 5, 15.0
    model = erlang_a(agents, rate, handle, patience, target).service_level
    assert _simulate(agents, rate, handle, patience, target, 200_000) == pytest.approx(model, abs=0.01)


def test_needs_more_agents_for_a_higher_share_and_fewer_with_impatience() -> None:
    rate, handle = 30 / 3600, 600.0
    low = agents_needed(rate, handle, 15, 0.8)
    high = agents_needed(rate, handle, 15, 0.95)
    assert high > low >= 6  # 5 Erlangs need at least 6 without abandonment
    assert agents_needed(rate, handle, 15, 0.8, patience_s=60) <= low
    assert agents_needed(0.0, handle, 15, 0.8) == 0
    with pytest.raises(ValueError):
        agents_needed(rate, handle, 15, 1.0)
