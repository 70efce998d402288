"""Soak: agents churning, asking for help and holding sessions for a bounded time; the server's memory
after warm-up must grow less than 5 %.

One `rme-server serve` (SQLite), `bench._swarm` processes holding N real agents. Every second a few
agents lose their connection and come back (churn), one asks for help, and a logged-in engineer takes
every queued ticket: ticket.accept → the agent's user accepts the offer → the session runs and the user
ends it 2 s later (resolved). The server's RSS is sampled every few seconds; the figure is the growth
from the end of the warm-up (half the run) to the end, as a share of the warm-up RSS.

`python -m bench.soak` runs 30 minutes (`RME_BENCH_SOAK_S`); the test suite runs a short one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench._swarm import raise_nofile
from bench.agents import Swarm, engineer_console, provision, rss_bytes, start_swarm, wait_online
from protocol.messages import QueueUpdate, SessionEnd, TicketAccept, TicketAcceptBody
from tests.server.helpers import ProtocolClient, RunningServer, running_server


@dataclass
class SoakResult:
    seconds: float
    agents: int
    churned: int
    helps: int
    sessions_ended: int
    rss_warm_mib: float
    rss_end_mib: float
    rss_max_mib: float

    @property
    def growth(self) -> float:
        return (self.rss_end_mib - self.rss_warm_mib) / self.rss_warm_mib

    def line(self) -> str:
        return (
            f"  soak {self.seconds:.0f} s, {self.agents} agents: churned {self.churned}, help {self.helps}, "
            f"sessions ended {self.sessions_ended}; RSS after warm-up {self.rss_warm_mib:.1f} MiB, "
            f"at the end {self.rss_end_mib:.1f} MiB (max {self.rss_max_mib:.1f}): "
            f"growth {100 * self.growth:+.1f} % (target < 5 %)"
        )


async def engineer_loop(engineer: ProtocolClient, ended: list[str]) -> None:
    """Take every queued ticket; count the sessions' ends."""
    taken: set[str] = set()
    while True:
        item = await engineer.recv(3600)
        if isinstance(item, QueueUpdate):
            for ticket in item.body.changed:
                if ticket.state == "queued" and ticket.ticket_id not in taken:
                    taken.add(ticket.ticket_id)
                    await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket.ticket_id)))
        elif isinstance(item, SessionEnd) and item.session is not None:
            ended.append(item.session)
        engineer.received.clear()


async def soak(
    server: RunningServer, folder: Path, agents: int, seconds: float, churn: int = 2
) -> SoakResult:
    seed = os.urandom(16)
    devices = provision(server, seed, 0, agents, folder)
    half = agents // 2
    url = f"wss://127.0.0.1:{server.port}"
    swarms: list[Swarm] = []
    pid = server.process.pid
    try:
        for first, part in ((0, devices[:half]), (half, devices[half:])):
            swarms.append(await start_swarm(url, server.ca, seed, first, part, 100.0, seconds + 300, folder))
        await wait_online(swarms, agents, 300)
        ended: list[str] = []
        async with engineer_console(server) as engineer:
            taking = asyncio.create_task(engineer_loop(engineer, ended))
            start = time.monotonic()
            warm_at = start + seconds / 2
            warm = peak = 0.0
            churned = helps = tick = 0
            try:
                while (now := time.monotonic()) - start < seconds:
                    tick += 1
                    swarm = swarms[tick % len(swarms)]
                    await swarm.command(f"churn {churn}")
                    churned += churn
                    await swarm.command("help 1")
                    helps += 1
                    rss = rss_bytes(pid) / 2**20
                    peak = max(peak, rss)
                    if not warm and now >= warm_at:
                        warm = rss
                    await asyncio.sleep(1.0)
            finally:
                taking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await taking
        await asyncio.sleep(3)  # the last sessions end
        return SoakResult(
            seconds=seconds,
            agents=agents,
            churned=churned,
            helps=helps,
            sessions_ended=len(ended),
            rss_warm_mib=warm,
            rss_end_mib=rss_bytes(pid) / 2**20,
            rss_max_mib=peak,
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
            print(asyncio.run(soak(server, folder, agents, seconds)).line(), flush=True)


if __name__ == "__main__":
    main()
