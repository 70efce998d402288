"""`make run`: the RME server on embedded SQLite plus a local agent, wired together, in the foreground.

First run: creates `.rme/` (server data, agent data), an admin engineer account with a random
password, a demo customer and an enrollment code, and enrolls this machine's agent with it. Every run:
starts `rme-server serve` on https://127.0.0.1:8443, diagnoses this machine once (plain words), then runs
`rme-agent run` until Ctrl-C, which ends everything cleanly (the agent's kill switch first).
"""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
STATE = Path(os.environ.get("RME_QUICKSTART_DIR", ROOT / ".rme"))
SERVER_DIR = STATE / "server"
AGENT_DIR = STATE / "agent"
PORT = int(os.environ.get("RME_QUICKSTART_PORT", "8443"))
BASE = f"https://127.0.0.1:{PORT}"
CA = SERVER_DIR / "tls" / "ca.pem"
PASSWORD_FILE = STATE / "admin-password.txt"
ENROLLED = AGENT_DIR / ".quickstart-enrolled"


def say(text: str) -> None:
    print(f"\033[1m[rme]\033[0m {text}", flush=True)


def tool(name: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([str(BIN / name), *args], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{name} {' '.join(args[:2])} failed:\n{done.stderr.strip()}")
    return done.stdout.strip()


def server(*args: str, stdin: str | None = None) -> str:
    return tool("rme-server", *args, "--data-dir", str(SERVER_DIR), stdin=stdin)


def wait_ready(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"rme-server exited with code {proc.returncode}")
        if CA.exists():
            try:
                context = ssl.create_default_context(cafile=str(CA))
                if httpx.get(f"{BASE}/ready", verify=context, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    sys.exit("rme-server did not become ready in time")


def first_run_setup() -> str:
    """Create the admin account and a demo customer; return an enrollment code for this PC."""
    password = secrets.token_urlsafe(12)
    server("user", "add", "admin", "--role", "admin", "--display-name", "Admin", "--password-stdin",
           stdin=password + "\n")  # fmt: skip
    PASSWORD_FILE.write_text(password + "\n", encoding="utf-8")
    PASSWORD_FILE.chmod(0o600)
    customer = server("customer", "add", "Demo household", "--subscription", "active").splitlines()[-1]
    return server("customer", "enroll-code", customer).split()[-1]


def main() -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    SERVER_DIR.mkdir(parents=True, exist_ok=True)
    code = None
    if not PASSWORD_FILE.exists():
        say("first run: creating the admin account, a demo customer and an enrollment code")
        server("migrate")
        code = first_run_setup()
    say(f"starting the server (SQLite under {SERVER_DIR}) on {BASE}")
    proc = subprocess.Popen(
        [str(BIN / "rme-server"), "serve", "--data-dir", str(SERVER_DIR), "--host", "127.0.0.1",
         "--port", str(PORT)],
        stdout=subprocess.DEVNULL, stderr=open(STATE / "server.log", "ab"),  # noqa: SIM115
    )  # fmt: skip
    agent_proc: subprocess.Popen[bytes] | None = None
    try:
        wait_ready(proc)
        common = ["--server", BASE, "--data-dir", str(AGENT_DIR)]
        if not ENROLLED.exists():
            if code is None:
                customer = server("customer", "list").splitlines()[0].split("\t")[0]
                code = server("customer", "enroll-code", customer).split()[-1]
            say("enrolling this PC's agent with the server")
            tool("rme-agent", "enroll", code, "--ca", str(CA), *common)
            ENROLLED.touch()
        say("diagnosing this PC's connection:")
        subprocess.run([str(BIN / "rme-agent"), "diagnose"], check=False)
        say(f"engineers' console: {BASE}/console/  (user admin, password in {PASSWORD_FILE})")
        say(f"the server's CA certificate (trust it in your browser): {CA}")
        say("the agent now runs in the foreground; in another terminal try:  "
            f".venv/bin/rme-agent help \"my internet is down\" --data-dir {AGENT_DIR}")  # fmt: skip
        agent_proc = subprocess.Popen([str(BIN / "rme-agent"), "run", "--no-browser", *common])
        agent_proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if agent_proc is not None and agent_proc.poll() is None:
            agent_proc.send_signal(signal.SIGINT)
            agent_proc.wait(timeout=10)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        say("stopped")


if __name__ == "__main__":
    main()
