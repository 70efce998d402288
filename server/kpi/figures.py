"""The service figures, computed from ticket facts: pure functions, no database.

Definitions (each one says what counts, so a supervisor can check a figure by hand):

* **answer rate** — of the help requests that have been settled (an engineer accepted them, or they
  ended without one), the share an engineer accepted. Requests still waiting are not counted yet; a
  user who gave up before anyone answered counts as unanswered. Target: 100 % (every call answered).
* **response time** — seconds from the help request to an engineer's accept; mean and 90th
  percentile. Target: < 15 s.
* **first-contact fix** — of the sessions that started and ended, the share ended `resolved` whose
  device did not ask for help again within `REPEAT_WINDOW` afterwards (a repeat call means the first
  contact did not fix it). Target: > 90 %.
* **session length** — mean minutes from the user's accept to the end, for sessions that started and
  ended. Target: < 15 min.
* **satisfaction** — of the users who rated a session (1–5), the share who gave 4 or 5; the mean
  rating is shown beside it. Target: > 95 %.

A figure with nothing to count is `None` ("no data"), never 0 or 100 %: an empty day is not a
perfect day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

REPEAT_WINDOW = dt.timedelta(hours=24)
SATISFIED_RATING = 4

Direction = Literal["min", "max"]


@dataclass(frozen=True)
class Target:
    """`value` is a bound: `min` means the figure must be at least it, `max` at most it."""

    key: str
    value: float
    direction: Direction
    unit: str

    def met(self, figure: float | None) -> bool | None:
        if figure is None:
            return None
        return figure >= self.value if self.direction == "min" else figure <= self.value


# The brief's service standards (§1): every call answered, response < 15 s, first-contact fix > 90 %,
# average session < 15 min, satisfaction > 95 %.
TARGETS: tuple[Target, ...] = (
    Target("answer_rate", 1.0, "min", "ratio"),
    Target("response_s", 15.0, "max", "s"),
    Target("first_contact_fix", 0.90, "min", "ratio"),
    Target("session_min", 15.0, "max", "min"),
    Target("satisfaction", 0.95, "min", "ratio"),
)


@dataclass(frozen=True)
class TicketFacts:
    """What the figures need of one ticket (times are timezone-aware UTC)."""

    id: str
    device_id: str
    created_at: dt.datetime
    accepted_at: dt.datetime | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    outcome: str | None
    satisfaction: int | None
    engineer_id: str | None = None
    root_cause: str | None = None  # the diagnosis report's, when the help request carried one
    resolution: str | None = None  # the engineer's resolution code at the end


@dataclass(frozen=True)
class Figures:
    requests: int  # help requests created in the window
    waiting: int  # of those, still unsettled (queued, not yet accepted)
    answered: int
    unanswered: int
    answer_rate: float | None
    response_s: float | None  # mean
    response_p90_s: float | None
    sessions: int  # sessions that started and ended
    resolved: int
    repeat_calls: int  # resolved sessions whose device asked again within REPEAT_WINDOW
    first_contact_fix: float | None
    session_min: float | None  # mean
    ratings: int
    satisfaction: float | None  # share of ratings >= SATISFIED_RATING
    mean_rating: float | None

    def to_json(self) -> dict[str, float | int | None]:
        return asdict(self)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (no interpolation: the figure is a real observed response)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _repeats(tickets: Sequence[TicketFacts], later: Sequence[TicketFacts]) -> set[str]:
    """Ids of resolved tickets whose device opened another ticket within REPEAT_WINDOW after the end."""
    by_device: dict[str, list[dt.datetime]] = {}
    for t in later:
        by_device.setdefault(t.device_id, []).append(t.created_at)
    found: set[str] = set()
    for t in tickets:
        if t.outcome != "resolved" or t.ended_at is None:
            continue
        end = t.ended_at
        if any(end <= c <= end + REPEAT_WINDOW for c in by_device.get(t.device_id, ())):
            found.add(t.id)
    return found


def compute(tickets: Iterable[TicketFacts], later: Iterable[TicketFacts] | None = None) -> Figures:
    """The figures for `tickets` (those created in the window). `later` are the tickets that may be
    repeat calls (default: the same ones); pass every ticket up to now so a repeat the next day counts."""
    chosen = list(tickets)
    followers = chosen if later is None else list(later)
    answered = [t for t in chosen if t.accepted_at is not None]
    unanswered = [t for t in chosen if t.accepted_at is None and t.ended_at is not None]
    waiting = len(chosen) - len(answered) - len(unanswered)
    responses = [
        (t.accepted_at - t.created_at).total_seconds() for t in answered if t.accepted_at is not None
    ]
    sessions = [t for t in chosen if t.started_at is not None and t.ended_at is not None]
    lengths = [
        (t.ended_at - t.started_at).total_seconds() / 60
        for t in sessions
        if t.ended_at is not None and t.started_at is not None
    ]
    resolved = [t for t in sessions if t.outcome == "resolved"]
    repeats = _repeats(resolved, followers)
    ratings = [t.satisfaction for t in chosen if t.satisfaction is not None]
    return Figures(
        requests=len(chosen),
        waiting=waiting,
        answered=len(answered),
        unanswered=len(unanswered),
        answer_rate=_ratio(len(answered), len(answered) + len(unanswered)),
        response_s=_mean(responses),
        response_p90_s=_percentile(responses, 0.9),
        sessions=len(sessions),
        resolved=len(resolved),
        repeat_calls=len(repeats),
        first_contact_fix=_ratio(len(resolved) - len(repeats), len(sessions)),
        session_min=_mean(lengths),
        ratings=len(ratings),
        satisfaction=_ratio(sum(1 for r in ratings if r >= SATISFIED_RATING), len(ratings)),
        mean_rating=_mean([float(r) for r in ratings]),
    )


FIGURE_KEYS = ("answer_rate", "response_s", "first_contact_fix", "session_min", "satisfaction")


def behind(key: str, tickets: Iterable[TicketFacts], later: Iterable[TicketFacts] | None = None) -> list[str]:
    """Ids of the tickets a figure counts (its denominator), so a supervisor can check it by hand:
    answer rate — the settled requests; response — the answered ones; first-contact fix and session
    length — the sessions that started and ended; satisfaction — the rated ones."""
    chosen = list(tickets)
    if key == "answer_rate":
        return [t.id for t in chosen if t.accepted_at is not None or t.ended_at is not None]
    if key == "response_s":
        return [t.id for t in chosen if t.accepted_at is not None]
    if key in {"first_contact_fix", "session_min"}:
        return [t.id for t in chosen if t.started_at is not None and t.ended_at is not None]
    if key == "satisfaction":
        return [t.id for t in chosen if t.satisfaction is not None]
    raise ValueError(f"unknown figure {key!r}")


def day_starts(now: dt.datetime, utc_offset: dt.timedelta, days: int) -> list[dt.datetime]:
    """UTC instants of the last `days` local midnights (oldest first), the last one being today's."""
    local = now.astimezone(dt.timezone(utc_offset))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return [(midnight - dt.timedelta(days=days - 1 - i)).astimezone(dt.UTC) for i in range(days)]


def daily(
    tickets: Sequence[TicketFacts], starts: Sequence[dt.datetime], now: dt.datetime
) -> list[tuple[dt.datetime, Figures]]:
    """One `Figures` per day beginning at each of `starts` (a day ends at the next start, or `now`)."""
    bounds = [*starts[1:], now]
    return [
        (start, compute([t for t in tickets if start <= t.created_at < end], tickets))
        for start, end in zip(starts, bounds, strict=True)
    ]
