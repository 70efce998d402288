"""`rme-agent vault …`: protect folders, open and close them, change the passphrase.

Passphrases come from a prompt, or for scripts and tests from `--passphrase-file` /
`RME_VAULT_PASSPHRASE` (and `--new-passphrase-file` / `RME_VAULT_NEW_PASSPHRASE` for `passwd`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.commands._common import config_from_args
from agent.config import ConfigError
from agent.i18n import Lang, Text, parse_lang, system_lang
from agent.vault import NotInitialized, SessionActive, Vault, VaultError
from agent.vault.errors import AgentSilent
from agent.vault.keys import DEFAULT_ITERATIONS, DEFAULT_MEMORY_KIB

T_PASS = Text("保险箱口令：", "Vault passphrase: ")
T_NEW = Text("新口令：", "New passphrase: ")
T_AGAIN = Text("再输一次新口令：", "New passphrase again: ")
T_MISMATCH = Text("两次输入的口令不一样", "The two passphrases differ")
T_SHORT = Text("口令至少要 8 个字符", "The passphrase must have at least 8 characters")
T_CREATED = Text("保险箱已创建：{path}", "Vault created: {path}")
T_ADDED = Text(
    "“{name}” 已加密并隐藏（{size}）；用 “rme-agent vault open {name}” 取回",
    "“{name}” is encrypted and hidden ({size}); get it back with “rme-agent vault open {name}”",
)
T_CLOSED = Text("“{name}” 已加密并隐藏", "“{name}” is encrypted and hidden")
T_NOTHING_OPEN = Text("没有打开的文件夹", "No folder is open")
T_OPENED = Text("“{name}” 已打开：{path}", "“{name}” is open: {path}")
T_OPENED_DAMAGED = Text(
    "“{name}” 已打开，但缺少 {count} 个已损坏、无法解密的文件（见下）：{path}",
    "“{name}” is open but {count} damaged files could not be decrypted and are missing (listed below): "
    "{path}",
)
T_REMOVE_DAMAGED = Text(
    "“{name}” 没有移出保险箱：{count} 个文件已损坏、无法解密（见下）；其余文件已打开：{path}",
    "“{name}” did not leave the vault: {count} files are damaged and could not be decrypted (listed "
    "below); the rest is open: {path}",
)
T_MISSING = Text("{count} 个文件损坏缺失", "{count} files missing (damaged)")
T_NOTHING_CLOSED = Text("没有需要打开的文件夹", "No folder to open")
T_REMOVED = Text(
    "“{name}” 已移出保险箱，恢复为普通文件夹：{path}",
    "“{name}” left the vault and is a normal folder again: {path}",
)
T_PASSWD = Text(
    "口令已更改（文件没有重新加密，只重新封装了密钥）",
    "Passphrase changed (only the key was re-wrapped; no file was re-encrypted)",
)
T_NONE = Text("还没有保险箱", "No vault yet")
T_EMPTY = Text("保险箱是空的", "The vault is empty")
T_SESSION_ON = Text("工程师会话进行中：保险箱已锁定", "An engineer session is active: the vault is locked")
T_STATE = {"open": Text("已打开", "open"), "closed": Text("已加密", "encrypted")}
T_OS_ERROR = Text(
    "文件操作失败：{error}（没有留下做了一半的步骤）",
    "A file operation failed: {error} (no step was left half-done)",
)
T_OS_ERROR_PENDING = Text(
    "文件操作失败：{error}（中断的步骤会在下次保险箱操作时完成或撤销，不会丢失文件）",
    "A file operation failed: {error} (the interrupted step is finished or undone at the next vault "
    "operation; no file is lost)",
)
T_NO_PASS = Text(
    "需要口令，但没有终端可以输入（请用 {option} 文件，或设置环境变量 {env}）",
    "A passphrase is needed but there is no terminal to type it (use {option} FILE, or set "
    "the environment variable {env})",
)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    """On `vault` (default None) and again on each action (default SUPPRESS: given there, it wins;
    not given, the value before the action stands), so options work before and after the action."""
    parser.add_argument("--data-dir", type=Path, default=default, help="where the agent keeps its state")
    parser.add_argument("--lang", choices=["zh-CN", "en"], default=default)


def _passphrase_option(parser: argparse.ArgumentParser) -> None:
    """Only on the actions that ask for a passphrase."""
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        default=None,
        help="read the passphrase from a file (or set RME_VAULT_PASSPHRASE)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("vault", help="privacy vault: encrypt and hide chosen folders")
    _common(parser, None)
    sub = parser.add_subparsers(dest="vault_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="create the vault (asks for a passphrase)")
    _kdf_options(init)
    add = sub.add_parser("add", help="encrypt a folder and hide it")
    add.add_argument("path", type=Path)
    add.add_argument("--name", default=None, help="the name shown for it (default: the folder's name)")
    sub.add_parser("list", help="the protected folders")
    open_ = sub.add_parser("open", help="decrypt folders back to their places")
    open_.add_argument("name", nargs="?", default=None)
    close = sub.add_parser("close", help="encrypt and hide every open folder")
    close.add_argument("name", nargs="?", default=None)
    remove = sub.add_parser("remove", help="take a folder out of the vault, back to plaintext for good")
    remove.add_argument("name")
    status = sub.add_parser("status", help="existence, names and sizes only")
    status.add_argument("--json", action="store_true")
    passwd = sub.add_parser("passwd", help="change the passphrase and/or strengthen the KDF")
    passwd.add_argument(
        "--new-passphrase-file", type=Path, default=None, help="or set RME_VAULT_NEW_PASSPHRASE"
    )
    _kdf_options(passwd)
    for action in (init, add, sub.choices["list"], open_, close, remove, status, passwd):
        _common(action, argparse.SUPPRESS)
    for action in (init, open_, remove, passwd):
        _passphrase_option(action)
    parser.set_defaults(handler=run)


def _kdf_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kdf-memory-kib",
        type=int,
        default=None,
        help=f"Argon2id memory in KiB (default {DEFAULT_MEMORY_KIB})",
    )
    parser.add_argument(
        "--kdf-iterations", type=int, default=None, help=f"Argon2id passes (default {DEFAULT_ITERATIONS})"
    )


class _Refused(Exception):
    def __init__(self, text: Text) -> None:
        self.text = text


def _read_secret(path: Path | None, env: str, prompt: Text, lang: Lang) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    if env in os.environ:
        return os.environ[env]
    if not sys.stdin.isatty():
        option = "--new-passphrase-file" if env.endswith("_NEW_PASSPHRASE") else "--passphrase-file"
        raise _Refused(Text(*(t.format(option=option, env=env) for t in T_NO_PASS)))
    return getpass.getpass(prompt.render(lang))


def _new_secret(args: argparse.Namespace, path: Path | None, env: str, lang: Lang) -> str:
    if path is None and env not in os.environ:
        first = _read_secret(None, env, T_NEW, lang)
        if first != _read_secret(None, env, T_AGAIN, lang):
            raise _Refused(T_MISMATCH)
    else:
        first = _read_secret(path, env, T_NEW, lang)
    if len(first) < 8:
        raise _Refused(T_SHORT)
    return first


def agent_probe(data_dir: Path) -> Callable[[], bool | None]:
    """Ask the agent running on this data dir whether a session is on (the lock lives there, not in a
    file a command could delete): True/False, None when no agent runs; AgentSilent if it does not answer.
    """

    def probe() -> bool | None:
        if not (data_dir / "panel.json").exists():
            return None  # no agent has announced itself: skip importing the HTTP client at all
        import httpx  # noqa: PLC0415 - only when a passphrase step or a status needs it

        from agent.panel.control import NoAgent, get  # noqa: PLC0415

        try:
            doc = get(data_dir, "/api/vault", timeout=5.0)
        except NoAgent:
            return None
        except httpx.ConnectError:
            return None  # panel.json left by an agent that is gone: nothing listens there
        except (httpx.HTTPError, ValueError):
            raise AgentSilent() from None
        return doc.get("session_active") is not False

    return probe


def run(args: argparse.Namespace) -> int:
    lang: Lang = parse_lang(args.lang) or system_lang()
    try:
        # The same data directory `rme-agent run` would use (flag, `RME_DATA_DIR`, agent.toml, default).
        data_dir = config_from_args(args).data_dir
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    vault = Vault(data_dir, lang=lang, session_probe=agent_probe(data_dir))
    try:
        return _dispatch(vault, args, lang)
    except VaultError as exc:
        _notes(vault)
        print(exc.message(lang), file=sys.stderr)
        return 1
    except _Refused as exc:
        print(exc.text.render(lang), file=sys.stderr)
        return 1
    except OSError as exc:
        _notes(vault)
        text = T_OS_ERROR_PENDING if vault.step_pending() else T_OS_ERROR
        print(text.render(lang, error=exc), file=sys.stderr)
        return 1


def _notes(vault: Vault) -> None:
    for note in vault.notes:
        print(note, file=sys.stderr)
    vault.notes.clear()


def _dispatch(vault: Vault, args: argparse.Namespace, lang: Lang) -> int:
    command: str = args.vault_command
    passphrase_file: Path | None = getattr(args, "passphrase_file", None)
    if command == "init":
        secret = _new_secret(args, passphrase_file, "RME_VAULT_PASSPHRASE", lang)
        vault.init(
            secret,
            memory_kib=args.kdf_memory_kib or DEFAULT_MEMORY_KIB,
            iterations=args.kdf_iterations or DEFAULT_ITERATIONS,
        )
        print(T_CREATED.render(lang, path=vault.layout.root))
    elif command == "add":
        folder = vault.add(args.path, name=args.name)
        _notes(vault)
        print(T_ADDED.render(lang, name=folder.name, size=human_size(folder.size)))
    elif command == "close":
        closed = vault.close(args.name)
        _notes(vault)
        for folder in closed:
            print(T_CLOSED.render(lang, name=folder.name))
        if not closed:
            print(T_NOTHING_OPEN.render(lang))
    elif command in ("open", "remove"):
        return _open(vault, args, lang)
    elif command == "passwd":
        old = _read_secret(passphrase_file, "RME_VAULT_PASSPHRASE", T_PASS, lang)
        vault.check_passphrase(old)  # before asking for the new one
        new = _new_secret(args, args.new_passphrase_file, "RME_VAULT_NEW_PASSPHRASE", lang)
        vault.passwd(old, new, memory_kib=args.kdf_memory_kib, iterations=args.kdf_iterations)
        print(T_PASSWD.render(lang))
    elif command == "list":
        _list(vault, lang)
    else:
        code = _status(vault, lang, as_json=bool(args.json))
        _notes(vault)
        return code
    _notes(vault)
    return 0


def _open(vault: Vault, args: argparse.Namespace, lang: Lang) -> int:
    if not vault.initialized:
        raise NotInitialized()  # before asking for a passphrase that could not be checked
    if vault.session_active():
        raise SessionActive()  # before asking for a passphrase that could not be used
    secret = _read_secret(args.passphrase_file, "RME_VAULT_PASSPHRASE", T_PASS, lang)
    removing = args.vault_command == "remove"
    results = [vault.remove(secret, args.name)] if removing else vault.open(secret, args.name)
    _notes(vault)
    code = 0
    for result in results:
        fields = {"name": result.name, "path": result.path, "count": len(result.damaged)}
        if result.damaged:
            code = 1
            done = T_REMOVE_DAMAGED if removing else T_OPENED_DAMAGED
            print(done.render(lang, **fields), file=sys.stderr)
        else:
            print((T_REMOVED if removing else T_OPENED).render(lang, **fields))
        for damaged in result.damaged:
            print(damaged.message(lang), file=sys.stderr)
    if not results:
        print(T_NOTHING_CLOSED.render(lang))
    return code


def _list(vault: Vault, lang: Lang) -> None:
    folders = vault.folders()
    if not folders:
        print(T_EMPTY.render(lang))
    for folder in folders:
        state = T_STATE[folder.state].render(lang)
        print("\t".join([folder.name, state, human_size(folder.size), folder.path, *_missing(folder, lang)]))


def _missing(folder: Any, lang: Lang) -> list[str]:
    return [T_MISSING.render(lang, count=folder.damaged)] if folder.damaged else []


def _status(vault: Vault, lang: Lang, as_json: bool) -> int:
    status = vault.status()
    if as_json:
        print(json.dumps(status.to_json(), ensure_ascii=False))
        return 1 if status.damaged else 0
    if status.damaged is not None:
        print(status.damaged.message(lang), file=sys.stderr)
        return 1
    if not status.initialized:
        print(T_NONE.render(lang))
        return 0
    if status.session_active:
        print(T_SESSION_ON.render(lang))
    if not status.folders:
        print(T_EMPTY.render(lang))
    for folder in status.folders:
        state = T_STATE[folder.state].render(lang)
        print("\t".join([folder.name, state, human_size(folder.size), *_missing(folder, lang)]))
    return 0


def standalone_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rme-agent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["vault", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.handler(args)
    return code
