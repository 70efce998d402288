"""What containment and the sandbox cost a command's start: `/bin/sh -c true` from spawn to exit.

Modes, each RME_BENCH_SANDBOX_ROUNDS times (default 40), interleaved so load drifts hit all alike:
- **plain**: a new session only — what commands had before (anchor);
- **fork**: plus an empty `preexec_fn` — what any step between fork and exec costs by itself, because
  `subprocess` then forks instead of using vfork (second anchor: the sandbox's own cost is above it);
- **cgroup**: plus its own cgroup (mkdir, join before exec, `cgroup.kill`, wait for `populated 0`, rmdir);
- **namespace+landlock**: what the agent does now: cgroup, private mount namespace with the data dir,
  a vault folder, the runtime dir and the cgroup file system under empty tmpfs, Landlock `wall`;
- **landlock holes**: cgroup and the Landlock allow-list instead of the namespace (the fallback).
Each figure includes planning in the agent (`prepare`: for holes, opening every neighbour of every
ancestor of a hidden path) and the cleanup after exit.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agent.sandbox import landlock
from agent.sandbox.cgroup import CommandCgroup
from agent.sandbox.launch import Launch, prepare

Mode = Callable[[list[Path]], Launch | None]


def _plain(_: list[Path]) -> Launch | None:
    return None


def _fork(_: list[Path]) -> Launch | None:
    return Launch()


def _cgroup(_: list[Path]) -> Launch | None:
    return Launch(cgroup=CommandCgroup.create())


def _full(hide: list[Path]) -> Launch | None:
    return prepare(hide)


def _holes(hide: list[Path]) -> Launch | None:
    return Launch(cgroup=CommandCgroup.create(), ruleset=landlock.holes(hide), hidden=hide)


MODES: dict[str, Mode] = {
    "plain (anchor)": _plain,
    "fork (anchor)": _fork,
    "cgroup": _cgroup,
    "namespace+landlock": _full,
    "landlock holes": _holes,
}


async def _once(mode: Mode, hide: list[Path]) -> float:
    start = time.perf_counter()
    launch = mode(hide)
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        "true",
        start_new_session=True,
        preexec_fn=launch.child if launch else None,
    )
    if launch:
        launch.started()
    await proc.wait()
    if launch and launch.cgroup:
        launch.cgroup.kill()
        launch.cgroup.wait_empty(2)
        launch.cgroup.remove()
    return (time.perf_counter() - start) * 1000


async def measure(rounds: int, hide: list[Path]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in MODES}
    for mode in MODES.values():  # warm-up (the namespace probe runs once)
        await _once(mode, hide)
    for _ in range(rounds):
        for name, mode in MODES.items():
            times[name].append(await _once(mode, hide))
    return times


def main() -> None:
    rounds = int(os.environ.get("RME_BENCH_SANDBOX_ROUNDS", "40"))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        data = home / ".local" / "share" / "rme"
        (data / "vault").mkdir(parents=True)
        (home / "Private").mkdir()
        for n in range(40):  # a home folder with some entries, for the holes policy to walk
            (home / f"entry-{n}").mkdir()
        hide = [data, home / "Private"]
        times = asyncio.run(measure(rounds, hide))
    base = statistics.median(times["fork (anchor)"])
    for name, values in times.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        median = statistics.median(values)
        print(
            f"{name:<20} median {median:6.2f} ms  p95 {p95:6.2f} ms  "
            f"({median - base:+6.2f} ms over fork)  n={len(values)}"
        )
    start = time.perf_counter()
    ruleset = landlock.holes(hide)
    print(f"holes ruleset alone: {(time.perf_counter() - start) * 1000:.2f} ms (ancestors of {hide[0]})")
    ruleset.close()


if __name__ == "__main__":
    subprocess.run(["/bin/true"], check=True)  # warm the page cache
    main()
