"""`server/web/console_routes.py` on a real server: the static files (and nothing else) are served
with a strict CSP, every `/api/console/*` route needs a login and the right role, and the audit
check refuses what is not a valid export."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from tests.server.helpers import ENGINEER, SUPERVISOR, RunningServer


@contextlib.contextmanager
def client(server: RunningServer, account: tuple[str, str] | None = None) -> Iterator[httpx.Client]:
    with server.sync_http() as http:
        if account is not None:
            reply = http.post("/api/auth/login", json={"username": account[0], "password": account[1]})
            assert reply.status_code == 200, reply.text
        yield http


def test_root_leads_to_the_console(console_server: RunningServer) -> None:
    with client(console_server) as http:
        reply = http.get("/", follow_redirects=False)
        assert reply.status_code == 307 and reply.headers["location"] == "/console/"
        page = http.get("/console/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/console/js/app.js">' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        script = http.get("/console/js/views/session.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path",
    [
        "/console/__init__.py",
        "/console/../server/config.py",
        "/console/%2e%2e/server/config.py",
        "/console/js/..%2f..%2fserver/config.py",
        "/console/.hidden.js",
        "/console/js/missing.js",
        "/console/js\\app.js",
    ],
)
def test_nothing_but_console_files_is_served(console_server: RunningServer, path: str) -> None:
    with client(console_server) as http:
        assert http.get(path).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/api/console/tickets/t_missing", "engineer"),
        ("GET", "/api/console/repairs", "engineer"),
        ("GET", "/api/console/overview", "supervisor"),
        ("GET", "/api/console/kpis", "supervisor"),
        ("POST", "/api/console/audit/verify", "supervisor"),
    ],
)
def test_api_routes_need_a_login_and_the_role(
    console_server: RunningServer, method: str, path: str, role: str
) -> None:
    with client(console_server) as anonymous:
        assert anonymous.request(method, path).status_code == 401
    with client(console_server, ENGINEER) as engineer:
        status = engineer.request(method, path, content=b"{}").status_code
        assert status == 403 if role == "supervisor" else status in (200, 404)


def test_state_changing_calls_need_our_origin(console_server: RunningServer) -> None:
    with client(console_server, SUPERVISOR) as http:
        reply = http.post(
            "/api/console/audit/verify", content=b"{}", headers={"Origin": "https://evil.example"}
        )
        assert reply.status_code == 403


def test_ticket_detail_of_an_unknown_ticket(console_server: RunningServer) -> None:
    with client(console_server, ENGINEER) as http:
        assert http.get("/api/console/tickets/t_missing").status_code == 404


def test_repair_catalogue_in_both_languages(console_server: RunningServer) -> None:
    with client(console_server, ENGINEER) as http:
        repairs = {r["id"]: r for r in http.get("/api/console/repairs").json()}
    assert "dns.flush_cache" in repairs
    entry = repairs["dns.flush_cache"]
    assert entry["zh-CN"]["title"] == "清除 DNS 缓存"
    assert entry["en"]["title"] == "Flush the DNS cache"
    assert {"risk", "undo"} <= set(entry["en"])


def test_audit_check_refuses_what_is_not_an_export(console_server: RunningServer) -> None:
    with client(console_server, SUPERVISOR) as http:
        for body in (b"not json", b"{}", b'{"format": "rme-audit-session-export/1"}'):
            result = http.post("/api/console/audit/verify", content=body).json()
            assert result["ok"] is False and result["problems"]
            assert result["key"].startswith("rme-audit+")


def test_kpis_follow_the_callers_timezone(console_server: RunningServer) -> None:
    with client(console_server, SUPERVISOR) as http:
        beijing = http.get("/api/console/kpis", params={"utc_offset_min": 480}).json()
        assert beijing["utc_offset_min"] == 480
        assert len(beijing["days"]) == 7
        assert [t["key"] for t in beijing["targets"]] == [
            "answer_rate", "response_s", "first_contact_fix", "session_min", "satisfaction",
        ]  # fmt: skip
        assert http.get("/api/console/kpis", params={"utc_offset_min": 5000}).status_code == 422
