"""Logging in over real HTTPS: cookie flags, no lock-out, Origin checks, TOTP, logout."""

from __future__ import annotations

import datetime as dt
import secrets

import pyotp

from tests.server.helpers import ADMIN, RunningServer, logged_in, login


async def new_user(server: RunningServer, role: str = "engineer") -> tuple[str, str]:
    name, password = f"u{secrets.token_hex(4)}", "a long enough password"
    async with logged_in(server, *ADMIN) as admin:
        reply = await admin.post(
            "/api/engineers", json={"username": name, "password": password, "role": role}
        )
        assert reply.status_code == 201, reply.text
    return name, password


async def test_cookie_is_httponly_secure_strict(rme_server: RunningServer) -> None:
    name, password = await new_user(rme_server)
    async with rme_server.http() as client:
        reply = await client.post("/api/auth/login", json={"username": name, "password": password})
        assert reply.status_code == 200
        cookie = reply.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
        assert (await client.get("/api/auth/me")).json()["username"] == name
        assert (await client.post("/api/auth/logout")).status_code == 204
        client.cookies.clear()
        old = reply.cookies["rme_session"]
        client.cookies.set("rme_session", old)
        assert (await client.get("/api/auth/me")).status_code == 401  # the session is gone server-side


async def test_failures_do_not_lock_the_account(rme_server: RunningServer) -> None:
    """Wrong passwords (here from an exempt loopback address) never lock the account against the
    right one; guessing is slowed per address (`test_login_throttle.py`)."""
    name, password = await new_user(rme_server)
    async with rme_server.http() as client:
        codes = [
            (
                await client.post("/api/auth/login", json={"username": name, "password": f"guess {i}"})
            ).status_code
            for i in range(6)
        ]
        assert codes == [401] * 6
        right = await client.post("/api/auth/login", json={"username": name, "password": password})
        assert right.status_code == 200
        unknown = await client.post("/api/auth/login", json={"username": "nobody-here", "password": "x"})
        assert unknown.status_code == 401  # same answer as a wrong password


async def test_login_needs_our_origin(rme_server: RunningServer) -> None:
    name, password = await new_user(rme_server)
    async with rme_server.http() as client:
        client.headers["Origin"] = "https://evil.example"
        assert (
            await client.post("/api/auth/login", json={"username": name, "password": password})
        ).status_code == 403
        del client.headers["Origin"]
        client.headers["Referer"] = f"{rme_server.origin}/console/"
        assert (
            await client.post("/api/auth/login", json={"username": name, "password": password})
        ).status_code == 200


async def test_totp_setup_then_required(rme_server: RunningServer) -> None:
    name, password = await new_user(rme_server)
    client = await login(rme_server, name, password)
    uri = (await client.post("/api/auth/totp/setup")).json()["otpauth_uri"]
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    assert (await client.post("/api/auth/totp/enable", json={"code": "12345678"})).status_code == 400
    assert (await client.post("/api/auth/totp/enable", json={"code": totp.now()})).status_code == 204
    await client.aclose()
    async with rme_server.http() as fresh:
        missing = await fresh.post("/api/auth/login", json={"username": name, "password": password})
        assert missing.status_code == 401 and missing.json()["detail"] == "totp_required"
        later = totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
        ok = await fresh.post("/api/auth/login", json={"username": name, "password": password, "totp": later})
        assert ok.status_code == 200
        assert (await fresh.get("/api/auth/me")).json()["totp_enabled"] is True


async def test_password_change_needs_the_old_one(rme_server: RunningServer) -> None:
    name, password = await new_user(rme_server)
    client = await login(rme_server, name, password)
    bad = await client.post(
        "/api/auth/password", json={"old_password": "wrong one!", "new_password": "n" * 12}
    )
    assert bad.status_code == 403
    good = await client.post("/api/auth/password", json={"old_password": password, "new_password": "n" * 12})
    assert good.status_code == 204
    assert (await client.get("/api/auth/me")).status_code == 401  # every login of the account ended
    await client.aclose()
    again = await login(rme_server, name, "n" * 12)
    await again.aclose()
