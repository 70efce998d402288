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
    size = status["folders"][0]["size"]
    assert status["folders"] == [{"name": "照片", "state": "closed", "size": size, "damaged": 0}]
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


def test_options_work_before_and_after_the_action(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"RME_VAULT_PASSPHRASE": PASSPHRASE}
    made = rme_agent("--data-dir", data, "init", "--kdf-memory-kib", "8192", "--kdf-iterations", "1", **env)
    assert made.returncode == 0, made.stderr
    before = rme_agent("--data-dir", data, "--lang", "zh-CN", "status")
    assert before.returncode == 0 and "保险箱是空的" in before.stdout, before.stderr
    after_wins = rme_agent("--lang", "zh-CN", "status", "--data-dir", data, "--lang", "en")
    assert after_wins.returncode == 0 and "The vault is empty" in after_wins.stdout


def test_passphrase_options_only_where_a_passphrase_is_asked(tmp_path: Path) -> None:
    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE)
    for action in ("close", "status", "list"):
        done = vault_cli(action, "--data-dir", tmp_path / "d", "--passphrase-file", passfile)
        assert done.returncode == 2 and "unrecognized arguments: --passphrase-file" in done.stderr
    assert "--passphrase-file" not in vault_cli("add", "--help").stdout
    for action in ("open", "remove", "init", "passwd"):
        shown = vault_cli(action, "--help").stdout
        assert "--passphrase-file" in shown and "RME_VAULT_PASSPHRASE" in shown


def test_without_a_terminal_the_error_names_both_ways_to_give_the_passphrase(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for lang in ("en", "zh-CN"):
        done = vault_cli("init", "--data-dir", tmp_path / "d", "--lang", lang)
        assert done.returncode == 1
        assert "--passphrase-file" in done.stderr and "RME_VAULT_PASSPHRASE" in done.stderr


def test_reading_an_empty_data_dir_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nothing-here"
    for args in (("status",), ("status", "--json"), ("list",), ("close",), ("open",)):
        vault_cli(*args, "--data-dir", data, env={"RME_VAULT_PASSPHRASE": PASSPHRASE})
        assert not data.exists(), args


def test_an_open_that_met_damaged_files_says_so(setup: tuple[Path, Path, Path]) -> None:
    home, data, passfile = setup
    photos = home / "Photos"
    assert rme_agent("add", photos, "--data-dir", data).returncode == 0
    status = json.loads(rme_agent("status", "--json", "--data-dir", data).stdout)
    whole = status["folders"][0]["size"]
    [gen] = (data / "vault" / "store").iterdir()
    biggest = max(
        (p for p in gen.iterdir() if p.name not in ("key", "manifest")), key=lambda p: p.stat().st_size
    )
    raw = bytearray(biggest.read_bytes())
    raw[200] ^= 1
    biggest.write_bytes(bytes(raw))
    opened = rme_agent("open", "--data-dir", data, "--passphrase-file", passfile)
    assert opened.returncode == 1 and "is open:" not in opened.stdout
    assert "damaged files could not be decrypted" in opened.stderr, opened.stderr
    listed = rme_agent("status", "--data-dir", data, lang="zh-CN")
    assert "个文件损坏缺失" in listed.stdout
    folder = json.loads(rme_agent("status", "--json", "--data-dir", data).stdout)["folders"][0]
    assert folder["damaged"] >= 1 and folder["size"] < whole
