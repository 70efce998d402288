"""Which engineer requests name a vault path: refused before the user is even asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.vault import Vault
from agent.vault.paths import candidates, touches
from tests.agent.vault.helpers import PASSPHRASE, fast_vault


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Vault, Path]:
    home = tmp_path / "home"
    (home / "Private").mkdir(parents=True)
    (home / "Private" / "notes.txt").write_bytes(b"x")
    (home / "My Private").mkdir()
    (home / "PrivateNot").mkdir()
    monkeypatch.setenv("HOME", str(home))
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "Private")
    vault.add(home / "My Private")
    return vault, home


REFUSED = [
    "cat Private/notes.txt",
    "cat ./Private/../Private/notes.txt",
    "cat {home}/Private",
    'cat "{home}/My Private/a b.txt"',
    "cat 'Pri''vate/notes.txt'",
    "cp /etc/hosts {home}/x/../Private/y",
    "tar czf /var/tmp/out.tgz {home}",
    "rm -rf ~",
    "rm -rf ~/",
    "cat $HOME/Private/a",
    "cat ${{HOME}}/Private/a",
    "curl -o x --output={home}/Private/out http://example.com",
    "gcc -o{home}/Private/out a.c",
    "echo hi > {home}/Private/x",
    "echo hi>>{home}/Private/x",
    "ls {home}/Pri*",
    "ls {home}/*/notes.txt",
    "find {home}/P?ivate -name x",
    "X=~/Private; cat $X/a",
    "true && cat Private/notes.txt",
    "cat {home}/My Private/a.txt",
    "cat {link}/notes.txt",
    "cat {data}/vault/vault.json",
    "rm -rf {data}",
    "ls .",
    "cd .. && ls home/Private",
    "cat {home}//Private///notes.txt",
    "sh -c 'cat Private/notes.txt'",
    "python3 -c \"open('{home}/Private/notes.txt').read()\"",
]

ALLOWED = [
    "ping 192.168.1.1",
    "nslookup example.com 223.5.5.5",
    "cat /etc/hosts",
    "ls /var/log",
    "cat {home}/PrivateNot/x",
    "cat {home}/other.txt",
    "ip route show",
    "ls PrivateNot",
]


@pytest.mark.parametrize("template", REFUSED)
def test_requests_naming_vault_paths_are_refused(
    env: tuple[Vault, Path], tmp_path: Path, template: str
) -> None:
    vault, home = env
    link = tmp_path / "innocent-looking"
    link.symlink_to(home / "Private")
    text = template.format(home=home, link=link, data=tmp_path / "data")
    assert vault.request_touches_vault(text, cwd=home), text


@pytest.mark.parametrize("template", ALLOWED)
def test_ordinary_requests_pass(env: tuple[Vault, Path], template: str) -> None:
    vault, home = env
    text = template.format(home=home)
    assert not vault.request_touches_vault(text, cwd=home), text


def test_working_inside_the_vault_refuses_everything(env: tuple[Vault, Path]) -> None:
    vault, home = env
    assert vault.request_touches_vault("ls", cwd=home / "Private" / "sub")


def test_closed_and_open_folders_are_both_protected(env: tuple[Vault, Path]) -> None:
    vault, home = env
    assert vault.request_touches_vault(f"cat {home}/Private/notes.txt", cwd=home)
    vault.open(PASSPHRASE, "Private")
    assert (home / "Private" / "notes.txt").exists()
    assert vault.request_touches_vault(f"cat {home}/Private/notes.txt", cwd=home)
    paths = vault.vault_paths()
    assert home / "Private" in paths and home / "My Private" in paths


def test_case_folding_follows_the_platform(env: tuple[Vault, Path]) -> None:
    vault, home = env
    text = f"cat {home}/PRIVATE/notes.txt"
    assert touches(text, vault.vault_paths(), cwd=home, fold=True)
    assert not touches(text, vault.vault_paths(), cwd=home, fold=False)


WIN_PROTECTED = [Path("C:/Users/me/Private")]
WIN_REFUSED = [
    r"type C:\Users\me\Private\a.txt",
    r'type "C:\Users\me\My Docs\..\Private\a.txt"',
    r"dir c:\users\ME\private",
    r"copy C:\Users\me\Private. D:\x",
    r"more < C:\Users\me\Private::$INDEX_ALLOCATION\a",
    r"type \\?\C:\Users\me\Private\a",
    r"type %USERPROFILE%\Private\a",
    r"Get-Content $env:USERPROFILE\Private\a",
    r"type Private\a.txt",
    r"xcopy C:/Users/me/Private D:/backup",
    r"robocopy C:\Users D:\b /E",
    r"dir \Users\me\Private",
    r"del /s /q C:\Users\me\Priv*",
]
WIN_ALLOWED = [
    r"ipconfig /all",
    "ping 192.168.1.1",
    r"type C:\Windows\win.ini",
    r"dir D:\Private",
    r"netsh interface ip set address name=Ethernet source=dhcp",
    r"type C:\Users\me\Privateer\x",
]


@pytest.mark.parametrize("text", WIN_REFUSED)
def test_windows_paths_refused(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERPROFILE", r"C:\Users\me")
    assert touches(text, WIN_PROTECTED, cwd=Path(r"C:\Users\me"), windows=True), text


@pytest.mark.parametrize("text", WIN_ALLOWED)
def test_windows_ordinary_requests_pass(text: str) -> None:
    assert not touches(text, WIN_PROTECTED, cwd=Path(r"C:\Users\me"), windows=True), text


def test_candidates_split_glued_options() -> None:
    found = candidates("cmd --out=/a/b -o/c/d x>/e;y|/f", windows=False)
    assert {"/a/b", "/c/d", "/e", "/f"} <= found
