"""A damaged vault.json: a clear error in both languages from every entry point, never a traceback, and
nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.vault import MetadataDamaged, Vault
from agent.vault.metadata import Layout
from tests.agent.vault.helpers import PASSPHRASE, fast_vault, vault_cli

DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda raw: raw[: len(raw) // 2],
    "not_json": lambda raw: b"\x00\xff garbage",
    "a_list": lambda raw: b"[1, 2]",
    "no_key": lambda raw: json.dumps({"format": 2, "folders": []}).encode(),
    "bad_folder": lambda raw: json.dumps({**json.loads(raw), "folders": [{"name": "x"}]}).encode(),
}


def damage(tmp_path: Path, kind: str) -> Path:
    home = tmp_path / "home" / "Private"
    home.mkdir(parents=True)
    (home / "f").write_bytes(b"keep me")
    data = tmp_path / "data"
    fast_vault(data).add(home)
    meta = data / "vault" / "vault.json"
    meta.write_bytes(DAMAGE[kind](meta.read_bytes()))
    return data


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_every_entry_point_says_the_record_is_damaged(tmp_path: Path, kind: str) -> None:
    damaged = damage(tmp_path, kind)
    meta = damaged / "vault" / "vault.json"
    before = meta.read_bytes()
    with pytest.raises(MetadataDamaged) as caught:
        Layout(damaged).load()
    assert str(meta) in caught.value.message("en") and "damaged" in caught.value.message("en")
    assert "已损坏" in caught.value.message("zh-CN")
    vault = Vault(damaged)
    status = vault.status()  # never raises: the panel and the session show it
    assert status.damaged is not None and status.to_json()["damaged"] is True
    assert set(status.to_json()["message"]) == {"zh-CN", "en"}
    for step in (lambda: vault.open(PASSPHRASE), vault.close, vault.folders, vault.begin_session):
        with pytest.raises(MetadataDamaged):
            step()
    assert not vault.session_active()
    assert meta.read_bytes() == before


def test_the_cli_gives_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    damaged = damage(tmp_path, "truncated")
    env = {"RME_VAULT_PASSPHRASE": PASSPHRASE}
    for args, lang, words in (
        (("status",), "en", "is damaged"),
        (("status", "--json"), "en", ""),
        (("open",), "en", "is damaged"),
        (("list",), "zh-CN", "已损坏"),
        (("close",), "zh-CN", "已损坏"),
    ):
        done = vault_cli(*args, "--data-dir", damaged, "--lang", lang, env=env)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert words in done.stderr
    doc = json.loads(vault_cli("status", "--json", "--data-dir", damaged).stdout)
    assert doc["damaged"] is True and doc["initialized"] is True
