"""The weekly report and staffing advice on synthetic weeks (pure: no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from server.kpi.erlang import agents_needed
from server.kpi.figures import TicketFacts
from server.kpi.report_html import Lang, advice_sentence, render_csv, render_html
from server.kpi.week import Advice, PresenceSpan, build_week_report, parse_week

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def local(day: dt.date, hour: int, minute: int = 0, tz: ZoneInfo = SHANGHAI) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tz).astimezone(dt.UTC)


def ticket(
    n: int,
    created: dt.datetime,
    response_s: float | None = 5,
    length_s: float = 600,
    outcome: str = "resolved",
    rating: int | None = 5,
    engineer: str = "e_a",
    cause: str | None = "dns.unreachable",
) -> TicketFacts:
    if response_s is None:  # the user gave up after a minute, nobody answered
        return TicketFacts(f"t{n}", f"d{n}", created, None, None, created + dt.timedelta(minutes=1),
                           "ended_by_user", None, None, cause, None)  # fmt: skip
    accepted = created + dt.timedelta(seconds=response_s)
    return TicketFacts(
        id=f"t{n}", device_id=f"d{n}", created_at=created, accepted_at=accepted, started_at=accepted,
        ended_at=accepted + dt.timedelta(seconds=length_s), outcome=outcome, satisfaction=rating,
        engineer_id=engineer, root_cause=cause, resolution="dns.fixed" if outcome == "resolved" else None,
    )  # fmt: skip


def synthetic_week() -> tuple[list[TicketFacts], list[PresenceSpan]]:
    """2026-W48 (Mon 23 – Sun 29 November), Shanghai: one request an hour 10:00–18:00 every day,
    and an evening rush of 12 an hour 19:00–22:00 on weekdays; two engineers online 09:00–23:00."""
    monday = dt.date(2026, 11, 23)
    tickets: list[TicketFacts] = []
    presence: list[PresenceSpan] = []
    n = 0
    for offset in range(7):
        day = monday + dt.timedelta(days=offset)
        for hour in range(10, 19):
            n += 1
            tickets.append(ticket(n, local(day, hour, 30)))
        if offset < 5:
            for hour in (19, 20, 21):
                for i in range(12):
                    n += 1
                    tickets.append(ticket(n, local(day, hour, i * 5), response_s=40, engineer="e_b"))
        for engineer in ("e_a", "e_b"):
            presence.append(PresenceSpan(engineer, local(day, 9), local(day, 23)))
    return tickets, presence


def test_parse_week() -> None:
    assert parse_week("2026-W48") == (2026, 48)
    assert parse_week(" 2026-w01 ") == (2026, 1)
    for bad in ("2026-48", "2026-W54", "W48", "", "2026-W0"):
        with pytest.raises(ValueError, match="ISO week"):
            parse_week(bad)


def test_figures_and_missed_standards_of_a_synthetic_week() -> None:
    tickets, presence = synthetic_week()
    report = build_week_report(
        week="2026-W48", tz_name="Asia/Shanghai", tickets=tickets, later=tickets, presence=presence, now=NOW
    )
    assert [d.isoformat() for d, _ in report.days] == [f"2026-11-{d}" for d in range(23, 30)]
    assert report.week_figures.requests == 7 * 9 + 5 * 36
    monday = report.days[0][1]
    assert monday.response_s == pytest.approx((9 * 5 + 36 * 40) / 45)  # 33 s: misses the 15 s standard
    assert report.missed_by_day[0] == ["response_s"]
    assert report.missed_by_day[5] == []  # Saturday: no rush, every standard met
    assert report.missed == ["response_s"]
    assert report.worst_response_hours == [(19, 40.0), (20, 40.0), (21, 40.0)]
    assert report.worst_abandon_hours == []
    assert report.root_causes == [("dns.unreachable", 243)]
    assert [e.engineer_id for e in report.engineers] == ["e_a", "e_b"]
    assert report.engineers[1].figures.sessions == 180
    assert report.handle_s == pytest.approx(600) and report.handle_measured
    assert report.patience_s is None  # nobody gave up: Erlang C


def test_staffing_advice_names_the_evening_rush() -> None:
    tickets, presence = synthetic_week()
    report = build_week_report(
        week="2026-W48", tz_name="Asia/Shanghai", tickets=tickets, later=tickets, presence=presence, now=NOW
    )
    rush = agents_needed(12 / 3600, 600, 15, 0.9)
    quiet = agents_needed(1 / 3600, 600, 15, 0.9)
    assert quiet <= 2 < rush
    monday_19 = next(s for s in report.slots if s.day == 0 and s.hour == 19)
    assert (monday_19.requests, monday_19.required) == (12, rush)
    assert monday_19.present == pytest.approx(2.0)
    night = next(s for s in report.slots if s.day == 0 and s.hour == 3)
    assert (night.requests, night.required, night.present, night.short) == (0, 0, 0.0, 0)
    assert report.advice == [Advice(seats=rush - 2, days=(0, 1, 2, 3, 4), first_hour=19, last_hour=21)]
    assert advice_sentence(report.advice[0], "en") == f"Add {rush - 2} seats on weekdays 19:00–22:00"
    assert advice_sentence(report.advice[0], "zh-CN") == f"工作日 19:00–22:00 增加 {rush - 2} 个坐席"


def test_abandonment_switches_to_erlang_a() -> None:
    monday = dt.date(2026, 11, 23)
    tickets = [ticket(1, local(monday, 10)), ticket(2, local(monday, 10, 30), response_s=None)]
    report = build_week_report(
        week="2026-W48", tz_name="Asia/Shanghai", tickets=tickets, later=tickets, presence=[], now=NOW
    )
    # Patience: 5 s + 60 s waited in all, one gave up.
    assert report.patience_s == pytest.approx(65.0)
    assert report.worst_abandon_hours == [(10, 0.5)]
    assert report.week_figures.answer_rate == pytest.approx(0.5)
    assert "answer_rate" in report.missed
    assert report.advice == [Advice(seats=report.slots[10].required, days=(0,), first_hour=10, last_hour=10)]


def test_a_week_with_no_data_has_no_figures_and_no_advice() -> None:
    report = build_week_report(
        week="2026-W48", tz_name="Asia/Shanghai", tickets=[], later=[], presence=[], now=NOW
    )
    assert report.week_figures.requests == 0
    assert report.week_figures.response_s is None
    assert report.missed == []  # no data is not a miss
    assert report.advice == []
    assert report.handle_measured is False
    assert len(report.slots) == 7 * 24
    html = render_html(report, "en")
    assert "Every standard was met this week" in html and "no data" in html
    assert render_csv(report).count("\nstaffing,") == 7 * 24


def test_a_day_with_one_ticket() -> None:
    wednesday = dt.date(2026, 11, 25)
    tickets = [ticket(1, local(wednesday, 23, 59), response_s=20, length_s=30, rating=3)]
    report = build_week_report(
        week="2026-W48", tz_name="Asia/Shanghai", tickets=tickets, later=tickets, presence=[], now=NOW
    )
    assert [f.requests for _, f in report.days] == [0, 0, 1, 0, 0, 0, 0]
    day = report.days[2][1]
    assert day.session_min == pytest.approx(0.5)
    assert report.missed_by_day[2] == ["response_s", "satisfaction"]
    html = render_html(report, "en")
    assert "30 s" in html  # a half-minute session reads in seconds, not "0.5 min"


def test_clock_change_weeks_use_real_hours() -> None:
    # Europe/Berlin: summer time ended on Sunday 25 October 2026 (2026-W43) at 03:00, so 02:00–03:00
    # happened twice; it began on Sunday 29 March 2026 (2026-W13), when 02:00–03:00 did not exist.
    autumn = build_week_report(
        week="2026-W43", tz_name="Europe/Berlin", tickets=[], later=[], presence=[], now=NOW
    )
    assert (autumn.end - autumn.start) == dt.timedelta(days=7, hours=1)
    repeated = next(s for s in autumn.slots if s.day == 6 and s.hour == 2)
    assert repeated.seconds == 7200
    assert len(autumn.slots) == 7 * 24
    spring = build_week_report(
        week="2026-W13", tz_name="Europe/Berlin", tickets=[], later=[], presence=[], now=NOW
    )
    assert (spring.end - spring.start) == dt.timedelta(days=6, hours=23)
    assert [s.hour for s in spring.slots if s.day == 6][:4] == [0, 1, 3, 4]
    # Two requests in the repeated hour: one in each of its real hours, counted in one slot whose
    # rate is per real second.
    sunday = dt.date(2026, 10, 25)
    first = dt.datetime.combine(sunday, dt.time(2, 30), BERLIN).astimezone(dt.UTC)
    second = dt.datetime.combine(sunday, dt.time(2, 30, fold=1), BERLIN).astimezone(dt.UTC)
    assert (first, second) == (
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC),
    )
    tickets = [ticket(1, first), ticket(2, second)]
    report = build_week_report(
        week="2026-W43", tz_name="Europe/Berlin", tickets=tickets, later=tickets, presence=[], now=NOW
    )
    slot = next(s for s in report.slots if s.day == 6 and s.hour == 2)
    assert slot.requests == 2 and slot.seconds == 7200
    assert report.days[6][1].requests == 2


def test_html_escapes_data_and_marks_misses() -> None:
    monday = dt.date(2026, 11, 23)
    tickets = [ticket(1, local(monday, 10), response_s=60, cause="<script>alert(1)</script>")]
    report = build_week_report(
        week="2026-W48", tz_name="Asia/Shanghai", tickets=tickets, later=tickets, presence=[], now=NOW
    )
    langs: tuple[Lang, ...] = ("en", "zh-CN")
    for lang in langs:
        html = render_html(report, lang, {"e_a": "张三 <b>"})
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "张三 &lt;b&gt;" in html
        assert 'class="miss"' in html
    assert "平均响应" in render_html(report, "zh-CN") and "本周未达标" in render_html(report, "zh-CN")
    assert "Standards missed this week: Mean response" in render_html(report, "en")
