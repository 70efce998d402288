"""The weekly report and the alerts through a real `rme-server serve` and its CLI: roles, formats,
clear errors, and an alert raised by a real help request, visible to the supervisor and Prometheus."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.messages import HelpQueued, HelpRequest, HelpRequestBody
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    SUPERVISOR,
    AgentIdentity,
    RunningServer,
    agent_enroll,
    logged_in,
    new_customer_code,
    running_server,
)
from tests.server.kpi.webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def server(tmp_path: Path, receiver: Receiver) -> Iterator[RunningServer]:
    settings = {
        "alert_period": "0.2",
        "presence_period": "0.2",
        "metrics_token": "metrics-secret",
        "alert_webhook_url": receiver.url,
        "alert_webhook_secret": receiver.secret,
    }
    with running_server(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'rme.db'}", **settings) as s:
        yield s


async def test_report_formats_roles_and_errors(server: RunningServer) -> None:
    async with logged_in(server, *SUPERVISOR) as sup:
        page = await sup.get("/api/console/report/week", params={"week": "2026-W48", "lang": "en"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src" not in page.headers["content-security-policy"]  # none at all: default 'none'
        assert "Weekly service report · 2026-W48" in page.text
        zh = await sup.get("/api/console/report/week", params={"week": "2026-W48", "tz": "Asia/Shanghai"})
        assert "每周服务报告" in zh.text
        data = (
            await sup.get("/api/console/report/week", params={"week": "2026-W48", "format": "json"})
        ).json()
        assert data["week"] == "2026-W48" and data["tz"] == "Asia/Shanghai"
        assert len(data["staffing"]["slots"]) == 168 and data["missed"] == []
        table = await sup.get("/api/console/report/week", params={"week": "2026-W48", "format": "csv"})
        assert "rme-report-2026-W48.csv" in table.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(table.text)))
        assert rows[0][:3] == ["section", "date", "requests"] and len(rows) == 1 + 7 + 1 + 1 + 1 + 168
        for params, word in (
            ({"week": "2026-48"}, "ISO week"),
            ({"week": "2026-W48", "tz": "Mars/Olympus"}, "time zone"),
            ({"week": "2026-W48", "tz": "../../etc/passwd"}, "time zone"),
        ):
            bad = await sup.get("/api/console/report/week", params=params)
            assert bad.status_code == 422 and word in bad.text
        assert (await sup.get("/api/console/report/week", params={"share": "1"})).status_code == 422
    async with logged_in(server, *ENGINEER) as eng:
        assert (await eng.get("/api/console/report/week")).status_code == 403
        assert (await eng.get("/api/console/alerts")).status_code == 403


def test_cli_writes_the_report(server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "week.html"
    done = server.cli("report", "week", "--week", "2026-W48", "--lang", "en", "--out", str(out))
    assert "Weekly service report" in out.read_text(encoding="utf-8"), done.stderr
    as_json = server.cli("report", "week", "--week", "2026-W01", "--format", "json")
    assert json.loads(as_json.stdout)["week"] == "2026-W01"
    bad = server.cli("report", "week", "--week", "nope", check=False)
    assert bad.returncode == 2 and "ISO week" in bad.stderr
    bad_tz = server.cli("report", "week", "--tz", "Nowhere/City", check=False)
    assert bad_tz.returncode == 2 and "time zone" in bad_tz.stderr


async def test_a_help_request_raises_the_queue_alert_everywhere(
    server: RunningServer, receiver: Receiver
) -> None:
    async with logged_in(server, *SUPERVISOR) as sup, logged_in(server, *ADMIN) as admin:
        origin = {"origin": server.origin}
        assert (
            await sup.put("/api/console/alerts/queue_length", json={"threshold": 0}, headers=origin)
        ).status_code == 200
        for bad in ({"threshold": -1}, {"threshold": "x"}, {"limit": 3}):
            reply = await sup.put("/api/console/alerts/queue_length", json=bad, headers=origin)
            assert reply.status_code == 422
        nan = await sup.put(
            "/api/console/alerts/queue_length", content=b'{"threshold": NaN}',
            headers={**origin, "content-type": "application/json"},
        )  # fmt: skip
        assert nan.status_code in (400, 422)
        assert (
            await sup.put("/api/console/alerts/coffee", json={"threshold": 1}, headers=origin)
        ).status_code == 404
        # Without the console's origin a state change is refused (CSRF).
        other = {"origin": "https://evil.example"}
        assert (
            await sup.put("/api/console/alerts/queue_length", json={"threshold": 0}, headers=other)
        ).status_code == 403
        before = (await sup.get("/api/console/alerts")).json()
        assert before["values"]["queue_length"] == 0
        assert not any(a["active"] for a in before["alerts"])

        _, code = await new_customer_code(admin)
        agent = await agent_enroll(server, AgentIdentity(), code)
        try:
            await agent.send(HelpRequest(body=HelpRequestBody(words="no internet", lang="en")))
            await agent.expect(HelpQueued)
            now = (await sup.get("/api/console/alerts")).json()
            assert now["values"]["queue_length"] == 1
            raised = {a["kind"]: a for a in now["alerts"]}
            assert raised["queue_length"]["active"] is True and raised["queue_length"]["threshold"] == 0
            # The periodic evaluation feeds Prometheus; the webhook got the signed event.
            metrics = ""
            for _ in range(100):
                reply = await sup.get("/metrics", headers={"authorization": "Bearer metrics-secret"})
                metrics = reply.text
                if 'rme_alert_active{kind="queue_length"} 1.0' in metrics:
                    break
                await asyncio.sleep(0.1)
            assert 'rme_alert_active{kind="queue_length"} 1.0' in metrics
            assert "rme_queue_length 1.0" in metrics
            for _ in range(100):
                if receiver.kinds():
                    break
                await asyncio.sleep(0.1)
            assert receiver.kinds() == [("alert.raised", "queue_length")]
        finally:
            await agent.close()
