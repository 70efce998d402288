"""Logging in to the SSH gateway with the stock OpenSSH client: registered keys, certificates the server
signed, the TOTP prompt; wrong, revoked and expired credentials and disabled accounts refused; every
login audited with "via ssh" and the key's fingerprint."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
import subprocess
import time
from pathlib import Path

import asyncssh
import httpx
import pyotp

from server.ssh.gateway import DESK_LINGER
from tests.e2e.harness import PASSWORD
from tests.server.ssh.harness import ADMIN, ENGINEER, SUPERVISOR, SshServer, ssh_server


def fingerprint(key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def test_the_host_key_is_kept_and_printed(server: SshServer) -> None:
    log = (server.tmp / "server.log").read_text()
    printed = log.split("host key ", 1)[1].split()[0]
    assert printed.startswith("SHA256:")
    host_key = server.data / "ssh" / "ssh_host_ed25519_key"
    assert stat.S_IMODE(host_key.stat().st_mode) == 0o600
    pub = server.tmp / "host.pub"
    pub.write_text(server.host_key_line + "\n")
    assert fingerprint(pub.with_suffix("")) == printed


def test_registered_key_logs_in_and_is_audited(server: SshServer, key: Path) -> None:
    assert server.rme(key, "queue") == []
    who = server.rme(key, "whoami")
    assert who == {"username": ENGINEER, "name": "Wang Wei", "role": "engineer"}
    logins = server.audit_events("ssh.login")
    assert logins, "no ssh.login audit event"
    actor, event = logins[-1]
    assert actor == f"engineer:{ENGINEER}"
    data = event.get("data", event)
    assert data["via"] == "ssh" and data["fingerprint"] == fingerprint(key)  # type: ignore[index]


def test_wrong_key_revoked_key_and_disabled_account_are_refused(server: SshServer, key: Path) -> None:
    stranger = server.keygen("stranger_key")
    refused = server.ssh(stranger, "rme", "queue")
    assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr

    spare = server.keygen("spare_key")
    server.admin("user", "add-key", ENGINEER, f"{spare}.pub")
    assert server.ssh(spare, "rme", "queue").returncode == 0
    out = server.admin("user", "revoke-key", ENGINEER, fingerprint(spare))
    assert "revoked key" in out
    refused = server.ssh(spare, "rme", "queue")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    assert "revoked" in server.admin("user", "keys", ENGINEER)

    server.admin("user", "disable", ENGINEER)
    try:
        refused = server.ssh(key, "rme", "queue")
        assert refused.returncode == 255 and "Permission denied" in refused.stderr
    finally:
        server.admin("user", "enable", ENGINEER)
    assert server.ssh(key, "rme", "queue").returncode == 0


def test_certificate_login_and_expiry(server: SshServer) -> None:
    """A key registered nowhere logs in with a certificate the server signed; an expired or revoked one
    does not."""
    laptop = server.keygen("laptop_key")
    out = server.admin("user", "ssh-cert", ENGINEER, f"{laptop}.pub")
    cert = Path(f"{laptop}-cert.pub")
    assert cert.exists() and "valid until" in out
    listing = subprocess.run(
        ["ssh-keygen", "-Lf", str(cert)], capture_output=True, text=True, check=True
    ).stdout
    assert ENGINEER in listing and "permit-port-forwarding" not in listing and "permit-agent" not in listing
    assert server.rme(laptop, "whoami")["username"] == ENGINEER  # type: ignore[index]
    _, event = server.audit_events("ssh.login")[-1]
    data = event.get("data", event)
    assert data["certificate"] is not None  # type: ignore[index]

    # Revoked: refused at once.
    serial = out.split("serial ")[1].split(",")[0]
    server.admin("user", "revoke-key", ENGINEER, serial)
    assert server.ssh(laptop, "rme", "whoami").returncode == 255

    # Expired: a certificate valid for two seconds, used after three.
    brief = server.keygen("brief_key")
    server.admin("user", "ssh-cert", ENGINEER, f"{brief}.pub", "--hours", str(2 / 3600))
    time.sleep(3)
    expired = server.ssh(brief, "rme", "whoami")
    assert expired.returncode == 255 and "Permission denied" in expired.stderr


def totp_account(server: SshServer, name: str) -> tuple[Path, pyotp.TOTP]:
    """A new account with a registered key and TOTP enabled (through the console's API)."""
    server.admin("user", "add", name, "--password-stdin", stdin=PASSWORD + "\n")
    server.admin("user", "lang", name, "en")
    user_key = server.keygen(f"{name}_key")
    server.admin("user", "add-key", name, f"{user_key}.pub")
    context = ssl.create_default_context(cafile=str(server.ca))
    with httpx.Client(base_url=server.https, verify=context, headers={"Origin": server.https}) as web:
        web.post("/api/auth/login", json={"username": name, "password": PASSWORD}).raise_for_status()
        uri = web.post("/api/auth/totp/setup").json()["otpauth_uri"]
        totp = pyotp.parse_uri(uri)
        assert isinstance(totp, pyotp.TOTP)
        web.post("/api/auth/totp/enable", json={"code": totp.now()}).raise_for_status()
    return user_key, totp


def totp_login(
    server: SshServer, user_key: Path, name: str, code: str, tmp_path: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """`ssh … rme whoami` with the key, answering the TOTP prompt with `code` (through SSH_ASKPASS)."""
    askpass = tmp_path / f"askpass-{code}"
    askpass.write_text(f"#!/bin/sh\necho '{code}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": "none"}
    return server.ssh(
        user_key,
        "rme",
        "whoami",
        user=name,
        options=[
            *options,
            "-o",
            "BatchMode=no",
            "-o",
            "PreferredAuthentications=publickey,keyboard-interactive",
        ],
        env=env,
    )


def test_totp_account_answers_the_prompt(server: SshServer, tmp_path: Path) -> None:
    """An account with TOTP: the key, then a keyboard-interactive TOTP prompt (driven through
    SSH_ASKPASS); a wrong code is refused."""
    name = "liqiang"
    user_key, totp = totp_account(server, name)

    def login_with(code: str) -> subprocess.CompletedProcess[str]:
        return totp_login(server, user_key, name, code, tmp_path)

    wrong = login_with("000000" if totp.now() != "000000" else "111111")
    assert wrong.returncode == 255 and "Permission denied" in wrong.stderr
    # The next time step's code (the console's ±1 step of clock skew): not used yet by the enable above.
    ok = login_with(totp.at(time.time() + totp.interval))
    assert ok.returncode == 0, ok.stderr
    assert name in ok.stdout
    _, event = server.audit_events("ssh.login")[-1]
    assert event.get("data", event)["totp"] is True  # type: ignore[index]


def test_disabling_an_account_ends_its_ssh_connection(server: SshServer) -> None:
    """Disabled in the console (the admin API) while logged in over SSH: the connection ends at once."""
    name = "sunmei"
    server.admin("user", "add", name, "--password-stdin", stdin=PASSWORD + "\n")
    server.admin("user", "lang", name, "en")
    user_key = server.keygen("sunmei_key")
    server.admin("user", "add-key", name, f"{user_key}.pub")
    command = ["ssh", *server.options(user_key, "-T", "-o", "LogLevel=info", "-o", "BatchMode=yes")]
    command += ["-p", str(server.ssh_port)]
    proc = subprocess.Popen(
        [*command, f"{name}@127.0.0.1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert b"RME remote maintenance" in proc.stdout.readline()
        context = ssl.create_default_context(cafile=str(server.ca))
        with httpx.Client(base_url=server.https, verify=context, headers={"Origin": server.https}) as web:
            web.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD}).raise_for_status()
            web.post(f"/api/engineers/{name}/disable").raise_for_status()
        proc.wait(10)  # ended at once, not at its next login
        said = proc.stderr.read().decode()
        assert proc.returncode == 255
        assert "the account was disabled" in said or not said  # the client prints the reason if it read it
        log = (server.tmp / "server.log").read_text()
        assert f'"actor": "engineer:{name}"' in log.split("ssh connection ended")[-1][:300]
    finally:
        proc.kill()
        proc.wait(5)


def test_wrong_totp_codes_back_off(tmp_path: Path) -> None:
    """Guessing TOTP codes with the account's key: after the free failures from one address the account
    backs off (the console's throttle), so even the right code is refused until the wait is over; then it
    logs in. On a server whose loopback addresses are not exempt from throttling."""
    with ssh_server(tmp_path, throttle_exempt="", login_max_failures="1", login_lockout="600") as server:
        name = "zhoujie"
        user_key, totp = totp_account(server, name)
        one = ("-o", "NumberOfPasswordPrompts=1")
        wrong = "000000" if totp.now() != "000000" else "111111"
        for _ in range(4):
            guessed = totp_login(server, user_key, name, wrong, tmp_path, *one)
            assert guessed.returncode == 255
        right = totp_login(server, user_key, name, totp.at(time.time() + totp.interval), tmp_path, *one)
        assert right.returncode == 255 and "Permission denied" in right.stderr
        refused = [e.get("data", e) for _, e in server.audit_events("ssh.login_refused")]
        reasons = [r["reason"] for r in refused if isinstance(r, dict)]
        assert "too many wrong TOTP codes; backing off" in reasons
        # The owner gets in once the back-off (at most 8 s here) is over; refused tries do not extend it.
        deadline = time.monotonic() + 30
        while True:
            ok = totp_login(server, user_key, name, totp.at(time.time() + totp.interval), tmp_path, *one)
            if ok.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert ok.returncode == 0, ok.stderr


def connected_engineers(server: SshServer) -> int:
    """The supervisor's overview: engineer links connected to the relay (console or SSH desks)."""
    context = ssl.create_default_context(cafile=str(server.ca))
    with httpx.Client(base_url=server.https, verify=context, headers={"Origin": server.https}) as web:
        web.post("/api/auth/login", json={"username": SUPERVISOR, "password": PASSWORD}).raise_for_status()
        count = web.get("/api/console/overview").json()["connected"]["engineers"]
    assert isinstance(count, int)
    return count


def test_a_connection_gone_right_after_login_leaves_no_engineer_link(server: SshServer, key: Path) -> None:
    """A client that logs in and hangs up at once (before the gateway's desk is open): the engineer's link
    to the relay still closes once the desk's linger is over, as after any other connection."""
    time.sleep(DESK_LINGER + 1)  # earlier tests' desks are gone
    before = connected_engineers(server)

    async def hang_up_at_once() -> None:
        for _ in range(5):
            conn = await asyncssh.connect(
                "127.0.0.1",
                server.ssh_port,
                username=ENGINEER,
                client_keys=[str(key)],
                known_hosts=str(server.known_hosts()),
            )
            conn.abort()
            await conn.wait_closed()

    asyncio.run(hang_up_at_once())
    time.sleep(DESK_LINGER + 2)
    assert connected_engineers(server) == before
