"""The console's login in Chromium with a second factor: an account with TOTP is asked for its code, a
wrong code is refused in the user's language and changes nothing, the right one logs in."""

from __future__ import annotations

import datetime as dt
import secrets

import pyotp
from playwright.sync_api import Browser, expect

from tests.console.conftest import new_context
from tests.server.helpers import ADMIN, RunningServer


def totp_account(server: RunningServer) -> tuple[str, str, pyotp.TOTP]:
    """A new engineer with TOTP enabled, set up through the real API."""
    name, password = f"t{secrets.token_hex(4)}", "a long enough password"
    with server.sync_http() as admin:
        assert admin.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}).is_success
        made = admin.post("/api/engineers", json={"username": name, "password": password, "role": "engineer"})
        assert made.status_code == 201, made.text
    with server.sync_http() as http:
        assert http.post("/api/auth/login", json={"username": name, "password": password}).is_success
        totp = pyotp.parse_uri(http.post("/api/auth/totp/setup").json()["otpauth_uri"])
        assert isinstance(totp, pyotp.TOTP)
        assert http.post("/api/auth/totp/enable", json={"code": totp.now()}).status_code == 204
    return name, password, totp


def test_an_engineer_with_totp_is_asked_for_the_code(console_server: RunningServer, browser: Browser) -> None:
    name, password, totp = totp_account(console_server)
    context = new_context(browser)  # zh-CN
    page = context.new_page()
    page.goto(f"{console_server.base}/console/")
    expect(page.locator("#totp")).to_be_hidden()
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login")
    expect(page.locator("#login-error")).to_have_text("登录失败：请输入动态验证码")
    expect(page.locator("#totp")).to_be_visible()

    wrong = next(c for c in ("000000", "111111", "222222") if not totp.verify(c, valid_window=2))
    page.fill("#totp", wrong)
    page.click("#login")
    expect(page.locator("#login-error")).to_have_text("登录失败：验证码错误")
    expect(page.locator("#login-form")).to_be_visible()

    # The code of the next time step: the one used to enable TOTP may not be replayed.
    page.fill("#totp", totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)))
    page.click("#login")
    expect(page.locator("#live")).to_have_class("badge live-live")
    expect(page.locator("#login-form")).to_have_count(0)
    context.close()
