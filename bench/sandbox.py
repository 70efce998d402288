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

Then the steps one by one, as the agent runs them (medians of 20): planning in the agent (CPU time),
each step in the child (timed there, sent back through a pipe), and the cleanup after exit.
"""

from __future__ import annotations

import asyncio
import itertools
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


def _timed_child(launch: Launch, report: int) -> Callable[[], None]:
    """The full mode's child steps, each timed in the child and written to `report`."""
    from agent.sandbox import mounts, syscalls

    plan, ruleset, group = launch.mounts, launch.ruleset, launch.cgroup
    assert plan is not None and ruleset is not None and group is not None

    def child() -> None:
        marks = [time.perf_counter()]
        group.join()
        marks.append(time.perf_counter())
        syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWCGROUP)
        marks.append(time.perf_counter())
        syscalls.mount(None, b"/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)
        marks.append(time.perf_counter())
        for target in plan.targets:
            syscalls.mount(b"tmpfs", target.path, b"tmpfs", mounts.TMPFS_FLAGS, mounts.TMPFS_OPTIONS)
        marks.append(time.perf_counter())
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        ruleset.restrict_self()
        marks.append(time.perf_counter())
        os.write(report, " ".join(f"{(b - a) * 1000:.4f}" for a, b in itertools.pairwise(marks)).encode())

    return child


def steps(hide: list[Path], rounds: int = 20) -> dict[str, list[float]]:
    """Each step of the full mode, timed where it runs."""
    found: dict[str, list[float]] = {
        k: []
        for k in (
            "plan (agent CPU)",
            "join cgroup",
            "unshare",
            "make / private",
            "tmpfs mounts",
            "landlock",
            "cgroup.kill",
            "populated 0",
            "rmdir",
        )
    }
    read_end, write_end = os.pipe()
    for _ in range(rounds):
        cpu = time.process_time()
        launch = prepare(hide)
        found["plan (agent CPU)"].append((time.process_time() - cpu) * 1000)
        group = launch.cgroup
        assert group is not None

        subprocess.run(
            ["/bin/true"], preexec_fn=_timed_child(launch, write_end), pass_fds=(write_end,), check=True
        )
        launch.started()
        for name, value in zip(list(found)[1:6], os.read(read_end, 4096).split(), strict=True):
            found[name].append(float(value))
        start = time.perf_counter()
        group.kill()
        killed = time.perf_counter()
        group.wait_empty(2)
        emptied = time.perf_counter()
        group.remove()
        for name, (a, b) in zip(
            ("cgroup.kill", "populated 0", "rmdir"),
            itertools.pairwise((start, killed, emptied, time.perf_counter())),
            strict=True,
        ):
            found[name].append((b - a) * 1000)
    os.close(read_end)
    os.close(write_end)
    return found


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
        by_step = steps(hide)
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
    print(
        "steps of namespace+landlock (medians, ms): "
        + ", ".join(f"{name} {statistics.median(values):.2f}" for name, values in by_step.items())
    )
    print(f"load average: {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    subprocess.run(["/bin/true"], check=True)  # warm the page cache
    main()
