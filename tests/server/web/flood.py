"""A login flood from a separate process: `python -m tests.server.web.flood BASE_URL CA_PATH CLIENTS`
runs CLIENTS threads, each failing logins as fast as the server answers, until it gets SIGTERM; then
it prints one JSON line: how many answers of each status it got. `Flood` starts and stops it. Used
by the kill-switch-under-flood test and by `bench.console`."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]


class Flood:
    """The flood running in its own process against `base` (trusting `ca`)."""

    def __init__(self, base: str, ca: Path, clients: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.server.web.flood", base, str(ca), str(clients)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "flooding":
            self.process.kill()
            raise RuntimeError("the login flood did not start")

    def stop(self) -> dict[str, int]:
        """Stop it; how many answers of each HTTP status (or client error) it got."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=120)
        counts: dict[str, int] = json.loads(out.strip().splitlines()[-1])
        return counts


def main(base: str, ca: str, clients: int) -> None:
    stop = threading.Event()
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def flood(i: int) -> None:
        with httpx.Client(base_url=base, verify=ca, headers={"Origin": base}, timeout=30) as http:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    code = str(
                        http.post(
                            "/api/auth/login",
                            json={"username": f"root-admin{i % 2 or ''}", "password": f"guess {n}"},
                        ).status_code
                    )
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                with lock:
                    counts[code] += 1

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    print("flooding", flush=True)
    stop.wait()
    for t in threads:
        t.join(timeout=30)
    print(json.dumps(dict(counts)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
