"""`bench.soak`, short: 300 agents churning (2 a second), asking for help (1 a second) and holding
sessions an engineer takes, for `RME_SOAK_TEST_S` seconds (90 by default: the suite's time budget; the
full 30 minutes run in `make bench`); the server's memory after warm-up grows less than 5 %."""

from __future__ import annotations

import os
from pathlib import Path

from bench._swarm import raise_nofile
from bench.soak import soak
from tests.server.helpers import running_server

SECONDS = float(os.environ.get("RME_SOAK_TEST_S", "90"))


async def test_soak_memory_stays_flat(tmp_path: Path) -> None:
    raise_nofile()
    url = f"sqlite+aiosqlite:///{tmp_path / 'server' / 'rme.db'}"
    with running_server(tmp_path / "server", url) as server:
        result = await soak(server, tmp_path, 300, SECONDS)
    print(result.line())
    assert result.churned > 0 and result.helps > 0
    assert result.sessions_ended > 0, "no session ran to its end"
    assert result.growth < 0.05, result.line()
