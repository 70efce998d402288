"""Agent load generator and per-node capacity: N real agents held on one `rme-server serve` process.

1. Provision: the devices' keys are derived from a seed, written to a CSV and registered in one go with
   `rme-server customer import` (the operators' bulk path: a row with a `public_key` becomes a device,
   a row without one an enrollment code).
2. Hold: `bench._swarm` processes (several, separate from the server) each run many real
   `AgentClient`s — TLS pinned to the CA, device proof bound to the certificate, protocol heartbeats,
   WebSocket pings — started at a bounded rate.
3. Measure at each level (e.g. 1k, 5k, 10k, 20k): time to bring them online, the server's RSS
   (/proc/PID/status) and its own CPU time over an idle window (utime + stime from /proc/PID/stat, so
   other processes on a shared machine disturb it less than a whole-machine figure), then help →
   engineer notified: a share of the agents ask for help with the send time in their words, and a
   logged-in engineer's console socket times each queue update.

Loopback only; bounded in count and time (every swarm exits at its deadline). `python -m bench.agents
--help` for one run's options; `main()` (used by `make bench`) runs 1k/5k/10k/20k on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.exceptions import ConnectionClosed

from bench._swarm import device_key, raise_nofile
from protocol.auth import b64url
from protocol.messages import Heartbeat, HeartbeatBody, QueueUpdate
from tests.server.helpers import (
    ENGINEER,
    ROOT,
    ProtocolClient,
    RunningServer,
    login,
    open_engineer,
    running_server,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
HELP_GAP = 0.05  # seconds between two help requests: 20 a second, far above an operator's real rate


# -- the server process, seen from outside --------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (its own CPU time, whatever else runs on the machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_files(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def node_pids(pid: int) -> list[int]:
    """The server process and all its descendants (`serve --workers N`: the supervisor, its workers and
    multiprocessing's resource tracker): the node's processes, whose RSS and CPU add up."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
    return found


def node_rss(pid: int) -> int:
    return sum(rss_bytes(p) for p in node_pids(pid))


def node_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in node_pids(pid))


def node_files(pid: int) -> int:
    return sum(open_files(p) for p in node_pids(pid))


# -- provisioning -------------------------------------------------------------------------------


def provision(
    server: RunningServer, seed: bytes, first: int, count: int, folder: Path
) -> list[tuple[str, str]]:
    """Register devices `first`..`first+count-1` (keys from `seed`) with `rme-server customer import`;
    returns their (device id, customer id) in order."""
    source, out = folder / f"devices-{first}.csv", folder / f"devices-{first}.out.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "ref", "public_key"])
        for i in range(first, first + count):
            raw = device_key(seed, i).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            writer.writerow([f"bench PC {i}", f"BENCH-{i}", b64url(raw)])
    server.cli("customer", "import", str(source), "--out", str(out))
    with out.open() as handle:
        return [(row["device_id"], row["customer_id"]) for row in csv.DictReader(handle)]


# -- swarms -------------------------------------------------------------------------------------


@dataclass
class Swarm:
    process: asyncio.subprocess.Process
    count: int
    status: dict[str, Any] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.status = json.loads(line)

    async def command(self, text: str) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.process.stdin.write(text.encode() + b"\n")
            await self.process.stdin.drain()

    async def stop(self) -> None:
        await self.command("stop")
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self.reader is not None:
            self.reader.cancel()


async def start_swarm(
    url: str,
    ca: Path,
    seed: bytes,
    first: int,
    devices: Sequence[tuple[str, str]],
    rate: float,
    seconds: float,
    folder: Path,
    **extra: Any,
) -> Swarm:
    spec = {
        "server": url,
        "ca": str(ca),
        "seed": seed.hex(),
        "indexes": list(range(first, first + len(devices))),
        "devices": [list(d) for d in devices],
        "rate": rate,
        "seconds": seconds,
        "scratch": str(folder / f"swarm-{first}"),
        **extra,
    }
    path = folder / f"swarm-{first}.json"
    path.write_text(json.dumps(spec))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench._swarm", str(path),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    swarm = Swarm(process, len(devices))
    swarm.reader = asyncio.create_task(swarm.read())
    return swarm


def online(swarms: Sequence[Swarm]) -> int:
    return sum(int(s.status.get("online", 0)) for s in swarms)


async def wait_online(swarms: Sequence[Swarm], target: int, limit: float) -> float:
    """Seconds until `target` agents are online; raises TimeoutError past `limit`."""
    start = last = time.monotonic()
    while online(swarms) < target:
        now = time.monotonic()
        if now - start > limit:
            raise TimeoutError(
                f"{online(swarms)} of {target} agents online after {limit:.0f} s: {states(swarms)}"
            )
        if now - last > 15:
            print(
                f"    … {online(swarms)} of {target} online after {now - start:.0f} s: {states(swarms)}",
                flush=True,
            )
            last = now
        await asyncio.sleep(0.5)
    return time.monotonic() - start


def states(swarms: Sequence[Swarm]) -> dict[str, int]:
    total: dict[str, int] = {}
    for swarm in swarms:
        for state, n in swarm.status.get("states", {}).items():
            total[state] = total.get(state, 0) + int(n)
    return total


# -- help → engineer notified -------------------------------------------------------------------


async def help_latencies(
    swarms: Sequence[Swarm], engineer: ProtocolClient, asks: int, limit: float, gap: float = HELP_GAP
) -> list[float]:
    """`asks` online agents (spread over the swarms) ask for help; the seconds from each send to the
    engineer's queue update that shows it."""

    async def ask() -> None:  # paced (`gap` apart), round robin over the swarms
        for i in range(asks):
            await swarms[i % len(swarms)].command("help 1")
            await asyncio.sleep(gap)

    asking = asyncio.create_task(ask())
    seen: dict[str, float] = {}
    end = time.monotonic() + limit + asks * gap
    while len(seen) < asks and time.monotonic() < end:
        try:
            update = await engineer.expect(QueueUpdate, wait=max(0.1, end - time.monotonic()))
        except TimeoutError:
            break
        now = time.time()
        for ticket in update.body.changed:
            words = ticket.words.split()
            if words[:1] == ["bench"] and ticket.state == "queued" and ticket.words not in seen:
                seen[ticket.words] = now - float(words[3])
    asking.cancel()
    engineer.received.clear()
    return sorted(seen.values())


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Level:
    agents: int
    online: int
    ramp_s: float
    connects_per_s: float
    connect_cpu_ms: float  # the server's own CPU time per new connection during the ramp
    rss_mib: float
    kib_per_agent: float
    idle_cpu_pct: float  # of one core, the server process's own CPU time over the window
    window_s: float
    open_files: int
    help_asked: int
    help_seen: int
    help_p50_ms: float
    help_p95_ms: float
    help_p99_ms: float

    def line(self) -> str:
        return (
            f"  {self.agents:>6} agents: online {self.online}, ramp {self.ramp_s} s "
            f"({self.connects_per_s}/s, {self.connect_cpu_ms} ms server CPU each), "
            f"RSS {self.rss_mib} MiB ({self.kib_per_agent} KiB/agent), "
            f"idle CPU {self.idle_cpu_pct} % of a core over {self.window_s} s, "
            f"help → engineer p50 {self.help_p50_ms} ms p95 {self.help_p95_ms} ms p99 {self.help_p99_ms} ms "
            f"({self.help_seen}/{self.help_asked})"
        )


@dataclass
class Plan:
    levels: list[int]
    processes: int = 4
    rate: float = 200.0  # connects per second, all swarms together
    idle_window: float = 60.0
    help_asks: int = 100
    help_rate: float = 1 / HELP_GAP  # help requests a second, all agents together
    ramp_timeout: float = 600.0
    seconds: float = 1800.0  # every swarm's hard deadline
    workers: int = 1  # server processes (`serve --workers`); more than one runs on PostgreSQL and Redis


@contextlib.asynccontextmanager
async def engineer_console(server: RunningServer) -> AsyncIterator[ProtocolClient]:
    http = await login(server, *ENGINEER)
    try:
        engineer = await open_engineer(server, http)

        async def beat() -> None:  # as the console does: a silent link is closed by the idle sweep
            seq = 0
            while True:
                await asyncio.sleep(20)
                seq += 1
                await engineer.send(Heartbeat(body=HeartbeatBody(seq=seq)))

        beating = asyncio.create_task(beat())
        try:
            yield engineer
        finally:
            beating.cancel()
            await engineer.close()
    finally:
        await http.aclose()


async def measure(server: RunningServer, plan: Plan, folder: Path, report: Any = None) -> list[Level]:
    report = report or functools.partial(print, flush=True)
    seed = os.urandom(16)
    swarms: list[Swarm] = []
    levels: list[Level] = []
    baseline = node_rss(server.process.pid)
    report(f"  server idle, no agents: RSS {baseline / 2**20:.0f} MiB")
    held = 0
    try:
        for target in plan.levels:
            try:
                async with asyncio.timeout(plan.ramp_timeout + plan.idle_window + 180):  # bounded
                    level = await one_level(server, plan, folder, seed, swarms, held, target, baseline)
            except TimeoutError as exc:  # the figures so far stand; say where it stopped
                report(f"  {target:>6} agents: not reached ({exc}); stopping here")
                break
            held = target
            levels.append(level)
            report(level.line())
    finally:
        await asyncio.gather(*(s.stop() for s in swarms), return_exceptions=True)
    return levels


async def one_level(
    server: RunningServer,
    plan: Plan,
    folder: Path,
    seed: bytes,
    swarms: list[Swarm],
    held: int,
    target: int,
    baseline: int,
) -> Level:
    """Add agents (new swarms) from `held` up to `target`, and measure."""
    pid = server.process.pid
    delta = target - held
    devices = provision(server, seed, held, delta, folder)
    processes = max(1, min(plan.processes, delta // 250))
    share = -(-delta // processes)
    start, ramp_cpu = time.monotonic(), node_cpu(pid)
    for p in range(processes):
        part = devices[p * share : (p + 1) * share]
        if part:
            url = f"wss://127.0.0.1:{server.port}"
            rate = plan.rate / processes
            first = held + p * share
            swarms.append(await start_swarm(url, server.ca, seed, first, part, rate, plan.seconds, folder))
    await wait_online(swarms, target, plan.ramp_timeout)
    ramp = time.monotonic() - start
    ramp_cpu = node_cpu(pid) - ramp_cpu
    await asyncio.sleep(5)  # let the connects' garbage settle
    pids = node_pids(pid)
    each0, t0 = [cpu_seconds(p) for p in pids], time.monotonic()
    await asyncio.sleep(plan.idle_window)
    each1, t1 = [cpu_seconds(p) for p in pids], time.monotonic()
    cpu0, cpu1 = sum(each0), sum(each1)
    rss = node_rss(pid)
    load = os.getloadavg()
    parts = ", ".join(
        f"pid {p}: {rss_bytes(p) / 2**20:.0f} MiB, {100 * (b - a) / (t1 - t0):.2f} %"
        for p, a, b in zip(pids, each0, each1, strict=True)
    )
    print(
        f"    ({target} agents idle: RSS {rss / 2**20:.1f} MiB, "
        f"CPU {100 * (cpu1 - cpu0) / (t1 - t0):.2f} % of a core over {t1 - t0:.0f} s; {parts}; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})",
        flush=True,
    )
    try:  # a console of its own per level: one held through a starved ramp died of a ping timeout
        async with engineer_console(server) as engineer:
            latencies = await help_latencies(swarms, engineer, plan.help_asks, 60.0, 1 / plan.help_rate)
    except ConnectionClosed as exc:  # the console's link died (a stalled server): no figure, say so
        print(f"    help → engineer not measured: the console's connection closed ({exc})", flush=True)
        latencies = []
    return Level(
        agents=target,
        online=online(swarms),
        ramp_s=round(ramp, 1),
        connects_per_s=round(delta / ramp, 1),
        connect_cpu_ms=round(1000 * ramp_cpu / delta, 2),
        rss_mib=round(rss / 2**20, 1),
        kib_per_agent=round((rss - baseline) / 1024 / target, 1),
        idle_cpu_pct=round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
        window_s=round(t1 - t0, 1),
        open_files=node_files(pid),
        help_asked=plan.help_asks,
        help_seen=len(latencies),
        help_p50_ms=round(statistics.median(latencies) * 1000, 1) if latencies else float("nan"),
        help_p95_ms=round(pct(latencies, 0.95) * 1000, 1),
        help_p99_ms=round(pct(latencies, 0.99) * 1000, 1),
    )


def run(plan: Plan, database_url: str | None = None, **settings: str) -> list[Level]:
    raise_nofile()  # inherited by the server process too
    with tempfile.TemporaryDirectory(prefix="rme-bench-agents-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        url = database_url or f"sqlite+aiosqlite:///{folder / 'server' / 'rme.db'}"
        if plan.workers > 1:  # a node of several processes: PostgreSQL and Redis of its own (loopback)
            from tests.deploy.services import own_postgres, own_redis

            if database_url is None:
                url = stack.enter_context(own_postgres()).url
            settings = {
                "workers": str(plan.workers),
                "redis_url": stack.enter_context(own_redis(folder / "redis")).url,
                **settings,
            }
        with running_server(folder / "server", url, **settings) as server:
            return asyncio.run(measure(server, plan, folder))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.agents", description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default=os.environ.get("RME_BENCH_AGENT_LEVELS", "1000,5000,10000,19500"))
    parser.add_argument("--processes", type=int, default=4, help="swarm processes (default 4)")
    parser.add_argument("--rate", type=float, default=200.0, help="connects per second, all swarms")
    parser.add_argument("--idle-window", type=float, default=60.0, help="seconds of idle CPU measured")
    parser.add_argument("--help-asks", type=int, default=200, help="help requests per level")
    parser.add_argument("--ramp-timeout", type=float, default=600.0, help="seconds a level may take")
    parser.add_argument("--help-rate", type=float, default=20.0, help="help requests a second (default 20)")
    parser.add_argument(
        "--database-url", help="default: a fresh SQLite file (a private PostgreSQL with --workers)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes on the node (serve --workers)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    plan = Plan(
        levels=[int(x) for x in args.levels.split(",")],
        processes=args.processes,
        rate=args.rate,
        idle_window=args.idle_window,
        help_asks=args.help_asks,
        help_rate=args.help_rate,
        ramp_timeout=args.ramp_timeout,
        workers=args.workers,
    )
    print(
        f"agents per node: levels {plan.levels}, {plan.workers} server process(es), "
        f"{plan.processes} swarm processes, {plan.rate}/s"
    )
    print("  (a shared 2-core machine: CPU is the server process's own time, still noisy)")
    levels = run(plan, args.database_url)
    if args.json:
        args.json.write_text(json.dumps([asdict(level) for level in levels], indent=2))


if __name__ == "__main__":
    main()
