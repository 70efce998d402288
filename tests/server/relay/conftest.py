"""Servers of the relay tests with their own settings (each on its own SQLite file: these are timers,
not storage): the engineer's grace period short (`grace_server`), or off (`no_grace_server`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.helpers import RunningServer, running_server

GRACE_S = 2.0


def _server(folder: Path, **settings: str) -> Iterator[RunningServer]:
    with running_server(folder, f"sqlite+aiosqlite:///{folder / 'rme.db'}", **settings) as server:
        yield server


@pytest.fixture(scope="session")
def grace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A session waits `GRACE_S` seconds for its engineer's console to come back."""
    yield from _server(tmp_path_factory.mktemp("grace"), engineer_grace=str(GRACE_S))


@pytest.fixture(scope="session")
def no_grace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`engineer_grace = 0`: a session ends as soon as its engineer's console connection closes."""
    yield from _server(tmp_path_factory.mktemp("no-grace"), engineer_grace="0")
