"""How many engineers an hour needs: Erlang C (callers wait forever) and Erlang A (callers give up).

Pure functions, no I/O. The model of one hour of the service desk: help requests arrive at random
(Poisson) at `rate` per second, an engineer spends `handle_s` seconds on one on average (exponential),
`agents` engineers answer from one queue in arrival order. A request is *answered in time* when an
engineer accepts it within `target_s` seconds.

* **Erlang C** (M/M/n): nobody gives up. Offered load `a = rate × handle_s` (in Erlangs); the
  probability that a request waits at all is C(n, a) = n·B / (n − a·(1 − B)) with B the Erlang B loss
  probability, computed by the stable recursion B(k) = a·B(k−1) / (k + a·B(k−1)) (no factorials, no
  overflow). The share answered within t is 1 − C·e^(−(n − a)·t/handle). Defined only for n > a;
  with n ≤ a the queue grows without bound and the share is 0.
* **Erlang A** (M/M/n+M, Palm 1943; Garnett, Mandelbaum & Reiman 2002): a waiting requester gives up
  after an exponential patience with mean `patience_s`. The number of requests in the system is a
  birth–death chain (births `rate`; deaths min(k, n)/handle + max(k − n, 0)/patience); its stationary
  law is summed here until the tail is negligible (no incomplete-gamma functions needed). A request
  that finds j others waiting is answered after j + 1 exponential phases with rates n/handle + i/patience
  (i = j … 0), unless its own patience runs out first; that probability by time t comes from
  uniformisation of that small chain. The share answered in time counts requests that gave up as not
  answered (the standard: every call answered).

With `patience_s` = None the model is Erlang C. `agents_needed` is the smallest n meeting a share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Staffing",
    "agents_needed",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "erlang_c_service_level",
]

# The stationary sums stop when a term is this small against the total: far below any figure shown.
_TAIL = 1e-13
# The most engineers ever proposed for one hour; a load needing more is reported as needing this many.
MAX_AGENTS = 1000


def erlang_b(agents: int, load: float) -> float:
    """Erlang B: the probability that all `agents` are busy when `load` Erlangs are offered."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must not be negative")
    blocked = 1.0
    for k in range(1, agents + 1):
        blocked = load * blocked / (k + load * blocked)
    return blocked


def erlang_c(agents: int, load: float) -> float:
    """Erlang C: the probability that a request has to wait (1 when the queue is unstable)."""
    if agents <= load:
        return 1.0
    blocked = erlang_b(agents, load)
    return agents * blocked / (agents - load * (1 - blocked))


def erlang_c_service_level(agents: int, rate: float, handle_s: float, target_s: float) -> float:
    """The share of requests answered within `target_s` under Erlang C."""
    load = rate * handle_s
    if load == 0:
        return 1.0
    if agents <= load:
        return 0.0
    wait = erlang_c(agents, load)
    return 1 - wait * math.exp(-(agents - load) * target_s / handle_s)


@dataclass(frozen=True)
class Staffing:
    """What `agents` engineers give for one hour's load."""

    agents: int
    load: float  # Erlangs
    wait_probability: float  # a request has to wait at all
    service_level: float  # share answered within the target
    abandon_probability: float  # share that gives up (0 under Erlang C)
    mean_wait_s: float | None  # mean wait of all requests (None: unbounded)


def _stationary(agents: int, rate: float, handle_s: float, patience_s: float) -> list[float]:
    """Stationary probabilities of k = 0, 1, … requests in the M/M/n+M system (the tail cut off)."""
    terms = [1.0]
    total = 1.0
    k = 0
    while True:
        k += 1
        death = min(k, agents) / handle_s + max(k - agents, 0) / patience_s
        term = terms[-1] * rate / death
        terms.append(term)
        total += term
        if k > agents and term < _TAIL * total:
            break
        if k > 100_000:  # unreachable for any finite patience; a guard, not a model limit
            raise ValueError("the load is too large to compute")
    return [t / total for t in terms]


def _answered_by(agents: int, handle_s: float, patience_s: float, target_s: float, ahead: int) -> list[float]:
    """For j = 0 … `ahead`: the probability that a request finding j others waiting is answered
    within `target_s` before it gives up (uniformisation of the pure-death chain of those ahead)."""
    service = agents / handle_s
    abandon = 1 / patience_s
    rates = [service + i * abandon for i in range(ahead + 1)]
    uniform = rates[-1] + abandon
    mean_steps = uniform * target_s
    # Poisson(mean_steps) weights until their sum is within _TAIL of 1.
    weight = math.exp(-mean_steps)
    done_by = [0.0] * (ahead + 1)  # P(answered within `steps` jumps) from each j
    answered = [0.0] * (ahead + 1)
    cumulative = weight
    steps = 0
    while True:
        steps += 1
        moved = [0.0] * (ahead + 1)
        for j in range(ahead + 1):
            forward = rates[j] / uniform
            stay = 1 - (rates[j] + abandon) / uniform
            moved[j] = forward * (1.0 if j == 0 else done_by[j - 1]) + stay * done_by[j]
        done_by = moved
        weight *= mean_steps / steps
        for j in range(ahead + 1):
            answered[j] += weight * done_by[j]
        cumulative += weight
        if cumulative > 1 - _TAIL or steps > 10 * mean_steps + 200:
            return answered


def erlang_a(
    agents: int, rate: float, handle_s: float, patience_s: float | None, target_s: float
) -> Staffing:
    """The service `agents` engineers give; `patience_s` None means nobody gives up (Erlang C)."""
    if agents < 0 or rate < 0 or handle_s <= 0 or target_s < 0:
        raise ValueError("agents, rate and target must not be negative; handle time must be positive")
    load = rate * handle_s
    if patience_s is None:
        wait = erlang_c(agents, load) if load > 0 else 0.0
        stable = agents > load
        return Staffing(
            agents=agents,
            load=load,
            wait_probability=wait,
            service_level=erlang_c_service_level(agents, rate, handle_s, target_s),
            abandon_probability=0.0,
            mean_wait_s=(wait * handle_s / (agents - load) if stable else None),
        )
    if patience_s <= 0:
        raise ValueError("patience must be positive")
    if load == 0:
        return Staffing(agents, 0.0, 0.0, 1.0, 0.0, 0.0)
    states = _stationary(agents, rate, handle_s, patience_s)
    queued = states[agents:]
    wait = sum(queued)
    mean_queue = sum(j * p for j, p in enumerate(queued))
    ahead = len(queued) - 1
    by_target = _answered_by(agents, handle_s, patience_s, target_s, ahead) if queued else []
    answered = sum(states[:agents]) + sum(p * q for p, q in zip(queued, by_target, strict=True))
    return Staffing(
        agents=agents,
        load=load,
        wait_probability=wait,
        service_level=min(1.0, answered),
        abandon_probability=mean_queue / patience_s / rate,  # abandonment rate θ·E[Q] over λ
        mean_wait_s=mean_queue / rate,  # Little's law on the queue
    )


def agents_needed(
    rate: float, handle_s: float, target_s: float, share: float, patience_s: float | None = None
) -> int:
    """The fewest engineers whose share answered within `target_s` is at least `share`."""
    if not 0 < share < 1:
        raise ValueError("the share must be between 0 and 1 (exclusive): no queue answers every request")
    if rate == 0:
        return 0
    load = rate * handle_s
    # Under Erlang C fewer than ⌈load⌉ never suffice; under Erlang A start from 1.
    agents = max(1, math.floor(load) + 1) if patience_s is None else 1
    while agents < MAX_AGENTS:
        if erlang_a(agents, rate, handle_s, patience_s, target_s).service_level >= share:
            return agents
        agents += 1
    return MAX_AGENTS
