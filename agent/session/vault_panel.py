"""The panel's privacy-vault buttons: open, close, add and remove, each run in a worker thread.

What the page may see of the vault: whether it exists, whether a session lock is on, and per folder the
name the user gave it, its state and its size — never a path inside it, a file name or a byte of content
(`Vault.status`). The passphrase travels from the password field to `Vault.open`/`remove` and nowhere
else: it is not logged, not put in the panel state, not echoed back, and no error message contains it.

Every answer is `{"ok": true, …}` or `{"ok": false, "error": <kind>, "message": {"zh-CN": …, "en": …}}`;
the panel server turns the kind into an HTTP status (`VAULT_STATUS`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agent.i18n import Text
from agent.session.feed import Feed
from agent.vault import (
    Damaged,
    FolderBusy,
    FolderRefused,
    NotInitialized,
    SessionActive,
    UnknownFolder,
    Vault,
    VaultError,
    WrongPassphrase,
)
from agent.vault.errors import AgentSilent, LockTimeout, MetadataDamaged, MetadataTampered

T = TypeVar("T")

ADDED = Text("“{name}” 已加密并隐藏", "“{name}” is encrypted and hidden")
CLOSED = Text("“{name}” 已加密并隐藏", "“{name}” is encrypted and hidden")
OPENED = Text("“{name}” 已打开", "“{name}” is open")
REMOVED = Text(
    "“{name}” 已移出保险箱，恢复为普通文件夹", "“{name}” left the vault and is a normal folder again"
)
ADD_LOCKED = Text(
    "工程师正在远程协助中，会话结束前不能更改保险箱里的文件夹（所有文件夹都已加密）",
    "An engineer session is active: the vault's folders cannot be changed until it ends "
    "(every folder is encrypted)",
)
NO_PATH = Text("请填写要保护的文件夹路径", "Type the path of the folder to protect")
NO_PASSPHRASE = Text("请输入保险箱口令", "Type the vault passphrase")
OS_ERROR = Text(
    "文件操作失败：{error}（已开始的步骤会在下次操作时完成或撤销，不会丢失文件）",
    "A file operation failed: {error} (any step begun is finished or undone at the next operation; "
    "no file is lost)",
)
ERROR_KIND: list[tuple[type[VaultError], str]] = [
    (WrongPassphrase, "wrong_passphrase"),
    (SessionActive, "session_active"),
    (NotInitialized, "not_initialized"),
    (UnknownFolder, "unknown_folder"),
    (FolderRefused, "refused"),
    (FolderBusy, "busy"),
    (LockTimeout, "busy"),
    (Damaged, "damaged"),
    (MetadataDamaged, "damaged"),
    (MetadataTampered, "damaged"),
    (AgentSilent, "busy"),
]


def _both(text: Text, **fields: object) -> dict[str, str]:
    return {"zh-CN": text.render("zh-CN", **fields), "en": text.render("en", **fields)}


def _failure(kind: str, message: dict[str, str]) -> dict[str, Any]:
    return {"ok": False, "error": kind, "message": message}


def _vault_failure(exc: VaultError) -> dict[str, Any]:
    kind = next((k for cls, k in ERROR_KIND if isinstance(exc, cls)), "failed")
    return _failure(kind, {"zh-CN": exc.message("zh-CN"), "en": exc.message("en")})


class PanelVault:
    """The vault as the panel drives it; `feed` records what was done (names only) in the user's log."""

    def __init__(self, vault: Vault, feed: Feed) -> None:
        self.vault = vault
        self.feed = feed

    async def _run(self, work: Callable[[], T]) -> T:
        """Off the event loop: a close encrypts and fsyncs a whole tree, an open decrypts it."""
        return await asyncio.to_thread(work)

    async def _guarded(self, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            result = await self._run(work)
        except VaultError as exc:
            result = _vault_failure(exc)
        except OSError as exc:
            result = _failure("failed", _both(OS_ERROR, error=exc.strerror or type(exc).__name__))
        self.feed.touch()  # the panel re-reads the vault's status
        return result

    async def status(self) -> dict[str, Any]:
        """Existence, session lock, and per folder name · state · size; never waits for a long step."""
        try:
            doc = (await self._run(self.vault.status)).to_json()
        except (VaultError, OSError):
            doc = {"initialized": self.vault.initialized, "session_active": True, "busy": True, "folders": []}
        return {"ok": True, **doc}

    async def open(self, passphrase: object, name: object) -> dict[str, Any]:
        if not isinstance(passphrase, str) or not passphrase:
            return _failure("bad_request", _both(NO_PASSPHRASE))
        folder = name if isinstance(name, str) and name else None

        def work() -> dict[str, Any]:
            results = self.vault.open(passphrase, folder)
            damaged = [d for r in results for d in r.damaged]
            return {
                "ok": not damaged,
                "opened": [r.name for r in results],
                **({"error": "damaged"} if damaged else {}),
                "damaged": [{"zh-CN": d.message("zh-CN"), "en": d.message("en")} for d in damaged],
            }

        result = await self._guarded(work)
        for opened in result.get("opened", []):
            self.feed.add("vault", OPENED, name=opened)
        for message in result.get("damaged", []):
            self.feed.add("vault", Text(message["zh-CN"], message["en"]))
        if result.get("damaged"):
            result["message"] = result["damaged"][0]
        return result

    async def close(self, name: object) -> dict[str, Any]:
        folder = name if isinstance(name, str) and name else None

        def work() -> dict[str, Any]:
            return {"ok": True, "closed": [f.name for f in self.vault.close(folder)]}

        result = await self._guarded(work)
        for closed in result.get("closed", []):
            self.feed.add("vault", CLOSED, name=closed)
        return result

    async def add(self, path: object, name: object) -> dict[str, Any]:
        if not isinstance(path, str) or not path.strip():
            return _failure("bad_request", _both(NO_PATH))
        typed = path.strip()
        label = name.strip() if isinstance(name, str) and name.strip() else None

        def work() -> dict[str, Any]:
            # The vault itself would accept a new folder now; the panel keeps the vault unchanged for
            # the whole session, like open and remove.
            if self.vault.session_active():
                return _failure("session_active", _both(ADD_LOCKED))
            folder = self.vault.add(Path(typed).expanduser(), name=label)
            return {"ok": True, "added": folder.name, "size": folder.size}

        result = await self._guarded(work)
        if result.get("ok"):
            self.feed.add("vault", ADDED, name=result["added"])
        return result

    async def remove(self, passphrase: object, name: object) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            return _failure("unknown_folder", _both(UnknownFolder.text, name=""))
        if not isinstance(passphrase, str) or not passphrase:  # checked even for an open folder
            return _failure("bad_request", _both(NO_PASSPHRASE))
        secret = passphrase

        def work() -> dict[str, Any]:
            if self.vault.session_active():
                raise SessionActive()
            result = self.vault.remove(secret, name)
            if result.damaged:
                damaged = result.damaged[0]
                return _failure("damaged", {"zh-CN": damaged.message("zh-CN"), "en": damaged.message("en")})
            return {"ok": True, "removed": result.name}

        result = await self._guarded(work)
        if result.get("ok"):
            self.feed.add("vault", REMOVED, name=result["removed"])
        return result
