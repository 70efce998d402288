"""One real `rme-server serve --ssh-port` and one real `rme-agent run` for the SSH gateway's tests (each costs
seconds to start); the engineer's key is registered once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RealAgent, real_agent
from tests.server.ssh.harness import ENGINEER, SshServer, ssh_server


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with ssh_server(Path(tmp_path_factory.mktemp("ssh"))) as running:
        yield running


@pytest.fixture(scope="package")
def key(server: SshServer) -> Path:
    """The engineer's registered key."""
    path = server.keygen("engineer_key")
    server.admin("user", "add-key", ENGINEER, f"{path}.pub")
    return path


@pytest.fixture(scope="package")
def agent(server: SshServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAgent]:
    with real_agent(Path(tmp_path_factory.mktemp("ssh-agent")), server) as running:
        yield running
