"""The hashing pool: checks run off the event loop (the loop keeps ticking), at most workers + queue at
once (then `HashBusy` at once), and a caller that gives up keeps its slot until its hash is done."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from server.accounts import hashing
from server.accounts.hashing import HashBusy, HashPool


async def test_verify_and_hash() -> None:
    pool = HashPool(workers=1, queue=2)
    stored = await pool.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert await pool.verify(stored, "correct horse battery")
    assert not await pool.verify(stored, "wrong")
    assert not await pool.verify(None, "anything")  # an unknown user: the dummy hash, then False
    assert not await pool.verify("not a hash", "anything")
    pool.shutdown()


async def test_the_event_loop_keeps_running_while_hashing() -> None:
    pool = HashPool(workers=1, queue=8, processes=True)
    stored = await pool.hash("correct horse battery")
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(pool.verify(stored, f"guess {i}") for i in range(6)))
    elapsed = time.perf_counter() - started
    done.set()
    await task
    pool.shutdown()
    # Six checks took a while, and the loop never stalled for anything like one check's time.
    assert elapsed > 0.2
    assert max(gaps) < 0.1, f"the loop stalled for {max(gaps) * 1000:.0f} ms"


async def test_a_full_pool_says_busy_at_once() -> None:
    pool = HashPool(workers=1, queue=1, processes=True)
    stored = await pool.hash("correct horse battery")
    running = [asyncio.create_task(pool.verify(stored, "guess")) for _ in range(2)]
    await asyncio.sleep(0)
    assert pool.in_use == 2
    started = time.perf_counter()
    with pytest.raises(HashBusy):
        await pool.verify(stored, "one too many")
    assert time.perf_counter() - started < 0.05
    # A caller that gives up does not free the slot early: the thread is still busy with its hash.
    running[1].cancel()
    await asyncio.sleep(0)
    assert pool.in_use >= 1
    await asyncio.gather(*running, return_exceptions=True)
    for _ in range(200):
        if pool.in_use == 0:
            break
        await asyncio.sleep(0.01)
    assert pool.in_use == 0
    pool.shutdown()


def test_configure_replaces_the_process_pool() -> None:
    first = hashing.pool()
    second = hashing.configure(2, 4)
    assert hashing.pool() is second is not first and second.capacity == 6 and second.processes
    hashing.configure(1, 16, processes=False)


@pytest.mark.parametrize("processes", [True, False], ids=["processes", "threads"])
async def test_hashing_only_gets_cpu_nothing_else_wants(processes: bool) -> None:
    """SCHED_IDLE on Linux: under a flood, nice 10 alone still added ~25 ms to the user's End."""
    pool = HashPool(workers=1, queue=0, processes=processes)
    policy = await pool.run(os.sched_getscheduler, 0)
    pool.shutdown()
    assert policy == os.SCHED_IDLE


_SERVER_WITH_A_POOL = """
import asyncio, sys, time
from server.accounts import hashing

async def main() -> None:
    pool = hashing.configure(1, 4, processes=True)
    await pool.hash("x")
    print(" ".join(str(pid) for pid in pool._executor._processes), flush=True)
    time.sleep(60)

asyncio.run(main())
"""


def test_workers_go_when_the_server_is_killed_outright() -> None:
    """SIGKILL leaves no time to stop the pool: its workers notice the parent is gone and exit."""
    server = subprocess.Popen([sys.executable, "-c", _SERVER_WITH_A_POOL], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        workers = [int(pid) for pid in server.stdout.readline().split()]
        assert workers
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if _running(pid)]
    assert not alive, f"workers {alive} outlived their server"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
