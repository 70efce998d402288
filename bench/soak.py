"""Soak: agents churning, asking for help and holding sessions with an action for a bounded time, consoles
coming and going; the server's memory after warm-up must grow less than 5 %, and not keep rising.

One `rme-server serve` (SQLite), two `bench._swarm` processes holding N real agents. Every second a few
agents lose their connection and come back (churn) and one asks for help. The desk — an engineer's
console — takes every queued ticket; the agent's user accepts the offer; the engineer runs a command
(the user allows it and the result comes back); the user ends the session 2 s in. A
supervisor's console opens every `VISIT_S` seconds, reads the queue and leaves, logging in afresh every
minute. The server's RSS and CPU are sampled every `SAMPLE_S` seconds.

The verdict (`memory_figures`, pure): from the end of the warm-up to the end, the growth of the RSS
(medians of the first and the last few samples, so one sample's noise does not decide) and the slope
fitted over every sample after the warm-up, projected to 30 minutes — both must stay under 5 % in the
bench. The suite's 3 minutes cannot show a slope that finely: the RSS still settles in minutes 1–3
(up to 0.9 MiB a minute measured, ≈ 19 % projected) and wanders by about a MiB (full collections,
arena steps: ±12 % projected), so there the slope is held to `SHORT_SLOPE_LIMIT` — enough to catch a
leak per connection like the bus cycle (≈ 150 %), not the heap's fragmentation (≈ 18 %), which the
30-minute bench catches.

`python -m bench.soak` runs 30 minutes (`RME_BENCH_SOAK_S`); the test suite runs 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench._swarm import raise_nofile
from bench.agents import Swarm, cpu_seconds, provision, rss_bytes, start_swarm, wait_online
from protocol.actions import CommandParams
from protocol.connection import Connection
from protocol.directions import Peer
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    ActionResult,
    Error,
    Heartbeat,
    HeartbeatBody,
    Hello,
    HelloBody,
    QueueUpdate,
    SessionAccept,
    SessionEnd,
    TicketAccept,
    TicketAcceptBody,
    Welcome,
)
from tests.server.helpers import ENGINEER, SUPERVISOR, ProtocolClient, RunningServer, login, running_server

SAMPLE_S = 5.0
VISIT_S = 10.0  # a supervisor's console opens this often, stays half of it
RELOGIN_VISITS = 6  # and logs in afresh every sixth visit
HEARTBEAT_S = 20.0  # as the console: the idle sweep closes a silent link
LIMIT = 0.05  # growth after warm-up, measured and projected to 30 minutes
SHORT_SLOPE_LIMIT = 0.5  # the projection a 3-minute run is held to: above its warm-up and wander


# -- the verdict (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the soak began
    rss_mib: float
    cpu_s: float  # the server's own CPU time so far


@dataclass(frozen=True)
class Memory:
    warm_mib: float  # at the end of the warm-up (median of the first samples after it)
    end_mib: float  # at the end (median of the last samples)
    max_mib: float
    slope_mib_min: float  # least-squares slope over every sample after the warm-up

    @property
    def growth(self) -> float:
        return (self.end_mib - self.warm_mib) / self.warm_mib

    @property
    def projected_30min(self) -> float:
        """The growth 30 minutes of the fitted slope would give, as a share of the warm-up RSS."""
        return self.slope_mib_min * 30 / self.warm_mib


def memory_figures(samples: Sequence[Sample], warm_up_s: float) -> Memory:
    """The memory figures from the samples taken after `warm_up_s` (at least 6 are needed)."""
    after = [s for s in samples if s.t >= warm_up_s]
    if len(after) < 6:
        raise ValueError(f"{len(after)} samples after the warm-up: too few to judge")
    window = max(3, len(after) // 8)
    ts = [s.t / 60 for s in after]
    rss = [s.rss_mib for s in after]
    fit = statistics.linear_regression(ts, rss)
    return Memory(
        warm_mib=statistics.median(rss[:window]),
        end_mib=statistics.median(rss[-window:]),
        max_mib=max(rss),
        slope_mib_min=fit.slope,
    )


# -- consoles -------------------------------------------------------------------------------------


async def open_console(server: RunningServer, http: httpx.AsyncClient) -> ProtocolClient:
    """An engineer console as the browser opens it: protocol heartbeats, no WebSocket pings (a ping
    unanswered for 20 s on a loaded machine would close it; the idle sweep watches heartbeats)."""
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    ws = await connect(
        f"wss://127.0.0.1:{server.port}/ws/engineer",
        ssl=server.ssl_context(),
        additional_headers={"Cookie": cookie},
        origin=server.origin,  # type: ignore[arg-type]
        ping_interval=None,
        open_timeout=60,
    )
    console = ProtocolClient(ws, Connection(local=Peer.ENGINEER, remote=Peer.SERVER))
    await console.send(Hello(body=HelloBody(role="engineer", versions=[1], software="bench-soak")))
    await console.expect(Welcome, 60)
    await console.expect(QueueUpdate, 60)
    return console


@dataclass
class Desk:
    """The engineer at the desk: takes every queued ticket and runs one command in each session."""

    taken: int = 0
    sessions: int = 0  # offers the user accepted
    results: int = 0  # command results back from the user's PC
    ended: int = 0
    reconnects: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # by code: the refusals a console was sent

    async def run(self, server: RunningServer, stop: asyncio.Event) -> None:
        http = await login(server, *ENGINEER)
        try:
            while not stop.is_set():
                try:
                    console = await open_console(server, http)
                    try:
                        await self._serve(console, stop)
                    finally:
                        await console.ws.close()
                except (WebSocketException, OSError, TimeoutError):
                    self.reconnects += 1  # the server closed or did not answer: a new console, as a tab would
                    await asyncio.sleep(1)
        finally:
            await http.aclose()

    async def _serve(self, console: ProtocolClient, stop: asyncio.Event) -> None:
        taken: set[str] = set()
        beat = time.monotonic()
        seq = 0
        while not stop.is_set():
            if time.monotonic() - beat > HEARTBEAT_S:
                seq, beat = seq + 1, time.monotonic()
                await console.send(Heartbeat(body=HeartbeatBody(seq=seq)))
            try:
                item = await console.recv(1.0)
            except TimeoutError:
                continue
            console.received.clear()
            if isinstance(item, QueueUpdate):
                for ticket in item.body.changed:
                    if ticket.state == "queued" and ticket.ticket_id not in taken:
                        taken.add(ticket.ticket_id)
                        self.taken += 1
                        await console.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket.ticket_id)))
            elif isinstance(item, SessionAccept) and item.session is not None:
                self.sessions += 1
                action = ActionRequestBody(
                    action_id=f"a-{self.sessions}",
                    action=CommandParams(command="ipconfig /all"),
                    reason="soak",
                )
                await console.send(ActionRequest(session=item.session, body=action))
            elif isinstance(item, ActionResult):
                self.results += 1
            elif isinstance(item, SessionEnd):
                self.ended += 1
            elif isinstance(item, Error):
                self.errors[item.body.code] += 1


@dataclass
class Visitors:
    """A supervisor's console opening, reading the queue and leaving, again and again."""

    visits: int = 0
    logins: int = 0
    failed: int = 0

    async def run(self, server: RunningServer, stop: asyncio.Event) -> None:
        http: httpx.AsyncClient | None = None
        while not stop.is_set():
            try:
                if http is None or self.visits % RELOGIN_VISITS == 0:
                    if http is not None:
                        await http.post("/api/auth/logout")
                        await http.aclose()
                    http = None
                    http = await login(server, *SUPERVISOR)
                    self.logins += 1
                console = await open_console(server, http)
                self.visits += 1
                with contextlib.suppress(TimeoutError):  # read whatever comes while there
                    async with asyncio.timeout(VISIT_S / 2):
                        while True:
                            await console.recv(VISIT_S)
                            console.received.clear()
                await console.ws.close()
            except (WebSocketException, OSError, TimeoutError, httpx.HTTPError, AssertionError):
                self.failed += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), VISIT_S / 2)
        if http is not None:
            await http.aclose()


# -- the run --------------------------------------------------------------------------------------


@dataclass
class SoakResult:
    seconds: float
    warm_up_s: float
    agents: int
    churned: int
    helps: int
    desk: Desk
    visitors: Visitors
    samples: list[Sample]
    log_errors: int  # error-level lines in the server's log

    @property
    def memory(self) -> Memory:
        return memory_figures(self.samples, self.warm_up_s)

    @property
    def cpu_share(self) -> float:
        """The server's CPU over the run, as a share of one core."""
        first, last = self.samples[0], self.samples[-1]
        return (last.cpu_s - first.cpu_s) / max(last.t - first.t, 1e-9)

    def lines(self) -> list[str]:
        m, d, v = self.memory, self.desk, self.visitors
        errors = ", ".join(f"{code} {n}" for code, n in d.errors.most_common()) or "none"
        return [
            f"  soak {self.seconds:.0f} s (warm-up {self.warm_up_s:.0f} s), {self.agents} agents: "
            f"churned {self.churned}, help {self.helps}; desk took {d.taken}, sessions {d.sessions}, "
            f"command results {d.results}, ended {d.ended}; console visits {v.visits} ({v.logins} logins, "
            f"{v.failed} failed), desk reconnects {d.reconnects}",
            f"  server CPU {100 * self.cpu_share:.1f} % of a core; refusals to the desk: {errors}; "
            f"error lines in the server log: {self.log_errors}",
            f"  RSS after warm-up {m.warm_mib:.1f} MiB, at the end {m.end_mib:.1f} MiB "
            f"(max {m.max_mib:.1f}): growth {100 * m.growth:+.1f} %; slope {m.slope_mib_min:+.2f} MiB/min "
            f"= {100 * m.projected_30min:+.1f} % in 30 min (limits {100 * LIMIT:.0f} %)",
            "  RSS (MiB) by minute: "
            + " ".join(f"{s.rss_mib:.0f}" for s in self.samples if int(s.t) % 60 < SAMPLE_S),
        ]


def error_lines(log: Path) -> int:
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            count += json.loads(line).get("level") in ("error", "critical")
    return count


async def soak(
    server: RunningServer,
    folder: Path,
    agents: int,
    seconds: float,
    warm_up_s: float | None = None,
    churn: int = 2,
) -> SoakResult:
    warm_up = min(seconds / 3, 300.0) if warm_up_s is None else warm_up_s
    seed = os.urandom(16)
    devices = provision(server, seed, 0, agents, folder)
    half = agents // 2
    url = f"wss://127.0.0.1:{server.port}"
    swarms: list[Swarm] = []
    pid = server.process.pid
    stop = asyncio.Event()
    desk, visitors = Desk(), Visitors()
    samples: list[Sample] = []
    try:
        for first, part in ((0, devices[:half]), (half, devices[half:])):
            swarms.append(await start_swarm(url, server.ca, seed, first, part, 100.0, seconds + 300, folder))
        await wait_online(swarms, agents, 300)
        consoles = [
            asyncio.create_task(desk.run(server, stop)),
            asyncio.create_task(visitors.run(server, stop)),
        ]
        start = next_sample = time.monotonic()
        churned = helps = tick = 0
        try:
            while (now := time.monotonic()) - start < seconds:
                tick += 1
                swarm = swarms[tick % len(swarms)]
                await swarm.command(f"churn {churn}")
                churned += churn
                await swarm.command("help 1")
                helps += 1
                if now >= next_sample:
                    samples.append(Sample(now - start, rss_bytes(pid) / 2**20, cpu_seconds(pid)))
                    next_sample += SAMPLE_S
                await asyncio.sleep(1.0)
        finally:
            stop.set()
            await asyncio.gather(*consoles, return_exceptions=True)
        return SoakResult(
            seconds, warm_up, agents, churned, helps, desk, visitors, samples, error_lines(server.log)
        )
    finally:
        await asyncio.gather(*(s.stop() for s in swarms), return_exceptions=True)


def main() -> None:
    seconds = float(os.environ.get("RME_BENCH_SOAK_S", "1800"))
    agents = int(os.environ.get("RME_BENCH_SOAK_AGENTS", "1000"))
    print(f"soak: {agents} agents for {seconds:.0f} s (a shared 2-core machine: figures are noisy)")
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="rme-bench-soak-") as tmp:
        folder = Path(tmp)
        url = f"sqlite+aiosqlite:///{folder / 'server' / 'rme.db'}"
        with running_server(folder / "server", url) as server:
            result = asyncio.run(soak(server, folder, agents, seconds))
        print("\n".join(result.lines()), flush=True)


if __name__ == "__main__":
    main()
