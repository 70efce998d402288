"""`rme-agent vault …` as a person uses it: the real installed command, in both languages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.vault.helpers import PASSPHRASE, make_tree, snapshot, vault_cli

RME_AGENT = Path(sys.executable).parent / "rme-agent"


def rme_agent(*args: str | Path, lang: str = "en", **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("RME_VAULT")}
    return subprocess.run(
        [str(RME_AGENT), "vault", *map(str, args)],
        capture_output=True,
        text=True,
        env={**inherited, "RME_LANG": lang, **env},
        timeout=120,
        check=False,
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    make_tree(home / "Photos", big=50_000)
    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE + "\n", encoding="utf-8")
    done = rme_agent(
        "init",
        "--data-dir",
        data,
        "--passphrase-file",
        passfile,
        "--kdf-memory-kib",
        "8192",
        "--kdf-iterations",
        "1",
    )
    assert done.returncode == 0 and "Vault created" in done.stdout, done.stderr
    return home, data, passfile


def test_protect_watch_it_vanish_and_get_every_byte_back(setup: tuple[Path, Path, Path]) -> None:
    home, data, passfile = setup
    before = snapshot(home / "Photos")
    added = rme_agent("add", home / "Photos", "--name", "照片", "--data-dir", data)
    assert added.returncode == 0 and "照片" in added.stdout, added.stderr
    assert not (home / "Photos").exists()
    listed = rme_agent("list", "--data-dir", data, lang="zh-CN")
    assert "照片\t已加密" in listed.stdout and str(home / "Photos") in listed.stdout
    status = json.loads(rme_agent("status", "--json", "--data-dir", data).stdout)
    assert status["folders"] == [{"name": "照片", "state": "closed", "size": status["folders"][0]["size"]}]
    wrong = rme_agent("open", "--data-dir", data, lang="zh-CN", RME_VAULT_PASSPHRASE="wrong passphrase")
    assert wrong.returncode == 1 and "口令不对" in wrong.stderr and not (home / "Photos").exists()
    opened = rme_agent("open", "照片", "--data-dir", data, "--passphrase-file", passfile)
    assert opened.returncode == 0 and "is open" in opened.stdout
    assert snapshot(home / "Photos") == before
    closed = rme_agent("close", "--data-dir", data, lang="zh-CN")
    assert closed.returncode == 0 and "已加密并隐藏" in closed.stdout and not (home / "Photos").exists()
    removed = rme_agent("remove", "照片", "--data-dir", data, RME_VAULT_PASSPHRASE=PASSPHRASE)
    assert removed.returncode == 0 and "normal folder again" in removed.stdout
    assert snapshot(home / "Photos") == before
    assert "empty" in rme_agent("status", "--data-dir", data).stdout


def test_passwd_and_errors(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    home, data, passfile = setup
    assert rme_agent("add", home / "Photos", "--data-dir", data).returncode == 0
    newfile = tmp_path / "new"
    newfile.write_text("another passphrase 2", encoding="utf-8")
    short = tmp_path / "short"
    short.write_text("abc", encoding="utf-8")
    too_short = rme_agent(
        "passwd", "--data-dir", data, "--passphrase-file", passfile, "--new-passphrase-file", short
    )
    assert too_short.returncode == 1 and "at least 8" in too_short.stderr
    changed = rme_agent(
        "passwd",
        "--data-dir",
        data,
        "--passphrase-file",
        passfile,
        "--new-passphrase-file",
        newfile,
        "--kdf-memory-kib",
        "16384",
    )
    assert changed.returncode == 0 and "re-wrapped" in changed.stdout, changed.stderr
    assert rme_agent("open", "--data-dir", data, "--passphrase-file", passfile).returncode == 1
    assert rme_agent("open", "--data-dir", data, "--passphrase-file", newfile).returncode == 0
    unknown = rme_agent("open", "Nope", "--data-dir", data, "--passphrase-file", newfile, lang="zh-CN")
    assert unknown.returncode == 1 and "Nope" in unknown.stderr
    again = rme_agent("init", "--data-dir", data, "--passphrase-file", newfile)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_no_vault_and_no_terminal(tmp_path: Path) -> None:
    missing = vault_cli("open", "--data-dir", tmp_path / "none")
    assert missing.returncode == 1 and "vault init" in missing.stderr
    assert "No vault yet" in vault_cli("status", "--data-dir", tmp_path / "none").stdout
    (tmp_path / "d").mkdir()
    no_tty = vault_cli("init", "--data-dir", tmp_path / "d")
    assert no_tty.returncode == 1 and "--passphrase-file" in no_tty.stderr


def test_default_data_dir_follows_xdg(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "RME_VAULT_PASSPHRASE": PASSPHRASE}
    done = vault_cli("init", "--kdf-memory-kib", "8192", env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "xdg" / "rme" / "vault" / "vault.json").exists()
