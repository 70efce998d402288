"""Argon2id password hashing off the event loop, in a small bounded pool of low-priority threads.

An Argon2id verification takes ~100 ms of CPU and 64 MiB (argon2-cffi's RFC 9106 low-memory profile).
Run on the event loop, 16 clients failing logins delayed another engineer's heartbeat to 620 ms and the
user's End reached the engineer in 1.76 s instead of 41 ms. In the server, hashing runs in `workers`
worker processes (spawned) in Linux's SCHED_IDLE class (else niced to 10), so it gets only CPU time
nothing else wants. Processes, not threads: a low-priority thread of the server that holds the GIL
between its C calls stalls the event loop until the scheduler lets it run again (seen: 447 ms on a
loaded machine). Commands hash in a thread (no loop to protect; no process to start).
At most `queue` more wait; beyond that `HashBusy` is raised at once (the caller answers 503) instead
of queueing without end. The limit counts work in the workers, not waiting coroutines: a caller that
gives up (client gone) keeps its slot until its hash is done.

`configure()` is called by the app at start-up with the operator's settings; commands use the
defaults. Passwords are never logged or kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4 (argon2-cffi defaults, RFC 9106 2nd choice)
WORKER_NICE = 10
PARENT_CHECK_S = 1.0
T = TypeVar("T")


class HashBusy(Exception):
    """Too many password checks are running or waiting; try again shortly."""


def _lower_priority() -> None:
    # Linux: scheduling class and nice apply per thread (and to the threads libargon2 starts from it).
    # SCHED_IDLE: hashing gets only CPU time nothing else in the system wants. In a worker process,
    # not a thread of the server's: a low-priority thread holding the GIL would stall the event loop.
    tid = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, tid, WORKER_NICE)


def _start_worker(parent: int) -> None:
    """A hashing worker process: low priority, and gone when the server is. A server killed outright
    (SIGKILL, the OOM killer) cannot tell its workers to stop, and each would idle on forever holding
    its pipe (seen: 188 of them after a day of test runs); a daemon thread watches the parent instead."""
    _lower_priority()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@functools.cache
def _dummy_hash() -> str:
    """What unknown names are checked against (so they cost what a wrong password costs); made on
    first use, in the pool, not at import."""
    return HASHER.hash("not a real password")


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class HashPool:
    """`processes`: hash in worker processes (the server), else in threads (commands, which have no
    event loop to protect and should not pay for starting a process)."""

    def __init__(self, workers: int = 1, queue: int = 16, *, processes: bool = False) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.processes = processes
        self._executor = self._new_executor()
        self._lock = threading.Lock()
        self._in_use = 0

    def _new_executor(self) -> Executor:
        if self.processes:
            # spawn: the server has threads, and a forked child would inherit their locks.
            context = multiprocessing.get_context("spawn")
            return ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
            )
        return ThreadPoolExecutor(self.workers, "argon2", initializer=_lower_priority)

    @property
    def in_use(self) -> int:
        return self._in_use

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._in_use -= 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._in_use >= self.capacity:
                raise HashBusy
            self._in_use += 1
        try:
            future = self._executor.submit(fn, *args)
        except BrokenProcessPool:  # a worker died (out of memory?): start afresh, refuse this one
            self._executor = self._new_executor()
            self._release(Future())
            raise HashBusy from None
        future.add_done_callback(self._release)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._executor = self._new_executor()
            raise HashBusy from None

    async def verify(self, stored: str | None, password: str) -> bool:
        """True if `password` matches `stored`; `stored` None (no such user) costs the same and is False."""
        return await self.run(_verify, stored, password)

    async def hash(self, password: str) -> str:
        return await self.run(HASHER.hash, password)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool = HashPool()


def pool() -> HashPool:
    return _pool


def configure(workers: int, queue: int, *, processes: bool = True) -> HashPool:
    """Replace the process's pool (the app calls this at start-up with its settings)."""
    global _pool
    old, _pool = _pool, HashPool(workers, queue, processes=processes)
    old.shutdown()
    return _pool


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)
