"""Hostile input gets a 4xx, never a 500, on SQLite and PostgreSQL: non-finite numbers in a login body,
NUL in names and paths, over-long static file names; and a 422 never echoes what the caller sent."""

from __future__ import annotations

import pytest

from tests.server.helpers import ADMIN, SUPERVISOR, RunningServer, logged_in

LOGIN_BODIES = [
    b'{"username": NaN, "password": "x"}',
    b'{"username": "a", "password": 1e999999}',
    b'{"username": "a", "password": "b", "totp": -Infinity}',
    b'{"username": "a\\u0000b", "password": "a long enough password"}',
    b'{"username": "admin", "password": "secret\\u0000"}',
    b"[1, 2]",
    b"\xff\xfe",
]


@pytest.mark.parametrize("body", LOGIN_BODIES)
async def test_hostile_login_bodies_are_refused_not_crashed(rme_server: RunningServer, body: bytes) -> None:
    async with rme_server.http() as http:
        reply = await http.post("/api/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text)


async def test_validation_errors_do_not_echo_the_input(rme_server: RunningServer) -> None:
    async with rme_server.http() as http:
        reply = await http.post("/api/auth/login", json={"username": ["x"], "password": "hunter2-secret"})
    assert reply.status_code == 422
    assert "hunter2-secret" not in reply.text
    assert reply.json()["detail"][0]["loc"] == ["body", "username"]


@pytest.mark.parametrize(
    "path",
    ["/console/index.html%00.js", "/console/%00", "/console/" + "a" * 5000 + ".js", "/console/a%ff.js"],
)
async def test_hostile_static_paths_are_404(rme_server: RunningServer, path: str) -> None:
    async with rme_server.http() as http:
        assert (await http.get(path)).status_code == 404


async def test_nul_in_path_ids_is_a_4xx(rme_server: RunningServer) -> None:
    async with logged_in(rme_server, *SUPERVISOR) as supervisor:
        for path in ("/api/tickets/a%00b", "/api/customers/a%00b", "/api/console/tickets/a%00b"):
            reply = await supervisor.get(path)
            assert 400 <= reply.status_code < 500, (path, reply.status_code)
    async with logged_in(rme_server, *ADMIN) as admin:
        reply = await admin.post("/api/engineers/a%00b/disable")
        assert 400 <= reply.status_code < 500, reply.status_code


async def test_a_malformed_referer_is_a_403(rme_server: RunningServer) -> None:
    async with rme_server.http() as http:
        del http.headers["Origin"]
        reply = await http.post(
            "/api/auth/login", json={"username": "a", "password": "b"}, headers={"Referer": "http://["}
        )
    assert reply.status_code == 403
