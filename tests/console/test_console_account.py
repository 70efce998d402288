"""The console's account page in Chromium: an engineer registers an OpenSSH public key for the SSH gateway,
sees it with its fingerprint, picks the SSH prompt's language, and revokes the key; bad input is refused
with a clear message and changes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.console.conftest import login, new_context
from tests.server.helpers import ADMIN, RunningServer


def test_register_and_revoke_an_ssh_key(
    console_server: RunningServer, browser: Browser, tmp_path: Path
) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(key)], check=True
    )
    public = Path(f"{key}.pub").read_text().strip()
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    context = new_context(browser, "en")
    page = context.new_page()
    login(page, console_server, ADMIN)
    page.click("#nav-account")
    expect(page.locator("#ssh-gateway")).to_have_text("This server runs no SSH gateway.")

    page.fill("#ssh-key-text", "-----BEGIN OPENSSH PRIVATE KEY----- oops")
    page.click("#ssh-add-go")
    expect(page.locator("#ssh-status")).to_contain_text("that is a private key")
    page.fill("#ssh-key-text", public)
    page.click("#ssh-add-go")
    expect(page.locator("#ssh-status")).to_have_text(f"Added {fingerprint}")
    row = page.locator("#ssh-keys tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(fingerprint)
    expect(row).to_contain_text("me@laptop")
    expect(row).to_contain_text("active")

    page.select_option("#ssh-lang", "en")
    expect(page.locator("#ssh-status")).to_have_text("Saved.")
    row.locator("button.revoke").click()
    expect(row).to_contain_text("revoked")
    with console_server.sync_http() as http:
        assert http.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}).is_success
        listed = http.get("/api/account/ssh-keys").json()
    assert listed["lang"] == "en"
    assert [(k["fingerprint"], k["active"]) for k in listed["keys"]] == [(fingerprint, False)]
    context.close()
