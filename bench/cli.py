"""Start-up time of the two command lines, against `python -c pass` in the same run.

Targets (issue 12): `rme-agent --help` and `rme-server --help` < 0.3 s; a database command
(`rme-server user list` on a migrated SQLite database) < 1 s. Each command runs RME_BENCH_RUNS times
(default 7) as its own process; we print the median and fastest wall time and the median CPU time (user +
system). The anchor is the bare interpreter (`python -c pass`): on a loaded machine everything is slower,
and the anchor shows by how much; the CPU time is what the command itself costs.

`python -m bench.cli`. Also prints the heaviest imports of each command (`-X importtime`, cumulative).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time, and CPU time (user + system) of the child: on a shared machine the wall time mostly
    measures the wait for a core, the CPU time what the command itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _heaviest(argv: list[str], env: dict[str, str], most: int = 3) -> str:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True, check=True
    )
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            rows.append((int(parts[1]), parts[2].strip()))
    rows.sort(reverse=True)
    return ", ".join(f"{name} {us / 1e6:.2f} s" for us, name in rows[:most])


def main() -> None:
    runs = int(os.environ.get("RME_BENCH_RUNS", "7"))
    with tempfile.TemporaryDirectory(prefix="rme-bench-cli-") as tmp:
        data = Path(tmp) / "server"
        env = {**os.environ, "RME_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'rme.db'}"}
        subprocess.run([str(BIN / "rme-server"), "migrate", "--data-dir", str(data)], env=env, check=True)
        cases = {
            "python -c pass (anchor)": [sys.executable, "-c", "pass"],
            "rme-agent --help": [sys.executable, "-m", "agent.cli", "--help"],
            "rme-server --help": [sys.executable, "-m", "server.cli", "--help"],
            "rme-server user list": [
                sys.executable,
                "-m",
                "server.cli",
                "user",
                "list",
                "--data-dir",
                str(data),
            ],
        }
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'command':<28} {'wall median':>11} {'fastest':>8} {'CPU median':>11}   heaviest imports")
        for name, argv in cases.items():
            runs_ = [_run(argv, env) for _ in range(runs)]
            wall = [w for w, _ in runs_]
            cpu = statistics.median(c for _, c in runs_)
            heavy = _heaviest(argv[1:], env) if argv[1] == "-m" else ""
            print(f"{name:<28} {statistics.median(wall):>10.3f}s {min(wall):>7.3f}s {cpu:>10.3f}s   {heavy}")


if __name__ == "__main__":
    main()
