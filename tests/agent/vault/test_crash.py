"""SIGKILL at every step of add, open, close and remove, then recovery: nothing lost, no plaintext left.

The real CLI runs as its own process (`python -m agent.cli vault`, the same code as `rme-agent vault`) with
`RME_VAULT_CRASH_AT=<point>:<n>`, which makes it SIGKILL itself the n-th time it reaches that point. The
next command (here `vault status`) recovers. We then check every byte of every file, that no plaintext
is left anywhere (every test file starts with a marker we scan for), and that no temporary sibling
folder remains.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.vault import Vault
from agent.vault.metadata import Layout
from tests.agent.vault.helpers import (
    PASSPHRASE,
    ROOT,
    fast_vault,
    files_with_marker,
    make_tree,
    snapshot,
    vault_cli,
)

ADD_CLOSE_POINTS = [
    "journal.tmp_written:1",
    "close.journal",
    "close.quarantined",
    "stream.chunk:1",
    "stream.chunk:4",
    "close.blob:1",
    "close.file:5",
    "close.blob:2",
    "close.synced",
    "close.verified",
    "meta.tmp_written",
    "close.committed",
    "close.remove_plain:1",
    "close.remove_plain:6",
    "close.done",
]
OPEN_POINTS = [
    "journal.tmp_written:1",
    "open.journal",
    "open.file:1",
    "open.file:4",
    "journal.tmp_written:2",
    "open.staged",
    "open.renamed",
    "meta.tmp_written",
    "open.committed",
    "open.remove_cipher:1",
    "open.remove_cipher:3",
]
REMOVE_POINTS = [
    "open.file:2",
    "open.staged",
    "open.renamed",
    "meta.tmp_written",
    "open.committed",
    "open.remove_cipher:2",
]


class Scene:
    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.private = self.home / "Private"
        self.data = tmp_path / "data"
        self.outside = tmp_path / "outside.txt"
        self.outside.write_bytes(b"outside")
        make_tree(self.private, outside=self.outside)
        self.expected = snapshot(self.private)
        self.passfile = tmp_path / "pass"
        self.passfile.write_text(PASSPHRASE, encoding="utf-8")
        self.vault = fast_vault(self.data)

    def crash(self, point: str, *args: str) -> None:
        done = vault_cli(
            *args,
            "--data-dir",
            self.data,
            "--passphrase-file",
            self.passfile,
            env={"RME_VAULT_CRASH_AT": point},
        )
        assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stdout, done.stderr)

    def recover(self) -> None:
        done = vault_cli("status", "--data-dir", self.data)
        assert done.returncode == 0, done.stderr

    def state(self) -> str | None:
        meta = Layout(self.data).load()
        assert meta is not None
        folder = meta.by_name("Private")
        return None if folder is None else folder.state

    def check_consistent(self) -> None:
        """After recovery: exactly one of 'plaintext in place' or 'closed', nothing half-done."""
        assert Layout(self.data).journal.exists() is False
        leftovers = [p.name for p in self.home.iterdir() if p.name.startswith(".rme-vault-")]
        assert leftovers == []
        assert files_with_marker(self.data) == []
        assert self.outside.read_bytes() == b"outside"
        state = self.state()
        if state == "closed":
            assert not self.private.exists() and files_with_marker(self.home) == []
        else:
            assert snapshot(self.private) == self.expected
        meta = Layout(self.data).load()
        assert meta is not None
        store = {p.name for p in (self.data / "vault" / "store").iterdir()}
        assert store == meta.referenced_generations()

    def check_every_byte(self) -> None:
        if self.state() == "closed":
            self.vault.open(PASSPHRASE)
        assert snapshot(self.private) == self.expected


@pytest.mark.parametrize("point", ADD_CLOSE_POINTS)
def test_sigkill_during_add(tmp_path: Path, point: str) -> None:
    scene = Scene(tmp_path)
    scene.crash(point, "add", str(scene.private))
    scene.recover()
    scene.check_consistent()
    committed = point in ("close.committed", "close.remove_plain:1", "close.remove_plain:6", "close.done")
    assert scene.state() == ("closed" if committed else None)
    scene.check_every_byte()


@pytest.mark.parametrize("point", ADD_CLOSE_POINTS)
def test_sigkill_during_close(tmp_path: Path, point: str) -> None:
    scene = Scene(tmp_path)
    scene.vault.add(scene.private)
    scene.vault.open(PASSPHRASE)
    scene.crash(point, "close")
    scene.recover()
    scene.check_consistent()
    scene.check_every_byte()


@pytest.mark.parametrize("point", OPEN_POINTS)
def test_sigkill_during_open(tmp_path: Path, point: str) -> None:
    scene = Scene(tmp_path)
    scene.vault.add(scene.private)
    scene.crash(point, "open")
    scene.recover()
    scene.check_consistent()
    rolled_forward = point in (
        "open.renamed",
        "meta.tmp_written",
        "open.committed",
        "open.remove_cipher:1",
        "open.remove_cipher:3",
    )
    if point != "meta.tmp_written":
        assert scene.state() == ("open" if rolled_forward else "closed")
    scene.check_every_byte()


@pytest.mark.parametrize("point", REMOVE_POINTS)
def test_sigkill_during_remove(tmp_path: Path, point: str) -> None:
    scene = Scene(tmp_path)
    scene.vault.add(scene.private)
    scene.crash(point, "remove", "Private")
    scene.recover()
    scene.check_consistent()
    assert scene.state() in (None, "closed")
    scene.check_every_byte()


def test_recovery_runs_from_any_command_and_the_api(tmp_path: Path) -> None:
    scene = Scene(tmp_path)
    scene.crash("close.blob:2", "add", str(scene.private))
    notes = Vault(scene.data).recover()
    assert any("interrupted" in note for note in notes)
    scene.check_consistent()
    assert scene.state() is None


def test_sigkill_after_random_delays(tmp_path: Path) -> None:
    """Not at a named point: kill the real process from outside at random moments, several times."""
    scene = Scene(tmp_path)
    # A bigger tree so the kill lands inside the work, not before or after it.
    (scene.private / "more").mkdir()
    for i in range(3):
        (scene.private / "more" / f"chunky{i}").write_bytes(b"RME-PLAINTEXT-MARKER" + bytes(8_000_000))
    scene.expected = snapshot(scene.private)
    scene.vault.add(scene.private)
    rng = random.Random(7)
    for _ in range(6):
        command = "open" if scene.state() == "closed" else "close"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "vault",
                command,
                "--data-dir",
                str(scene.data),
                "--passphrase-file",
                str(scene.passfile),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.25 + rng.random() * 0.35)  # interpreter start-up is ~0.2 s
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        scene.recover()
        scene.check_consistent()
    scene.check_every_byte()
