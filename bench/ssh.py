"""The SSH gateway: push throughput and login → prompt time, against OpenSSH's own sshd in the same run.

Push: `sftp put` of one file through the gateway into a real agent's inbox (`rme-server serve --ssh-port`
→ relay → `rme-agent run`, the user's Allow given by the panel's API as soon as it shows), wall time of
the whole `sftp` command, against `sftp put` of the same file to a local OpenSSH `sshd` that this bench
starts on a loopback port with its own config, host key and authorized key (target ≥ 0.5×). Both runs
use the same client, options and cipher. The gateway's time includes what the anchor has no part of:
the consent round trip and the relay's push after the upload (the SHA-256 must be known before the
user is asked, so the file is spooled first).

Login → prompt: `ssh -tt` on a pseudo-terminal, from the start of the client process until the prompt
(`rme> `) is on the screen; median and worst of several (target < 300 ms). The anchor is the same client
running `true` on the local sshd.

RME_BENCH_SSH_MB sets the file size (default 64), RME_BENCH_SSH_LOGINS the login count (default 10).
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.harness import RealAgent, free_port, real_agent
from tests.server.ssh.harness import ENGINEER, SshServer, ssh_server

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
CIPHER = "aes128-gcm@openssh.com"  # the same for both (asyncssh and sshd both offer it)


@contextmanager
def local_sshd(tmp: Path, client_key: Path) -> Iterator[int]:
    """OpenSSH's sshd on a loopback port with its own config; the bench's key logs in as this user."""
    folder = tmp / "sshd"
    folder.mkdir()
    host_key = folder / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"""ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
AuthorizedKeysFile {authorized}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PidFile none
Subsystem sftp internal-sftp
"""
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True, check=False
            )
            if probe.stdout.strip():
                (folder / "known_hosts").write_text(probe.stdout)
                break
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def client_options(key: Path, known_hosts: Path) -> list[str]:
    return [
        "-F",
        "/dev/null",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=error",
        "-c",
        CIPHER,
        "-i",
        str(key),
    ]


def sftp_put(options: list[str], port: int, user: str, source: Path, target: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        ["sftp", *options, "-b", "-", "-P", str(port), f"{user}@127.0.0.1"],
        input=f"put {source} {target}\n",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"sftp put failed: {done.stderr[-500:]}")
    return elapsed


def open_session(server: SshServer, agent: RealAgent, key: Path) -> str:
    words = f"bench {time.monotonic_ns()}"
    agent.cli("help", words, "--wait", "20")
    queue = server.rme(key, "queue")
    assert isinstance(queue, list)
    ticket = next(t["ticket_id"] for t in queue if t["words"] == words)
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(server.rme(key, "accept", ticket)))
    thread.start()
    agent.answer(agent.wait_prompt("session", timeout=20)["id"], True)
    thread.join(60)
    accepted = result[0]
    assert isinstance(accepted, dict)
    return str(accepted["session"])


def auto_allow(agent: RealAgent, stop: threading.Event) -> None:
    """The user's Allow, given as soon as the prompt shows (the panel API, polled every 10 ms)."""
    while not stop.is_set():
        try:
            for prompt in agent.state()["guard"]["prompts"]:
                if prompt["kind"] == "action":
                    agent.answer(prompt["id"], True)
        except Exception:
            pass
        stop.wait(0.01)


def time_to_prompt(command: list[str], marker: bytes) -> float:
    master, slave = pty.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    try:
        while marker not in seen:
            chunk = os.read(master, 4096)
            if not chunk:
                raise RuntimeError(f"no prompt: {seen[-300:]!r}")
            seen += chunk
        return time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait(10)
        os.close(master)


def time_command(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, timeout=60)
    return time.perf_counter() - start


def _mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def main() -> None:
    size = int(os.environ.get("RME_BENCH_SSH_MB", "64")) << 20
    logins = int(os.environ.get("RME_BENCH_SSH_LOGINS", "10"))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "payload.bin"
        source.write_bytes(os.urandom(size))
        (tmp / "gw").mkdir()
        with ssh_server(tmp / "gw") as server, real_agent(tmp, server) as agent:
            key = server.keygen("bench_key")
            server.admin("user", "add-key", ENGINEER, f"{key}.pub")
            gw_options = client_options(key, server.known_hosts())
            with local_sshd(tmp, key) as sshd_port:
                sshd_options = client_options(key, tmp / "sshd" / "known_hosts")
                user = os.environ.get("USER") or "root"
                # Login → prompt (no session needed), and the anchor's login → `true`.
                gw_ssh = ["ssh", *gw_options, "-tt", "-p", str(server.ssh_port), f"{ENGINEER}@127.0.0.1"]
                time_to_prompt(gw_ssh, b"rme> ")  # warm-up
                prompt_times = [time_to_prompt(gw_ssh, b"rme> ") for _ in range(logins)]
                anchor_login = [
                    time_command(["ssh", *sshd_options, "-p", str(sshd_port), f"{user}@127.0.0.1", "true"])
                    for _ in range(logins)
                ]
                # Push: the anchor first (warm cache), then the gateway.
                (tmp / "sshd-target").mkdir()
                anchor = min(
                    sftp_put(sshd_options, sshd_port, user, source, str(tmp / "sshd-target" / "payload.bin"))
                    for _ in range(2)
                )
                open_session(server, agent, key)
                stop = threading.Event()
                allower = threading.Thread(target=auto_allow, args=(agent, stop), daemon=True)
                allower.start()
                try:
                    gateway = sftp_put(gw_options, server.ssh_port, ENGINEER, source, "payload.bin")
                    assert (agent.inbox / "payload.bin").stat().st_size == size
                    (agent.inbox / "payload.bin").unlink()
                    gateway = min(
                        gateway, sftp_put(gw_options, server.ssh_port, ENGINEER, source, "payload.bin")
                    )
                finally:
                    stop.set()
                    allower.join(5)
                stages = [
                    json.loads(line)
                    for line in (tmp / "gw" / "server.log").read_text().splitlines()
                    if '"sftp push"' in line or '"push relayed"' in line
                ]
    median = statistics.median(prompt_times)
    print(f"file size                                  {size >> 20} MiB, cipher {CIPHER}")
    print(f"anchor: sftp put → local OpenSSH sshd      {_mbps(size, anchor):7.1f} MB/s  ({anchor:.2f} s)")
    print(
        f"sftp put → gateway → relay → agent inbox   {_mbps(size, gateway):7.1f} MB/s  ({gateway:.2f} s)  "
        f"= {anchor / gateway:.2f} × the anchor's throughput"
    )
    for stage in stages:
        if "upload_s" in stage:
            upload, push = stage["upload_s"], stage["push_s"]
            print(f"  of which: upload to the gateway {upload:.2f} s, then the push {push:.2f} s")
        else:
            print(
                f"    the user's Allow {stage['consent_s']:.2f} s, "
                f"chunks into the relay {stage['send_s']:.2f} s, "
                f"the agent's last write and check {stage['verify_s']:.2f} s"
            )
    print(f"target ≥ 0.5×: {'MET' if anchor / gateway >= 0.5 else 'MISSED'}")
    print(
        f"login → prompt (ssh -tt, {logins} logins)    median {median * 1000:.0f} ms, "
        f"worst {max(prompt_times) * 1000:.0f} ms"
    )
    print(
        f"anchor: ssh sshd true                      median {statistics.median(anchor_login) * 1000:.0f} ms"
    )
    print(f"target < 300 ms: {'MET' if median < 0.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
