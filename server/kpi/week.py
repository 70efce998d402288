"""The weekly service report and staffing advice, computed from ticket facts and engineer presence.

Pure: the caller loads the facts (`server.kpi.store`) and renders the result (`server.kpi.report_html`).

Theory of operation:
* A **week** is an ISO week (`2026-W48`) in the operator's time zone: Monday 00:00 to the next Monday
  00:00 local time. Days and hours are *local wall-clock* slots, each with its real length in UTC — so
  on a daylight-saving change the day is 23 or 25 hours long, the skipped hour has no slot and the
  repeated hour is one two-hour slot. Rates are always per real second, never per wall hour.
* The **five figures** per day and for the week use the definitions of `server.kpi.figures`; a figure
  misses its standard when `Target.met` says False (no data is not a miss).
* **Worst hours**: by local hour of the day over the week, the mean response and the share of requests
  abandoned (ended before any engineer accepted).
* **Staffing**: for every hour slot of the week, the arrival rate is the help requests created in it
  over its length; the handling time is the week's mean from accept to end (an engineer is busy from
  the moment they accept); patience, when requests were abandoned, is estimated as abandoned requests
  over the total time requests waited (the maximum-likelihood estimate for exponential patience with
  answered requests as censored observations), and then Erlang A is used, else Erlang C
  (`server.kpi.erlang`). Required engineers: the fewest that answer `answer_share` of requests within
  `answer_within_s`. Present engineers: the mean number of engineer consoles online in the slot.
  Advice groups the slots that lack engineers into plain sentences: "add 2 seats on weekdays
  19:00–22:00".
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from server.kpi.erlang import agents_needed
from server.kpi.figures import TARGETS, Figures, TicketFacts, compute

__all__ = [
    "Advice",
    "HourSlot",
    "PresenceSpan",
    "StaffingSettings",
    "WeekReport",
    "build_week_report",
    "parse_week",
    "week_bounds",
]

# Used for staffing when the week had no finished session to measure a handling time from.
DEFAULT_HANDLE_S = 600.0
WORST_HOURS = 3
TOP_CAUSES = 5
WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})


@dataclass(frozen=True)
class PresenceSpan:
    """One engineer console online from `start` to `end` (UTC)."""

    engineer_id: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class StaffingSettings:
    answer_within_s: float = 15.0  # the response standard
    answer_share: float = 0.90  # the share of requests that must be answered within it
    handle_s: float | None = None  # None: the week's measured mean


@dataclass(frozen=True)
class HourSlot:
    day: int  # 0 = Monday
    hour: int  # local wall-clock hour
    start: dt.datetime  # UTC
    seconds: float  # real length (3,600, or 7,200 for a repeated hour)
    requests: int
    required: int
    present: float

    @property
    def short(self) -> int:
        """Engineers missing in this slot (a fraction of presence counts as that much of a seat)."""
        return max(0, math.ceil(self.required - self.present - 1e-9))


@dataclass(frozen=True)
class Advice:
    seats: int
    days: tuple[int, ...]  # 0 = Monday
    first_hour: int
    last_hour: int  # inclusive: 19–21 reads "19:00–22:00"


@dataclass(frozen=True)
class EngineerFigures:
    engineer_id: str
    figures: Figures


@dataclass
class WeekReport:
    week: str
    tz: str
    start: dt.datetime
    end: dt.datetime
    days: list[tuple[dt.date, Figures]]
    week_figures: Figures
    missed: list[str]  # target keys the week missed
    missed_by_day: list[list[str]]
    response_by_hour: dict[int, float]  # local hour → mean response (s)
    worst_response_hours: list[tuple[int, float]]  # (local hour, mean response s)
    worst_abandon_hours: list[tuple[int, float]]  # (local hour, share abandoned)
    root_causes: list[tuple[str, int]]
    resolutions: list[tuple[str, int]]
    engineers: list[EngineerFigures]
    handle_s: float
    handle_measured: bool
    patience_s: float | None
    settings: StaffingSettings
    slots: list[HourSlot] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "tz": self.tz,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": [{"date": d.isoformat(), **f.to_json()} for d, f in self.days],
            "week_figures": self.week_figures.to_json(),
            "missed": self.missed,
            "missed_by_day": self.missed_by_day,
            "targets": [asdict(t) for t in TARGETS],
            "worst_response_hours": [{"hour": h, "response_s": v} for h, v in self.worst_response_hours],
            "worst_abandon_hours": [{"hour": h, "abandoned": v} for h, v in self.worst_abandon_hours],
            "root_causes": [{"code": c, "count": n} for c, n in self.root_causes],
            "resolutions": [{"code": c, "count": n} for c, n in self.resolutions],
            "engineers": [{"engineer_id": e.engineer_id, **e.figures.to_json()} for e in self.engineers],
            "staffing": {
                "handle_s": self.handle_s,
                "handle_measured": self.handle_measured,
                "patience_s": self.patience_s,
                "model": "erlang_a" if self.patience_s is not None else "erlang_c",
                "answer_within_s": self.settings.answer_within_s,
                "answer_share": self.settings.answer_share,
                "slots": [
                    {
                        "day": s.day,
                        "hour": s.hour,
                        "start": s.start.isoformat(),
                        "seconds": s.seconds,
                        "requests": s.requests,
                        "required": s.required,
                        "present": round(s.present, 3),
                        "short": s.short,
                    }
                    for s in self.slots
                ],
                "advice": [asdict(a) for a in self.advice],
            },
        }


def parse_week(text: str) -> tuple[int, int]:
    """`2026-W48` → (2026, 48); a clear ValueError for anything else."""
    try:
        year_text, week_text = text.strip().upper().split("-W")
        year, week = int(year_text), int(week_text)
        dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"not an ISO week like 2026-W48: {text!r}") from None
    return year, week


def week_bounds(year: int, week: int, tz: ZoneInfo) -> tuple[list[dt.date], list[dt.datetime]]:
    """The week's seven local dates and the eight UTC instants of their midnights (the last: next Monday)."""
    monday = dt.date.fromisocalendar(year, week, 1)
    dates = [monday + dt.timedelta(days=i) for i in range(8)]
    midnights = [dt.datetime.combine(d, dt.time(0), tz).astimezone(dt.UTC) for d in dates]
    return dates[:7], midnights


def _hour_slots(dates: Sequence[dt.date], tz: ZoneInfo) -> list[tuple[int, int, dt.datetime, dt.datetime]]:
    """(day, local hour, UTC start, UTC end) for each wall-clock hour that exists; a repeated hour
    (autumn) is one slot of two real hours, a skipped one (spring) has none."""
    slots = []
    for day, date in enumerate(dates):
        for hour in range(24):
            start = dt.datetime.combine(date, dt.time(hour), tz).astimezone(dt.UTC)
            if hour == 23:
                end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
            else:
                end = dt.datetime.combine(date, dt.time(hour + 1), tz).astimezone(dt.UTC)
            if end > start:
                slots.append((day, hour, start, end))
    return slots


def _overlap(a0: dt.datetime, a1: dt.datetime, b0: dt.datetime, b1: dt.datetime) -> float:
    return max(0.0, (min(a1, b1) - max(a0, b0)).total_seconds())


def _handle_time(tickets: Sequence[TicketFacts]) -> float | None:
    spans = [
        (t.ended_at - t.accepted_at).total_seconds()
        for t in tickets
        if t.accepted_at is not None and t.ended_at is not None and t.ended_at > t.accepted_at
    ]
    return sum(spans) / len(spans) if spans else None


def _patience(tickets: Sequence[TicketFacts], now: dt.datetime) -> float | None:
    """Mean patience (s) from abandoned requests over all waiting time; None when nobody gave up."""
    abandoned = 0
    waited = 0.0
    for t in tickets:
        if t.accepted_at is not None:
            waited += max(0.0, (t.accepted_at - t.created_at).total_seconds())
        elif t.ended_at is not None:
            abandoned += 1
            waited += max(0.0, (t.ended_at - t.created_at).total_seconds())
        else:
            waited += max(0.0, (now - t.created_at).total_seconds())
    if abandoned == 0 or waited <= 0:
        return None
    return waited / abandoned


def _by_local_hour(tickets: Sequence[TicketFacts], tz: ZoneInfo) -> dict[int, list[TicketFacts]]:
    hours: dict[int, list[TicketFacts]] = {}
    for t in tickets:
        hours.setdefault(t.created_at.astimezone(tz).hour, []).append(t)
    return hours


def _hourly(
    tickets: Sequence[TicketFacts], tz: ZoneInfo
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """By local hour of day: mean response, and share abandoned (hours with none left out)."""
    responses: list[tuple[int, float]] = []
    abandons: list[tuple[int, float]] = []
    for hour, group in sorted(_by_local_hour(tickets, tz).items()):
        figures = compute(group)
        if figures.response_s is not None:
            responses.append((hour, figures.response_s))
        settled = figures.answered + figures.unanswered
        if settled and figures.unanswered:
            abandons.append((hour, figures.unanswered / settled))
    return responses, abandons


def _worst(items: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return sorted(items, key=lambda item: (-item[1], item[0]))[:WORST_HOURS]


def _missed(figures: Figures) -> list[str]:
    values = figures.to_json()
    return [t.key for t in TARGETS if t.met(_as_float(values.get(t.key))) is False]


def _as_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _advice(slots: Sequence[HourSlot]) -> list[Advice]:
    """Group the short slots: for each hour, which days lack how many seats; then merge neighbouring
    hours with the same days and seats into one sentence."""
    by_hour: dict[int, dict[int, int]] = {}
    for slot in slots:
        if slot.short:
            shorts = by_hour.setdefault(slot.hour, {})
            shorts[slot.day] = max(shorts.get(slot.day, 0), slot.short)
    rows: list[tuple[int, tuple[int, ...], int]] = []  # (hour, days, seats)
    for hour in sorted(by_hour):
        # Days needing the same number of seats at this hour go together.
        seats_days: dict[int, list[int]] = {}
        for day, seats in by_hour[hour].items():
            seats_days.setdefault(seats, []).append(day)
        rows.extend((hour, tuple(sorted(group)), seats) for seats, group in seats_days.items())
    merged: list[Advice] = []
    for hour, days, seats in sorted(rows, key=lambda r: (r[1], r[2], r[0])):
        last = merged[-1] if merged else None
        if last and last.days == days and last.seats == seats and last.last_hour + 1 == hour:
            merged[-1] = Advice(seats, days, last.first_hour, hour)
        else:
            merged.append(Advice(seats, days, hour, hour))
    merged.sort(key=lambda a: (-a.seats * (a.last_hour - a.first_hour + 1) * len(a.days), a.first_hour))
    return merged


def build_week_report(
    *,
    week: str,
    tz_name: str,
    tickets: Sequence[TicketFacts],
    later: Sequence[TicketFacts],
    presence: Sequence[PresenceSpan],
    now: dt.datetime,
    settings: StaffingSettings | None = None,
) -> WeekReport:
    """The report for `week` in time zone `tz_name`. `tickets` are those created in the week, `later`
    every ticket up to now (for repeat calls), `presence` the console spans overlapping the week."""
    settings = settings or StaffingSettings()
    tz = ZoneInfo(tz_name)
    year, number = parse_week(week)
    dates, midnights = week_bounds(year, number, tz)
    start, end = midnights[0], midnights[-1]
    chosen = [t for t in tickets if start <= t.created_at < end]
    days = [
        (date, compute([t for t in chosen if midnights[i] <= t.created_at < midnights[i + 1]], later))
        for i, date in enumerate(dates)
    ]
    week_figures = compute(chosen, later)
    responses, abandons = _hourly(chosen, tz)

    measured = _handle_time(chosen)
    handle_s = settings.handle_s or measured or DEFAULT_HANDLE_S
    patience_s = _patience(chosen, min(now, end))
    slots: list[HourSlot] = []
    # One slot per local hour of the week, each with its real length.
    for day, hour, slot_start, slot_end in _hour_slots(dates, tz):
        seconds = (slot_end - slot_start).total_seconds()
        arrivals = sum(1 for t in chosen if slot_start <= t.created_at < slot_end)
        required = agents_needed(
            arrivals / seconds, handle_s, settings.answer_within_s, settings.answer_share, patience_s
        )
        online = sum(_overlap(p.start, p.end, slot_start, slot_end) for p in presence) / seconds
        slots.append(HourSlot(day, hour, slot_start, seconds, arrivals, required, online))

    engineer_ids = sorted({t.engineer_id for t in chosen if t.engineer_id})
    return WeekReport(
        week=f"{year}-W{number:02d}",
        tz=tz_name,
        start=start,
        end=end,
        days=days,
        week_figures=week_figures,
        missed=_missed(week_figures),
        missed_by_day=[_missed(f) for _, f in days],
        response_by_hour=dict(responses),
        worst_response_hours=_worst(responses),
        worst_abandon_hours=_worst(abandons),
        root_causes=Counter(t.root_cause for t in chosen if t.root_cause).most_common(TOP_CAUSES),
        resolutions=Counter(t.resolution for t in chosen if t.resolution).most_common(TOP_CAUSES),
        engineers=[
            EngineerFigures(e, compute([t for t in chosen if t.engineer_id == e], later))
            for e in engineer_ids
        ],
        handle_s=handle_s,
        handle_measured=settings.handle_s is None and measured is not None,
        patience_s=patience_s,
        settings=settings,
        slots=slots,
        advice=_advice(slots),
    )
