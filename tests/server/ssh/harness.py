"""A real `rme-server serve --ssh-port` and the stock OpenSSH clients (`ssh`, `scp`, `sftp`) pointed at it,
each with its own empty config, a pinned host key and only the identity the test gives."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import BIN, PASSWORD, RealServer, _wait_port, cli, free_port, stop_process

ENGINEER = "wangwei"
SUPERVISOR = "zhaoli"
ADMIN = "admin1"


@dataclass
class SshServer(RealServer):
    ssh_port: int = 0
    host_key_line: str = ""
    tmp: Path = Path()

    def known_hosts(self) -> Path:
        path = self.tmp / "known_hosts"
        if not path.exists():
            path.write_text(f"[127.0.0.1]:{self.ssh_port} {self.host_key_line}\n")
        return path

    def keygen(self, name: str) -> Path:
        """A fresh Ed25519 key pair under the test folder; returns the private key's path."""
        path = self.tmp / name
        if not path.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                check=True,
                timeout=30,
            )
        return path

    def options(self, key: Path, *extra: str) -> list[str]:
        """Client options: `extra` first (ssh takes the first value it sees for an option)."""
        return [
            *extra,
            "-F",
            "/dev/null",
            "-o",
            f"UserKnownHostsFile={self.known_hosts()}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=error",
            "-o",
            "ConnectTimeout=20",
            "-i",
            str(key),
        ]

    def ssh(
        self,
        key: Path,
        *command: str,
        user: str = ENGINEER,
        options: Sequence[str] = (),
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        args = [
            "ssh",
            *self.options(key, *options, "-o", "BatchMode=yes"),  # ssh takes an option's first value
            "-p",
            str(self.ssh_port),
            f"{user}@127.0.0.1",
            *command,
        ]
        done = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        return subprocess.CompletedProcess(
            args,
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def rme(self, key: Path, *command: str, **kwargs: object) -> object:
        """`ssh eng@server rme VERB --json ARGS…` → the parsed JSON (AssertionError if there is none)."""
        verb, *args = command
        done = self.ssh(key, "rme", verb, "--json", *args, **kwargs)  # type: ignore[arg-type]
        assert done.stdout.strip(), f"no output (rc {done.returncode}): {done.stderr}"
        return json.loads(done.stdout)

    def scp(self, key: Path, source: Path, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
        args = [
            "scp",
            *self.options(key, "-o", "BatchMode=yes", *extra),
            "-P",
            str(self.ssh_port),
            str(source),
            f"{ENGINEER}@127.0.0.1:{target}",
        ]
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)

    def sftp(self, key: Path, batch: str) -> subprocess.CompletedProcess[str]:
        args = [
            "sftp",
            *self.options(key),
            "-b",
            "-",
            "-P",
            str(self.ssh_port),
            f"{ENGINEER}@127.0.0.1",
        ]
        return subprocess.run(args, input=batch, capture_output=True, text=True, timeout=60, check=False)

    def audit_events(self, kind: str) -> list[tuple[str, dict[str, object]]]:
        """(actor, event) of every audit event of `kind`, read from the server's SQLite file."""
        with contextlib.closing(sqlite3.connect(self.data / "rme.db", timeout=10)) as db:
            rows = db.execute(
                "SELECT actor, canonical FROM audit_events WHERE kind = ? ORDER BY leaf_index", (kind,)
            ).fetchall()
        return [(actor, json.loads(canonical)) for actor, canonical in rows]


@contextlib.contextmanager
def ssh_server(tmp: Path, **settings: str) -> Iterator[SshServer]:
    data = tmp / "server"
    port, ssh_port = free_port(), free_port()
    base = ["--data-dir", str(data)]
    cli("rme-server", "migrate", *base)
    customer = cli("rme-server", "customer", "add", "Zhang San", *base).strip()
    cli(
        "rme-server",
        "user",
        "add",
        ENGINEER,
        "--display-name",
        "Wang Wei",
        "--password-stdin",
        *base,
        stdin=PASSWORD + "\n",
    )
    cli("rme-server", "user", "lang", ENGINEER, "en", *base)
    for name, role in ((SUPERVISOR, "supervisor"), (ADMIN, "admin")):
        cli(
            "rme-server",
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            *base,
            stdin=PASSWORD + "\n",
        )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    env = {**os.environ, **{f"RME_{k.upper()}": v for k, v in settings.items()}}
    proc = subprocess.Popen(
        [
            str(BIN / "rme-server"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ssh-port",
            str(ssh_port),
            *base,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        _wait_port(port, proc)
        _wait_port(ssh_port, proc)
        host_pub = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(data / "ssh" / "ssh_host_ed25519_key")],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
        yield SshServer(data, port, proc, customer, ssh_port, " ".join(host_pub[:2]), tmp)
    finally:
        stop_process(proc)
        log.close()
