"""The fault lab as a fixture: one topology per test session, reset to healthy before each use."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.lab.netlab import FaultLab, available


def require_lab() -> None:
    """Skip where the lab cannot run — except in CI, where a missing tool is a failure."""
    reason = available()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    require_lab()
    with FaultLab(tmp_path_factory.mktemp("faultlab")) as lab:
        yield lab


@pytest.fixture
def lab(lab_session: FaultLab) -> FaultLab:
    lab_session.reset()
    return lab_session
