"""The agent's data directory is 0700 and its session logs 0600: made so, and repaired at start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import AgentRuntime
from agent.datadir import make_private
from agent.i18n import Text
from agent.session.feed import FeedEntry, UserLog
from tests.agent.session.harness import agent_config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The usual desktop umask (022), under which a plain mkdir or open gives 0755 / 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_data_directory_is_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "new" / "rme"
    assert make_private(data) == []
    assert mode(data) == 0o700


def test_a_loose_directory_and_its_logs_are_repaired(tmp_path: Path) -> None:
    data = tmp_path / "rme"
    (data / "logs").mkdir(parents=True)
    data.chmod(0o755)
    log = data / "logs" / "rme-2026-11-30.log"
    log.write_text("2026-11-30 10:00:00  [command]  cat ~/Documents/x\n")
    log.chmod(0o644)
    private = data / "logs" / "rme-2026-11-29.log"
    private.write_text("")
    private.chmod(0o600)
    assert make_private(data) == [data, data / "logs", log]
    assert (mode(data), mode(data / "logs"), mode(log), mode(private)) == (0o700, 0o700, 0o600, 0o600)
    assert make_private(data) == []  # nothing left to repair


def test_session_logs_are_created_owner_only(tmp_path: Path) -> None:
    log = UserLog(tmp_path / "logs", "en")
    log.write(FeedEntry(1, 1764500000.0, "command", Text("命令", "ran: cat secret.txt"), "output"))
    (written,) = (tmp_path / "logs").iterdir()
    assert "ran: cat secret.txt" in written.read_text()
    assert mode(written) == 0o600 and mode(tmp_path / "logs") == 0o700


def test_the_agent_repairs_its_data_directory_at_start_and_says_so(tmp_path: Path) -> None:
    config = agent_config(tmp_path, None)
    (config.data_dir / "logs").mkdir(parents=True)
    config.data_dir.chmod(0o755)
    runtime = AgentRuntime(config)
    assert mode(config.data_dir) == 0o700
    (entry,) = [e for e in runtime.feed.entries if "data folder" in e.text.en]
    assert str(config.data_dir) in entry.text.en and str(config.data_dir) in entry.text.zh
