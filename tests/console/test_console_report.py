"""The supervisor's weekly report and alerts in Chromium, against a real server and a real agent.

A synthetic week (2026-W40, with an evening rush on weekdays answered slowly) is written into the
console server's database through the tickets store's real transitions; the supervisor picks that
week, reads which standard it missed and the staffing advice, opens the printable report (charts as
SVG), and sets a queue alert that a real help request then raises at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from playwright.sync_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts.engineers import create_engineer
from server.accounts.roles import Role
from server.db.engine import open_engine
from server.db.tables import new_id, tickets
from server.kpi.presence import record_sample
from tests.console.conftest import WAIT_MS, WIDE, login
from tests.console.protocol_agent import Background, ask, background, enroll
from tests.console.test_console_e2e import Shots
from tests.server.helpers import SUPERVISOR, RunningServer
from tests.server.kpi.test_store import make_device

__all__ = ["background"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI).astimezone(dt.UTC)


async def seed_week(engine: AsyncEngine) -> None:
    """Ended sessions written as the finished rows the relay leaves (not walked through the live
    server's transitions: its sweep would end tickets of a node that is not running meanwhile)."""
    engineer = await create_engineer(engine, "week-eng", "a long password 1", Role.ENGINEER, "李工")
    monday = dt.date(2026, 9, 28)  # 2026-W40
    rows = []
    for offset in range(5):
        day = monday + dt.timedelta(days=offset)
        for hour in (19, 20, 21):
            for i in range(4):
                device = await make_device(engine, f"Week {offset}-{hour}-{i}")
                created = local(day, hour, i * 15)
                accepted = created + dt.timedelta(seconds=40)
                rows.append({
                    "id": new_id("t"), "session_id": new_id("s"), "device_id": device.id,
                    "customer_id": device.customer_id, "state": "ended", "user_words": "上不了网",
                    "report": None, "lang": "zh-CN", "created_at": created, "engineer_id": engineer.id,
                    "accepted_at": accepted, "started_at": accepted + dt.timedelta(seconds=5),
                    "ended_at": accepted + dt.timedelta(minutes=15), "outcome": "resolved",
                    "resolution": "dns.fixed", "satisfaction": 5, "node_id": "n-test",
                })  # fmt: skip
        for step in range(0, 15):  # one engineer online 09:00–23:00, sampled hourly
            await record_sample(engine, "n-test", [engineer.id], local(day, 9 + step), 3600)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(tickets), rows)


def run_in_thread(server: RunningServer) -> None:
    """Playwright's sync API holds this thread's event loop: seed from another thread."""

    async def work() -> None:
        engine = open_engine(server.env["RME_DATABASE_URL"])
        try:
            await seed_week(engine)
        finally:
            await engine.dispose()

    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(work())
        except BaseException as exc:  # reported in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive() and not failure, failure


def test_weekly_report_and_alerts(
    own_server: RunningServer, browser: Browser, background: Background, tmp_path: Path
) -> None:
    server = own_server
    run_in_thread(server)
    shots = Shots(tmp_path / "shots")
    # The desk is in Shanghai: the console asks for the report in the browser's time zone.
    context = browser.new_context(
        ignore_https_errors=True, viewport=WIDE, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, server, SUPERVISOR)
    page.click("#nav-supervisor")
    page.fill("#report-week", "2026-W40")
    page.dispatch_event("#report-week", "change")
    expect(page.locator("#report-verdict")).to_contain_text("平均响应时间")
    advice = page.locator("#report-advice li").first
    expect(advice).to_contain_text("工作日 19:00–22:00 增加")

    # The printable report: the same verdict and advice, the per-day table with the misses marked,
    # and both charts.
    href = page.locator("#report-open").get_attribute("href")
    assert href is not None and "week=2026-W40" in href
    report = context.new_page()
    report.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    report.goto(f"{server.base}{href}")
    expect(report.locator("h1")).to_contain_text("每周服务报告 · 2026-W40")
    expect(report.locator("#verdict")).to_contain_text("平均响应")
    expect(report.locator("#advice li").first).to_contain_text("工作日 19:00–22:00 增加")
    assert report.locator("#days td.miss").count() >= 5  # each weekday's response
    assert report.locator("svg polyline.needed").count() == 1
    assert report.locator("svg rect.hour").count() == 3  # responses measured at 19, 20 and 21 h
    assert "李工" in report.locator("#engineers").inner_text()
    shots.take(report, "weekly-report")
    report.close()

    # English: the summary follows the language switch.
    page.click("#lang")
    expect(page.locator("#report-advice li").first).to_contain_text("on weekdays 19:00–22:00")

    # Alerts: a threshold of the current queue length; a real help request pushes a queue update, the
    # view re-reads and shows the alert at once.
    expect(page.locator("#alert-now-queue_length")).to_contain_text("now:")
    waiting = int(
        page.evaluate("async () => (await (await fetch('/api/console/alerts')).json()).values.queue_length")
    )
    page.fill("#alert-queue_length", str(waiting))
    page.click("#alert-save-queue_length")
    expect(page.locator("#alert-banner")).to_be_hidden()
    agent = background.run(enroll(server))
    background.run(ask(agent, "alert test: 网络断了"))
    expect(page.locator("#alert-banner")).to_be_visible()
    expect(page.locator("#alert-banner")).to_contain_text("Requests waiting more than")
    shots.take(page, "supervisor-alerts-en")
    page.fill("#alert-queue_length", "")
    page.click("#alert-save-queue_length")
    expect(page.locator("#alert-banner")).to_be_hidden()
    background.run(agent.close())
    assert errors == [], errors
    context.close()
