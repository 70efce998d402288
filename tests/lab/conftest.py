"""The fault lab as a fixture: one topology per test session, reset to healthy before each use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.netlab import FaultLab, require_lab


@pytest.fixture(scope="session")
def lab_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    require_lab()
    with FaultLab(tmp_path_factory.mktemp("faultlab")) as lab:
        yield lab


@pytest.fixture
def lab(lab_session: FaultLab) -> FaultLab:
    lab_session.reset()
    return lab_session
