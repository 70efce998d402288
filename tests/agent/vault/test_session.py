"""The contract issue 5's session machinery calls: auto-close, refusal to open, status for the panel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.vault import SessionActive, Vault
from tests.agent.vault.helpers import (
    PASSPHRASE,
    fast_vault,
    files_with_marker,
    make_tree,
    snapshot,
    vault_cli,
)


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Vault, Path, Path]:
    home = tmp_path / "home"
    home.mkdir()
    make_tree(home / "Private", big=100_000)
    (home / "Taxes").mkdir()
    (home / "Taxes" / "2025.pdf").write_bytes(b"RME-PLAINTEXT-MARKER tax")
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "Private")
    vault.add(home / "Taxes")
    return vault, home, tmp_path / "data"


def test_begin_session_closes_every_open_folder_and_locks(scene: tuple[Vault, Path, Path]) -> None:
    vault, home, data = scene
    vault.open(PASSPHRASE)
    expected = snapshot(home / "Private")
    assert (home / "Private").exists() and (home / "Taxes").exists()
    closed = vault.begin_session()
    assert sorted(closed) == ["Private", "Taxes"]
    # The folders vanished and no plaintext is left anywhere.
    assert not (home / "Private").exists() and not (home / "Taxes").exists()
    assert files_with_marker(home) == [] and files_with_marker(data) == []
    assert vault.session_active()
    with pytest.raises(SessionActive) as caught:
        vault.open(PASSPHRASE)
    assert "session" in caught.value.message("en") and "会话" in caught.value.message("zh-CN")
    with pytest.raises(SessionActive):
        vault.remove(PASSPHRASE, "Private")
    vault.end_session()
    assert not vault.session_active()
    vault.open(PASSPHRASE, "Private")
    assert snapshot(home / "Private") == expected


def test_the_user_cannot_open_from_the_cli_during_a_session(scene: tuple[Vault, Path, Path]) -> None:
    vault, home, data = scene
    vault.begin_session()  # this test process owns the session
    done = vault_cli("open", "--data-dir", data, env={"RME_VAULT_PASSPHRASE": PASSPHRASE})
    assert done.returncode == 1 and "session is active" in done.stderr
    zh = vault_cli("open", "--data-dir", data, "--lang", "zh-CN", env={"RME_VAULT_PASSPHRASE": PASSPHRASE})
    assert zh.returncode == 1 and "会话" in zh.stderr
    assert not (home / "Private").exists()
    status = vault_cli("status", "--json", "--data-dir", data)
    assert json.loads(status.stdout)["session_active"] is True
    vault.end_session()


def test_lock_of_a_dead_session_owner_is_stale(scene: tuple[Vault, Path, Path]) -> None:
    """The session lock survives the agent; it lapses only when its owning process is gone."""
    vault, home, data = scene
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        Vault(data).begin_session(owner_pid=owner.pid)
        assert Vault(data).session_active()
        with pytest.raises(SessionActive):
            Vault(data).open(PASSPHRASE)
    finally:
        owner.kill()
        owner.wait()
    assert not vault.session_active()
    vault.open(PASSPHRASE)
    assert (home / "Taxes" / "2025.pdf").exists()


def test_begin_session_with_nothing_open_and_no_vault(
    tmp_path: Path, scene: tuple[Vault, Path, Path]
) -> None:
    vault, _home, _data = scene
    assert vault.begin_session() == []
    vault.end_session()
    bare = Vault(tmp_path / "no-vault")
    assert bare.begin_session() == [] and bare.session_active()
    bare.end_session()


def test_add_during_a_session_is_allowed_and_closes_at_once(scene: tuple[Vault, Path, Path]) -> None:
    vault, home, _data = scene
    vault.begin_session()
    (home / "Late").mkdir()
    (home / "Late" / "x").write_bytes(b"RME-PLAINTEXT-MARKER late")
    vault.add(home / "Late")
    assert not (home / "Late").exists()
    vault.end_session()


def test_status_shows_only_names_states_and_sizes(scene: tuple[Vault, Path, Path]) -> None:
    vault, _home, _data = scene
    status = vault.status().to_json()
    assert status["initialized"] is True and status["session_active"] is False and status["busy"] is False
    assert [set(f) for f in status["folders"]] == [{"name", "state", "size", "damaged"}] * 2
    taxes = next(f for f in status["folders"] if f["name"] == "Taxes")
    size = len(b"RME-PLAINTEXT-MARKER tax")
    assert taxes == {"name": "Taxes", "state": "closed", "size": size, "damaged": 0}
    text = json.dumps(status, ensure_ascii=False)
    assert "2025.pdf" not in text and "日记" not in text and "home" not in text


def test_status_never_waits_for_a_running_operation(scene: tuple[Vault, Path, Path]) -> None:
    from agent.vault.lock import operation_lock

    vault, _home, data = scene
    with operation_lock(data / "vault" / "lock"):  # as if a long close were running
        status = vault.status()
    assert status.busy and [f.name for f in status.folders] == ["Private", "Taxes"]


def test_the_lock_lives_in_the_session_owner_not_in_the_file(scene: tuple[Vault, Path, Path]) -> None:
    """A consented `rm` of the lock file does not lift it: the process holding the session refuses."""
    vault, home, data = scene
    vault.begin_session()
    (data / "vault" / "session.json").unlink()
    with pytest.raises(SessionActive):
        vault.open(PASSPHRASE)
    with pytest.raises(SessionActive):
        vault.remove(PASSPHRASE, "Private")
    assert vault.session_active() and vault.status().session_active
    # Another process (here another Vault object, no agent to ask): the holder's beacon (Linux).
    if sys.platform.startswith("linux"):
        with pytest.raises(SessionActive):
            Vault(data).open(PASSPHRASE)
    assert not (home / "Private").exists()
    vault.end_session()
    vault.open(PASSPHRASE, "Taxes")
    assert (home / "Taxes" / "2025.pdf").exists()


def test_another_process_asks_the_running_agent(scene: tuple[Vault, Path, Path]) -> None:
    """The probe is the running agent's word; None (no agent) falls back to the file."""
    from agent.vault.errors import AgentSilent

    _vault, home, data = scene
    with pytest.raises(SessionActive):
        Vault(data, session_probe=lambda: True).open(PASSPHRASE)

    def silent() -> bool | None:
        raise AgentSilent()

    with pytest.raises(AgentSilent) as caught:
        Vault(data, session_probe=silent).open(PASSPHRASE)
    assert "did not answer" in caught.value.message("en") and "没有回答" in caught.value.message("zh-CN")
    assert Vault(data, session_probe=silent).status().session_active  # shown as locked: the safe side
    assert not (home / "Private").exists()
    Vault(data, session_probe=lambda: None).open(PASSPHRASE, "Taxes")
    assert (home / "Taxes" / "2025.pdf").exists()


def test_a_failed_begin_lifts_the_lock_again(scene: tuple[Vault, Path, Path]) -> None:
    vault, _home, data = scene
    (data / "vault" / "vault.json").write_bytes(b'{"format": 2, "key"')
    from agent.vault import MetadataDamaged

    with pytest.raises(MetadataDamaged):
        vault.begin_session()
    assert not vault.session_active() and not (data / "vault" / "session.json").exists()
