"""One real `rme-server` for all end-to-end tests (starting one costs seconds); agents are fresh per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RealServer, real_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    with real_server(Path(tmp_path_factory.mktemp("e2e"))) as running:
        yield running
