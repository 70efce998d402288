"""Working a session from the stock OpenSSH clients against a real server and a real agent: accept a ticket,
a consented command (Allow and Deny through the panel's API), `scp` and `sftp put` into the inbox byte for
byte, everything that would read from the PC or forward refused, the kill switch, hostile input."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import pty
import signal
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import psutil
import pytest

from agent.actions.command import wait_dead
from server.ssh.sftp import MAX_OPEN_FILES
from tests.e2e.harness import PASSWORD, RealAgent, free_port
from tests.server.ssh.harness import ENGINEER, SUPERVISOR, SshServer

POOL = ThreadPoolExecutor(4)


def in_background(work: Callable[[], Any]) -> Future[Any]:
    return POOL.submit(work)


def wait_until(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError("condition never held")


def held_output(agent: RealAgent) -> dict[str, Any]:
    """The command output the panel holds for the user's release."""
    found: list[dict[str, Any]] = []

    def check() -> bool:
        found[:] = [o for o in agent.state()["guard"]["outputs"] if o["state"] == "held"]
        return bool(found)

    wait_until(check)
    return found[0]


@pytest.fixture
def session(server: SshServer, agent: RealAgent, key: Path) -> Iterator[str]:
    """A help request from the agent, accepted over SSH (`rme accept`), the session accepted in the panel;
    ended over SSH afterwards."""
    words = f"no internet {time.monotonic_ns()}"
    agent.cli("help", words, "--wait", "20")
    queue = server.rme(key, "queue")
    assert isinstance(queue, list)
    ticket = next(t["ticket_id"] for t in queue if t["words"] == words)
    accepted = in_background(lambda: server.rme(key, "accept", ticket))
    prompt = agent.wait_prompt("session", timeout=20)
    assert prompt["content"]["engineer"]["name"] == "Wang Wei"  # the same offer as from the console
    agent.answer(prompt["id"], True)
    result = accepted.result(timeout=30)
    assert result["ticket"] == ticket and result["state"] == "active"
    yield str(result["session"])
    server.ssh(key, "rme", "end", "--session", str(result["session"]))
    wait_until(lambda: agent.state()["guard"]["session"] is None)


def test_a_consented_command_allowed_then_denied(
    server: SshServer, agent: RealAgent, key: Path, session: str, tmp_path: Path
) -> None:
    ran = in_background(lambda: server.rme(key, "run", "echo from-ssh"))
    prompt = agent.wait_prompt("action")
    assert "echo from-ssh" in str(prompt["content"])  # the user sees the command itself
    agent.answer(prompt["id"], True)
    output = held_output(agent)
    assert output["output"] == "from-ssh\n"
    agent.release(output["action_id"])
    result = ran.result(timeout=30)
    assert result["state"] == "done" and result["session"] == session
    # The supervisor's view shows the session as any console session: active, held by Wang Wei.
    context = ssl.create_default_context(cafile=str(server.ca))
    with httpx.Client(base_url=server.https, verify=context, headers={"Origin": server.https}) as web:
        web.post("/api/auth/login", json={"username": SUPERVISOR, "password": PASSWORD}).raise_for_status()
        overview = web.get("/api/console/overview").json()
    held = [t for t in overview["open"] if t["session_id"] == session]
    assert held and held[0]["state"] == "active" and held[0]["engineer"] == "Wang Wei"
    assert result["result"]["outcome"]["output"] == "from-ssh\n"

    marker = tmp_path / "denied-ran"
    denied = in_background(lambda: server.ssh(key, "rme", "run", f"touch {marker}"))
    agent.answer(agent.wait_prompt("action")["id"], False)
    done = denied.result(timeout=30)
    assert done.returncode == 1
    assert "waiting for the user" in done.stdout and "denied by the user" in done.stdout
    assert not marker.exists()

    # Audited like the console's requests, and marked as coming through SSH with the key.
    requests = [
        e.get("data", e) for _, e in server.audit_events("action.request") if e.get("session") == session
    ]
    assert len(requests) == 2
    via: list[Any] = [e["data"] for _, e in server.audit_events("ssh.request") if e.get("session") == session]
    assert via[-1]["via"] == "ssh" and str(via[-1]["fingerprint"]).startswith("SHA256:")


def sleepers(root: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in root.children(recursive=True):
        try:
            if child.name() == "sleep":
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def allow_next_push(agent: RealAgent) -> threading.Thread:
    def allow() -> None:
        agent.answer(agent.wait_prompt("action", timeout=30)["id"], True)

    thread = threading.Thread(target=allow, daemon=True)
    thread.start()
    return thread


def test_push_with_scp_and_sftp_put(
    server: SshServer, agent: RealAgent, key: Path, session: str, tmp_path: Path
) -> None:
    payload = tmp_path / "driver-fix.bin"
    payload.write_bytes(os.urandom(700_000) + b"end")
    allow = allow_next_push(agent)
    done = server.scp(key, payload, "")
    allow.join(5)
    assert done.returncode == 0, done.stderr[-3000:]
    landed = agent.inbox / payload.name
    assert landed.read_bytes() == payload.read_bytes()

    second = tmp_path / "readme.txt"
    second.write_text("hello from sftp\n" * 1000)
    allow = allow_next_push(agent)
    done = server.sftp(key, f"put {second}\n")
    allow.join(5)
    assert done.returncode == 0, done.stderr
    assert (agent.inbox / second.name).read_bytes() == second.read_bytes()

    # Legacy scp protocol (`scp -O`) goes through the same put-only path.
    third = tmp_path / "legacy.dat"
    third.write_bytes(os.urandom(5000))
    allow = allow_next_push(agent)
    done = server.scp(key, third, "", "-O")
    allow.join(5)
    assert done.returncode == 0, done.stderr
    assert sha(agent.inbox / third.name) == sha(third)

    # Denied: the client is told, nothing lands.
    fourth = tmp_path / "unwanted.exe"
    fourth.write_bytes(b"MZ" * 100)

    def deny() -> None:
        agent.answer(agent.wait_prompt("action", timeout=30)["id"], False)

    thread = threading.Thread(target=deny, daemon=True)
    thread.start()
    done = server.scp(key, fourth, "")
    thread.join(5)
    assert done.returncode != 0 and "denied by the user" in done.stderr
    assert not (agent.inbox / fourth.name).exists()
    pushed = [e.get("data", e) for _, e in server.audit_events("file.pushed") if e.get("session") == session]
    assert {p["sha256"] for p in pushed} >= {sha(payload), sha(second), sha(third)}  # type: ignore[index]


def test_a_named_target_is_delivered_without_a_false_refusal(
    server: SshServer, agent: RealAgent, key: Path, session: str, tmp_path: Path
) -> None:
    """`scp FILE server:NAME` (both protocols, `-p`) and `put FILE NAME`: delivered under NAME, and no
    "Refused" on the engineer's screen for a push that went through. A target inside folders is
    refused as such."""
    payload = tmp_path / "fix.cmd"
    payload.write_text("ipconfig /flushdns\r\n")

    def scp_named() -> subprocess.CompletedProcess[str]:
        return server.scp(key, payload, "renamed-scp.cmd")

    def scp_legacy_named() -> subprocess.CompletedProcess[str]:
        return server.scp(key, payload, "renamed-legacy.cmd", "-O", "-p")

    def sftp_named() -> subprocess.CompletedProcess[str]:
        return server.sftp(key, f"put {payload} renamed-sftp.cmd\n")

    for name, run in (
        ("renamed-scp.cmd", scp_named),
        ("renamed-legacy.cmd", scp_legacy_named),
        ("renamed-sftp.cmd", sftp_named),
    ):
        allow = allow_next_push(agent)
        done = run()
        allow.join(5)
        assert done.returncode == 0 and "Refused" not in done.stderr, (name, done.stderr)
        assert (agent.inbox / name).read_bytes() == payload.read_bytes()
    nested = server.scp(key, payload, "sub/dir/fix.cmd")
    assert nested.returncode != 0 and "not into folders" in nested.stderr, nested.stderr


def test_reading_listing_and_forwarding_are_refused(
    server: SshServer, agent: RealAgent, key: Path, session: str, tmp_path: Path
) -> None:
    (agent.inbox).mkdir(parents=True, exist_ok=True)
    (agent.inbox / "secret.txt").write_text("the user's")
    got = server.sftp(key, "get secret.txt\n")
    assert got.returncode != 0 and "upload-only" in got.stderr
    assert not Path("secret.txt").exists()
    listed = server.sftp(key, "ls\n")
    assert "Listing is refused" in listed.stderr and "Permission denied" in listed.stderr
    assert "secret.txt" not in listed.stdout
    fetched = subprocess.run(
        [
            "scp",
            *server.options(key, "-o", "BatchMode=yes"),
            "-P",
            str(server.ssh_port),
            f"{ENGINEER}@127.0.0.1:secret.txt",
            str(tmp_path / "stolen"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert fetched.returncode != 0 and not (tmp_path / "stolen").exists()

    # -W and -L: the forwarded connection is refused with the gateway's reason.
    stdio = server.ssh(key, options=["-o", "LogLevel=info", "-W", f"127.0.0.1:{server.port}"])
    assert stdio.returncode != 0 and "Port forwarding refused" in stdio.stderr
    port = free_port()
    tunnel = subprocess.Popen(
        [
            "ssh",
            *server.options(
                key,
                "-o",
                "LogLevel=info",
                "-o",
                "BatchMode=yes",
                "-N",
                "-L",
                f"{port}:127.0.0.1:{server.port}",
            ),
            "-p",
            str(server.ssh_port),
            f"{ENGINEER}@127.0.0.1",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _listening(port))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            try:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                answer = conn.recv(100)
            except ConnectionResetError:
                answer = b""
            assert answer == b""  # closed: nothing reached through the tunnel
    finally:
        tunnel.kill()
        _, err = tunnel.communicate(timeout=10)
    assert "Port forwarding refused" in err
    # -R: the server refuses to listen.
    remote = server.ssh(
        key, "rme", "whoami", options=["-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"]
    )
    assert remote.returncode != 0 and "remote port forwarding failed" in remote.stderr
    # -A: said so, and no agent socket exists on the gateway's side.
    agent_env = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    sock = agent_env.split("SSH_AUTH_SOCK=")[1].split(";")[0]
    pid = agent_env.split("SSH_AGENT_PID=")[1].split(";")[0]
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        forwarded = server.ssh(key, "rme", "whoami", options=["-A"], env=env)
        assert forwarded.returncode == 0 and "Agent forwarding refused" in forwarded.stderr
    finally:
        subprocess.run(["kill", pid], check=False)
    # Other subsystems, and X11.
    other = server.ssh(key, "-s", "netconf")
    assert other.returncode != 0 and "Subsystem netconf refused" in other.stderr
    x11 = server.ssh(key, "rme", "whoami", options=["-X"], env={**os.environ, "DISPLAY": ":99"})
    assert "X11 forwarding" in x11.stderr


def test_the_kill_switch_ends_the_ssh_work_at_once(
    server: SshServer, agent: RealAgent, key: Path, session: str
) -> None:
    started = in_background(lambda: server.ssh(key, "rme", "run", "--timeout", "600", "sleep 300"))
    agent.answer(agent.wait_prompt("action")["id"], True)
    root = psutil.Process(agent.proc.pid)
    wait_until(lambda: bool(sleepers(root)))
    family = sleepers(root)
    clicked = time.monotonic()
    assert agent.post("/api/end").status_code == 200
    done = started.result(timeout=20)
    elapsed = time.monotonic() - clicked
    assert elapsed < 3.0, elapsed
    assert done.returncode == 1 and "cancelled" in done.stdout
    assert wait_dead(family, 0.5) == []
    after = server.ssh(key, "rme", "run", "--session", session, "echo again")
    assert after.returncode == 1 and "No such session" in after.stdout


def test_the_kill_switch_stops_an_upload_in_flight(
    server: SshServer, agent: RealAgent, key: Path, session: str, tmp_path: Path
) -> None:
    """The user ends the session while `sftp put` is still sending (at 250 KB/s, 12 s for the file): the
    transfer fails at once with the reason, and nothing lands."""
    big = tmp_path / "big-update.bin"
    big.write_bytes(os.urandom(3_000_000))
    args = ["sftp", *server.options(key), "-l", "2000", "-b", "-", "-P", str(server.ssh_port)]
    line = f"put {big}\n"
    target = f"{ENGINEER}@127.0.0.1"
    upload = in_background(
        lambda: subprocess.run(
            [*args, target], input=line, capture_output=True, text=True, timeout=60, check=False
        )
    )
    spool = server.data / "ssh" / "spool"
    wait_until(lambda: any(size_of(p) > 100_000 for p in spool.glob("push-*")))
    clicked = time.monotonic()
    assert agent.post("/api/end").status_code == 200
    done = upload.result(timeout=30)
    assert time.monotonic() - clicked < 3.0, done.stderr
    assert done.returncode != 0 and f"Session {session} has ended" in done.stderr, done.stderr
    assert not (agent.inbox / big.name).exists()
    wait_until(lambda: not list(spool.glob("push-*")), 5)


def test_an_upload_killed_midway_is_never_offered_to_the_user(
    server: SshServer, agent: RealAgent, key: Path, session: str, tmp_path: Path
) -> None:
    """`sftp put` and legacy `scp -O` killed while still uploading (Ctrl-C, a dropped line): the partial
    file is thrown away; the user is never asked to take a truncated file, nothing lands."""
    big = tmp_path / "half-sent.bin"
    big.write_bytes(os.urandom(3_000_000))
    spool = server.data / "ssh" / "spool"
    port = str(server.ssh_port)
    target = f"{ENGINEER}@127.0.0.1"
    for args, stdin in (
        (["sftp", *server.options(key), "-l", "2000", "-b", "-", "-P", port, target], f"put {big}\n"),
        (
            [
                "scp",
                "-O",
                *server.options(key, "-o", "BatchMode=yes"),
                "-l",
                "2000",
                "-P",
                port,
                str(big),
                f"{target}:",
            ],
            "",
        ),
    ):
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert proc.stdin is not None
            proc.stdin.write(stdin.encode())
            proc.stdin.flush()
            wait_until(lambda: any(size_of(p) > 100_000 for p in spool.glob("push-*")))
        finally:
            proc.kill()
            proc.wait(10)
        try:
            prompt = agent.wait_prompt("action", timeout=3)
        except TimeoutError:
            prompt = None
        if prompt is not None:
            agent.answer(prompt["id"], False)
        assert prompt is None, prompt["content"]
        wait_until(lambda: not list(spool.glob("push-*")), 5)
        assert not (agent.inbox / big.name).exists()


def test_an_engineer_uploads_at_most_a_few_files_at_once(
    server: SshServer, agent: RealAgent, key: Path, session: str
) -> None:
    """Files opened for upload and never closed each hold a descriptor and disk on the server: one
    engineer (over all their connections) has at most MAX_OPEN_FILES open; more are refused with the
    reason, and a connection that goes away gives its share back. Nothing is pushed to the user."""

    async def attack() -> None:
        async def connect() -> asyncssh.SSHClientConnection:
            return await asyncssh.connect(
                "127.0.0.1",
                server.ssh_port,
                username=ENGINEER,
                client_keys=[str(key)],
                known_hosts=str(server.known_hosts()),
            )

        first, second = await connect(), await connect()
        async with first, second:
            one, two = await first.start_sftp_client(), await second.start_sftp_client()
            held = [await one.open(f"/{session}/a{i}.bin", "wb") for i in range(MAX_OPEN_FILES - 3)]
            held += [await two.open(f"/{session}/b{i}.bin", "wb") for i in range(3)]
            await held[-1].write(b"x" * 1000)
            with pytest.raises(asyncssh.SFTPFailure, match="At most 8 files can be uploading at once"):
                await two.open(f"/{session}/one-too-many.bin", "wb")
            first.close()
            await first.wait_closed()
            await asyncio.sleep(0.5)
            again = await two.open(f"/{session}/after.bin", "wb")
            await again.write(b"y")
        await asyncio.sleep(0.5)

    asyncio.run(attack())
    assert not list((server.data / "ssh" / "spool").glob("push-*"))
    assert not any((agent.inbox / n).exists() for n in ("a0.bin", "b0.bin", "after.bin"))
    assert server.proc.poll() is None


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_hostile_input_leaves_the_gateway_serving(server: SshServer, key: Path) -> None:
    junk = os.urandom(64 * 1024)
    huge = b"queue " + b"A" * (2 * 1024 * 1024) + b"\n"
    flood = b"queue\n" * 20_000

    def feed(blob: bytes) -> subprocess.CompletedProcess[str]:
        return server.ssh(key, options=["-T"], stdin=blob + b"quit\n", timeout=90)

    jobs = [POOL.submit(feed, blob) for blob in (junk, huge, flood)]
    # Meanwhile another engineer client is served.
    for _ in range(3):
        assert server.rme(key, "whoami")["username"] == ENGINEER  # type: ignore[index]
    results = [job.result(timeout=120) for job in jobs]
    assert "unreadable" in results[0].stdout
    assert "too long" in results[1].stdout
    assert "slow down" in results[2].stdout
    assert server.rme(key, "queue") is not None
    assert server.proc.poll() is None


class Terminal:
    """`ssh -tt` on a real pseudo-terminal, as an engineer types into it."""

    def __init__(self, server: SshServer, key: Path) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [
                "ssh",
                *server.options(key, "-tt", "-o", "BatchMode=yes"),
                "-p",
                str(server.ssh_port),
                f"{ENGINEER}@127.0.0.1",
            ],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
        )
        os.close(slave)
        self.screen = ""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.screen += data.decode("utf-8", "replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def expect(self, text: str, within: float = 20.0) -> None:
        try:
            wait_until(lambda: text in self.screen, within)
        except TimeoutError:
            raise AssertionError(f"{text!r} not on the screen:\n{self.screen[-3000:]}") from None

    def resize(self, rows: int, cols: int) -> None:
        """The window resized: the new size on the pty, and SIGWINCH to `ssh` (it sends window-change)."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc.send_signal(signal.SIGWINCH)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


def test_the_interactive_prompt_works_a_session(server: SshServer, agent: RealAgent, key: Path) -> None:
    term = Terminal(server, key)
    try:
        term.expect("RME remote maintenance · Wang Wei (via SSH)")
        words = f"wifi drops {time.monotonic_ns()}"
        agent.cli("help", words, "--wait", "20")
        term.type("queue")
        term.expect(words)
        number = next(
            line.split()[0]
            for line in term.screen.splitlines()
            if words in line and line.split()[0].isdigit()
        )
        term.type(f"accept {number}")
        term.expect("waiting for the user to accept the session")
        agent.answer(agent.wait_prompt("session", timeout=20)["id"], True)
        term.expect("started.")

        term.type("diagnose --interface lo")
        agent.answer(agent.wait_prompt("action")["id"], True)
        term.expect("verdict:", within=30)
        term.type("repair dns.flush_cache")
        prompt = agent.wait_prompt("action")
        assert "DNS" in str(prompt["content"])  # the catalogue's own words, risk and undo
        agent.answer(prompt["id"], False)
        term.expect("denied by the user")
        assert "waiting for the user…" in term.screen  # the live state before the answer

        term.type("chat hello from the terminal")
        wait_until(lambda: "hello from the terminal" in str(agent.state()))
        term.type("end resolved --note fixed")
        term.expect("Session ended.")
        term.type("quit")
        term.expect("Bye.")
        assert "\x1b]" not in term.screen.replace("\x1b[", "")  # nothing from the PC drives the terminal
    finally:
        term.close()


def test_resizing_the_window_or_a_break_keeps_the_prompt(server: SshServer, key: Path) -> None:
    """Resizing the terminal (a storm of window-change requests, absurd sizes) and `~B` (a break) while
    the prompt waits for a line: the prompt goes on."""
    term = Terminal(server, key)
    try:
        term.expect("RME remote maintenance")
        term.expect("rme> ")
        for i in range(30):
            term.resize(10 + i, 40 + i)
            time.sleep(0.01)
        term.resize(65535, 65535)
        os.write(term.master, b"\r~B")  # the escape: a break request
        time.sleep(0.5)
        term.type("whoami")
        term.expect("wangwei (Wang Wei, engineer)")
        assert term.proc.poll() is None
    finally:
        term.close()
