"""Private PostgreSQL, Redis and HAProxy instances for fault tests: each on its own loopback port with its
data in the test's temporary directory, so a test may stop, kill and restart them without touching the
machine's shared services (other tests and processes use 127.0.0.1:5432 and :6379).

HAProxy runs Debian's binary on `deploy/haproxy.cfg` itself — the file an operator installs — with the
addresses given through the environment, as the systemd drop-in in `deploy/` does.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server.helpers import ROOT, free_port

HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"


def need(tool: str) -> str:
    found = shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))), None)
    if found is None:
        message = f"{tool} is not installed (scripts/bootstrap installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def wait_port(port: int, up: bool = True, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            is_up = sock.connect_ex(("127.0.0.1", port)) == 0
        if is_up == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'} within {limit} s")


@dataclass
class OwnPostgres:
    """A throw-away cluster run as the `postgres` user (PostgreSQL refuses root)."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> None:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.folder.chmod(0o700)
        self._as_postgres(need("initdb"), "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -h 127.0.0.1 -c fsync=off -c max_connections=200"
        log = str(self.folder / "postgres.log")
        self._as_postgres(
            need("pg_ctl"), "-D", str(self.folder / "data"), "-l", log, "-o", options, "-w", "start"
        )
        wait_port(self.port)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_postgres(need("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A cluster in a fresh directory under /tmp (pytest's are root-only: the `postgres` user could not
    reach it), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="rme-pg-"))
    postgres = OwnPostgres(folder, free_port())
    try:
        postgres.init()
        postgres.start()
        try:
            yield postgres
        finally:
            postgres.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class OwnRedis:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [need("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        wait_port(self.port, up=False)


@contextlib.contextmanager
def own_redis(folder: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(folder, free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@dataclass
class HAProxy:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def haproxy(nodes: Sequence[int], ca: Path, folder: Path, port: int | None = None) -> Iterator[HAProxy]:
    """Debian's HAProxy on `deploy/haproxy.cfg`, in front of the nodes on these loopback ports."""
    port = port or free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin"),
        "RME_LB_BIND": f"127.0.0.1:{port}",
        "RME_LB_CA": str(ca),
        "RME_LB_CHECK_INTER": "1s",
        "RME_LB_CONN_RATE": "100000",  # every test agent comes from 127.0.0.1
        "RME_LB_MAXCONN": "5000",
        **{f"RME_NODE{i + 1}": f"127.0.0.1:{p}" for i, p in enumerate(nodes)},
    }
    log = folder / "haproxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [need("haproxy"), "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    proxy = HAProxy(process, port, log)
    try:
        wait_port(port)
        yield proxy
    finally:
        proxy.stop()


__all__ = [
    "HAPROXY_CFG",
    "HAProxy",
    "OwnPostgres",
    "OwnRedis",
    "haproxy",
    "need",
    "own_postgres",
    "own_redis",
]
