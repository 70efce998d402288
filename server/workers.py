"""`rme-server serve --workers N`: N server processes on one node, sharing the listening port.

Why several processes: one Python process uses one core, and one process holds one descriptor per
agent under its `RLIMIT_NOFILE` (capped at 20,000 on the project's machines, where even root cannot
raise it). N processes spread both.

Why `--workers` and not N systemd instances on N ports: the node stays one unit, one port and one
HAProxy line per host; the supervisor refuses a configuration that cannot work (SQLite, no Redis),
prepares the shared files once (TLS certificate, audit signing key, SSH keys) so the workers do not
race to create them, restarts a worker that dies, and stops them all together.

How they share the port: each worker binds its own listening socket with `SO_REUSEPORT`; the kernel
spreads new connections evenly over the sockets by a hash of the addresses (one shared accept queue,
as in uvicorn's own `--workers`, lets one busy process take most of the connections). When a worker
dies its socket goes with it: new connections go to the others, and its agents reconnect to them.
Linux lets only sockets of the same user join a `SO_REUSEPORT` group, so another user cannot steal
connections.

Each worker is a full node of the cluster (`server.relay.nodes`): its own random node id and row in
`nodes`, its own subscriptions on the Redis bus; an engineer's console on one worker sees and serves
agents on the others exactly as across hosts. A worker killed outright is a node lost: its tickets are
ended by the others after `node_dead_after`, as for a dead host. Only worker 0 runs the SSH gateway.

Stopping: SIGTERM or SIGINT to the supervisor is passed to every worker (each closes its connections
and leaves the cluster cleanly); any still running after `STOP_GRACE` seconds is killed. A worker
whose supervisor dies gets SIGTERM from the kernel (`PR_SET_PDEATHSIG`), so no worker outlives it.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType

from server.config import ServerConfig
from server.metrics import worker_gone

__all__ = ["Supervisor", "die_with_parent", "listening_socket", "workers_problem"]

log = logging.getLogger("rme.server")

STOP_GRACE = 25.0  # seconds a worker has to close its connections (systemd's TimeoutStopSec is 30)
QUICK_EXIT = 10.0  # a worker that exits this soon after its start failed to start
MAX_QUICK_EXITS = 3  # in a row: the configuration is wrong (port taken, bad key); give up
PR_SET_PDEATHSIG = 1


def workers_problem(config: ServerConfig) -> str | None:
    """Why `config.workers` processes cannot run as one node, in the operator's terms; None if they can."""
    if config.workers == 1:
        return None
    if config.effective_database_url.startswith("sqlite"):
        return (
            f"--workers {config.workers} needs PostgreSQL (database_url): SQLite allows one writing process,"
            " and each worker is a node of its own; run one worker on SQLite"
        )
    if not config.redis_url:
        return (
            f"--workers {config.workers} needs Redis (redis_url): the workers reach each other through its"
            " bus, like the nodes of a cluster (an engineer on one worker serves agents on another)"
        )
    if config.port == 0:
        return f"--workers {config.workers} needs a fixed --port (each worker binds the same one)"
    return None


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A bound TCP socket for uvicorn (`Server.run(sockets=...)`); with `reuse_port`, one of a
    `SO_REUSEPORT` group the kernel balances new connections over."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the supervisor dies (Linux); a no-op elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the supervisor died before the call: follow it now
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class _Slot:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Runs `target(index)` in `count` processes (spawned: fresh interpreters, nothing inherited but the
    arguments) until told to stop; restarts one that dies."""

    count: int
    target: Callable[[int], None]
    slots: list[_Slot] = field(default_factory=list)
    stopping: bool = False
    failed: bool = False

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.slots = [_Slot(i) for i in range(self.count)]
            for slot in self.slots:
                self._start(slot)
            while not self.stopping:
                self._watch()
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _start(self, slot: _Slot) -> None:
        process = multiprocessing.get_context("spawn").Process(
            target=self.target, args=(slot.index,), name=f"rme-worker-{slot.index}"
        )
        process.start()
        slot.process, slot.started, slot.restart_at = process, time.monotonic(), None
        log.info("worker started", extra={"worker": slot.index, "pid": process.pid})

    def _watch(self) -> None:
        live = [s.process.sentinel for s in self.slots if s.process is not None]
        multiprocessing.connection.wait(live, timeout=0.5)
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None and not process.is_alive():
                process.join()
                if process.pid is not None:
                    worker_gone(process.pid)
                quick = now - slot.started < QUICK_EXIT
                slot.quick_exits = slot.quick_exits + 1 if quick else 0
                slot.process = None
                if self.stopping:
                    continue
                log.warning(
                    "worker exited; starting it again",
                    extra={"worker": slot.index, "pid": process.pid, "exitcode": process.exitcode},
                )
                if slot.quick_exits >= MAX_QUICK_EXITS:
                    log.error("worker keeps failing to start; stopping", extra={"worker": slot.index})
                    self.failed = self.stopping = True
                    return
                slot.restart_at = now + min(30.0, 1.0 * 2**slot.quick_exits)
            if slot.process is None and slot.restart_at is not None and now >= slot.restart_at:
                self._start(slot)

    def _stop_all(self) -> None:
        running = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        for process in running:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker did not stop in time; killing it", extra={"pid": process.pid})
                process.kill()
                process.join()
