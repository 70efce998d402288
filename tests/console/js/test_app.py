"""`console/js/app.js` in the browser: a failed login says why in the user's language, the language
switch works before logging in, and after logging out the console shows the login form again and the
session cookie no longer opens the API."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.console.conftest import login, new_context
from tests.server.helpers import ENGINEER, RunningServer


def test_failed_login_says_why_in_both_languages(console_server: RunningServer, browser: Browser) -> None:
    context = new_context(browser, lang="zh-CN")
    page = context.new_page()
    page.goto(f"{console_server.base}/console/")
    expect(page.locator("#login")).to_have_text("登录")
    page.fill("#username", "nobody")  # an unknown user reads exactly like a wrong password
    page.fill("#password", "wrong password")
    page.click("#login")
    expect(page.locator("#login-error")).to_have_text("登录失败：用户名或密码错误")
    page.click("#lang")
    expect(page.locator("#login")).to_have_text("Log in")
    page.fill("#username", "nobody")
    page.fill("#password", "wrong again")
    page.click("#login")
    expect(page.locator("#login-error")).to_have_text("Login failed: wrong username or password")
    context.close()


def test_logout_ends_the_login(console_server: RunningServer, browser: Browser) -> None:
    context = new_context(browser, lang="en")
    page = context.new_page()
    login(page, console_server, ENGINEER)
    expect(page.locator("#who")).to_contain_text(ENGINEER[0])
    assert page.evaluate("async () => (await fetch('/api/auth/me')).status") == 200
    page.click("#logout")
    expect(page.locator("#login-form")).to_be_visible()
    assert page.evaluate("async () => (await fetch('/api/auth/me')).status") == 401
    page.reload()
    expect(page.locator("#login-form")).to_be_visible()
    context.close()
