"""The vault: protect folders, open and close them, and the contract the session machinery calls.

Every public method takes the operation lock and first runs recovery, so whatever process comes next
after a crash (CLI, panel, agent start) finishes or rolls back the interrupted step before doing its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.i18n import Lang, Text
from agent.vault import journal, paths, stream
from agent.vault.durable import crash_point, free_name, fsync_dir, remove_tree
from agent.vault.errors import (
    AlreadyInitialized,
    CorruptBlob,
    Damaged,
    FolderBusy,
    FolderRefused,
    LockTimeout,
    NotInitialized,
    SessionActive,
    UnknownFolder,
    VaultError,
)
from agent.vault.generation import read_manifest, restore_folder, seal_folder
from agent.vault.keys import (
    DEFAULT_ITERATIONS,
    DEFAULT_MEMORY_KIB,
    KdfParams,
    new_vault_key,
    unwrap_private_key,
    wrap_private_key,
)
from agent.vault.lock import clear_session, operation_lock, read_session_owner, write_session
from agent.vault.metadata import Folder, Layout, Metadata, new_id, quarantine_path, staging_path

NOT_A_DIR = Text("不是文件夹", "it is not a folder")
IS_LINK = Text("它是一个链接；请添加它指向的真实文件夹", "it is a link; add the real folder it points to")
OVERLAP = Text("它与保险箱里的 “{name}” 重叠", "it overlaps “{name}”, already in the vault")
OVERLAP_DATA = Text("它包含或位于 RME 自己的数据目录", "it contains or is inside RME's own data folder")
TOO_BROAD = Text("不能保护整个磁盘或整个用户目录", "a whole disk or home folder cannot be protected")
NAME_TAKEN = Text("名称 “{name}” 已被使用", "the name “{name}” is already used")


@dataclass(frozen=True)
class FolderStatus:
    """What the panel may show: existence, the name the user gave, the size. Never contents."""

    name: str
    state: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "size": self.size}


@dataclass(frozen=True)
class VaultStatus:
    initialized: bool
    session_active: bool
    folders: list[FolderStatus] = field(default_factory=list)
    busy: bool = False  # an operation (open/close) is running right now

    def to_json(self) -> dict[str, Any]:
        return {
            "initialized": self.initialized,
            "session_active": self.session_active,
            "busy": self.busy,
            "folders": [f.to_json() for f in self.folders],
        }


@dataclass
class OpenResult:
    name: str
    path: Path
    damaged: list[Damaged] = field(default_factory=list)


class Vault:
    def __init__(self, data_dir: Path, lang: Lang = "en", chunk_size: int = stream.DEFAULT_CHUNK) -> None:
        self.layout = Layout(Path(data_dir).absolute())
        self.lang = lang
        self.buffers = stream.Buffers(chunk_size)
        self.notes: list[str] = []  # recovery messages for the user, collected by each operation

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _locked(self, timeout: float = 30.0) -> Iterator[Metadata | None]:
        with operation_lock(self.layout.lock, timeout=timeout):
            meta = self.layout.load()
            if meta is not None:
                self.notes.extend(journal.recover(self.layout, meta, self.lang))
            yield meta

    @contextmanager
    def _ready(self) -> Iterator[Metadata]:
        with self._locked() as meta:
            if meta is None:
                raise NotInitialized()
            yield meta

    def _find(self, meta: Metadata, name: str) -> Folder:
        folder = meta.by_name(name)
        if folder is None:
            raise UnknownFolder(name=name)
        return folder

    # -- user operations --------------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return self.layout.meta.exists()

    def init(
        self, passphrase: str, memory_kib: int = DEFAULT_MEMORY_KIB, iterations: int = DEFAULT_ITERATIONS
    ) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked() as meta:
            if meta is not None:
                raise AlreadyInitialized(path=str(self.layout.root))
            _, wrapped = new_vault_key(passphrase, KdfParams.fresh(memory_kib, iterations))
            self.layout.store.mkdir(exist_ok=True, mode=0o700)
            fsync_dir(self.layout.root)
            self.layout.save(Metadata(key=wrapped))

    def recover(self) -> list[str]:
        """Finish or roll back an interrupted step (the agent calls this at start)."""
        with self._locked():
            pass
        notes, self.notes = self.notes, []
        return notes

    def add(self, path: Path, name: str | None = None) -> Folder:
        """Protect a folder: it is encrypted and disappears from its place until opened."""
        with self._ready() as meta:
            folder = Folder(id=new_id(), name=name or Path(path).name, path="", state="open")
            folder.path = str(self._check_new_folder(meta, Path(path), folder.name))
            self._close_folder(meta, folder, register=True)
            return folder

    def close(self, name: str | None = None) -> list[Folder]:
        """Encrypt open folders (all, or the one named); needs no passphrase."""
        with self._ready() as meta:
            targets = [self._find(meta, name)] if name else list(meta.folders)
            closed = [f for f in targets if f.state == "open"]
            for folder in closed:
                self._close_folder(meta, folder, register=False)
            return closed

    def open(self, passphrase: str, name: str | None = None) -> list[OpenResult]:
        """Decrypt closed folders back to their places. Refused while a session is active."""
        with self._ready() as meta:
            if read_session_owner(self.layout.session) is not None:
                raise SessionActive()
            private = self._unlock(meta, passphrase)
            targets = [self._find(meta, name)] if name else list(meta.folders)
            return [
                self._open_folder(meta, f, private, unregister=False) for f in targets if f.state == "closed"
            ]

    def remove(self, passphrase: str, name: str) -> OpenResult:
        """Take a folder out of the vault for good, restoring it to plaintext."""
        with self._ready() as meta:
            folder = self._find(meta, name)
            if folder.state == "open":
                meta.folders.remove(folder)
                self.layout.save(meta)
                return OpenResult(folder.name, Path(folder.path))
            if read_session_owner(self.layout.session) is not None:
                raise SessionActive()
            private = self._unlock(meta, passphrase)
            return self._open_folder(meta, folder, private, unregister=True)

    def passwd(
        self, old: str, new: str, memory_kib: int | None = None, iterations: int | None = None
    ) -> None:
        """Re-wrap the vault key under a new passphrase and/or stronger KDF parameters; blobs untouched."""
        with self._ready() as meta:
            private = self._unlock(meta, old)
            current = meta.key.kdf
            kdf = KdfParams.fresh(memory_kib or current.memory_kib, iterations or current.iterations)
            meta.key = wrap_private_key(private, new, kdf)
            self.layout.save(meta)

    def check_passphrase(self, passphrase: str) -> None:
        with self._ready() as meta:
            self._unlock(meta, passphrase)

    def folders(self) -> list[Folder]:
        with self._ready() as meta:
            return list(meta.folders)

    def status(self) -> VaultStatus:
        """Never waits: while another operation runs (a long close), reports the last committed state."""
        try:
            with self._locked(timeout=0) as meta:
                return self._status(meta, busy=False)
        except LockTimeout:
            return self._status(self.layout.load(), busy=True)

    def _status(self, meta: Metadata | None, busy: bool) -> VaultStatus:
        active = read_session_owner(self.layout.session) is not None
        if meta is None:
            return VaultStatus(initialized=False, session_active=active, busy=busy)
        folders = [FolderStatus(f.name, f.state, f.size) for f in meta.folders]
        return VaultStatus(initialized=True, session_active=active, folders=folders, busy=busy)

    # -- the session contract (issue 5 calls these) ----------------------------------------------

    def begin_session(self, owner_pid: int | None = None) -> list[str]:
        """Lock the vault for a session and close every open folder durably; returns the names closed.

        Opening is refused from now until `end_session`, for everyone. If a folder cannot be closed
        (a program is writing to it) the lock is lifted again and the error raised: the session must
        not start with plaintext in place.
        """
        with self._locked() as meta:
            write_session(self.layout.session, owner_pid or os.getpid())
            if meta is None:
                return []
            closed: list[str] = []
            try:
                for folder in [f for f in meta.folders if f.state == "open"]:
                    self._close_folder(meta, folder, register=False)
                    closed.append(folder.name)
            except BaseException:
                clear_session(self.layout.session)
                raise
            return closed

    def end_session(self) -> None:
        with self._locked():
            clear_session(self.layout.session)

    def session_active(self) -> bool:
        return read_session_owner(self.layout.session) is not None

    def vault_paths(self) -> list[Path]:
        """Every path an engineer request must not name: folders (open or closed), their temporary
        siblings, and the vault's own store. Needs no passphrase."""
        meta = self.layout.load()
        paths = [self.layout.root]
        if meta is not None:
            for folder in meta.folders:
                path = Path(folder.path)
                paths += [path, quarantine_path(path, folder.id), staging_path(path, folder.id)]
        step = journal.pending(self.layout)
        if step is not None:
            paths += [Path(step.doc[k]) for k in ("path", "quarantine", "staging", "target") if k in step.doc]
        return paths

    def request_touches_vault(self, text: str, cwd: Path | None = None) -> bool:
        """True if an engineer request (a path or a command line) names anything inside the vault."""
        return paths.touches(text, self.vault_paths(), cwd=cwd)

    # -- steps ------------------------------------------------------------------------------------

    def _unlock(self, meta: Metadata, passphrase: str) -> Any:
        try:
            return unwrap_private_key(meta.key, passphrase)
        except CorruptBlob:
            raise Damaged(item="vault.json", kept=str(self.layout.meta)) from None

    def _check_new_folder(self, meta: Metadata, path: Path, name: str) -> Path:
        absolute = Path(path).absolute()
        if absolute.is_symlink():
            raise FolderRefused(path=str(path), reason=IS_LINK.render(self.lang))
        if not absolute.is_dir():
            raise FolderRefused(path=str(path), reason=NOT_A_DIR.render(self.lang))
        real = absolute.resolve()
        if real == Path(real.anchor) or real == Path.home().resolve():
            raise FolderRefused(path=str(path), reason=TOO_BROAD.render(self.lang))
        data = self.layout.data_dir.resolve()
        if paths.overlaps(real, data):
            raise FolderRefused(path=str(path), reason=OVERLAP_DATA.render(self.lang))
        for other in meta.folders:
            if paths.overlaps(real, Path(other.path)):
                raise FolderRefused(path=str(path), reason=OVERLAP.render(self.lang, name=other.name))
        if meta.by_name(name) is not None:
            raise FolderRefused(path=str(path), reason=NAME_TAKEN.render(self.lang, name=name))
        return real

    def _close_folder(self, meta: Metadata, folder: Folder, register: bool) -> None:
        path = Path(folder.path)
        if path.is_symlink():
            raise FolderRefused(path=str(path), reason=IS_LINK.render(self.lang))
        if not os.path.lexists(path):
            path.mkdir(parents=True)  # the user deleted the open folder: what is left to protect is nothing
        quarantine = quarantine_path(path, folder.id)
        generation = new_id()
        journal.begin(
            self.layout,
            {
                "op": "close",
                "folder": folder.to_json(),
                "register": register,
                "path": str(path),
                "quarantine": str(quarantine),
                "generation": generation,
            },
        )
        crash_point("close.journal")
        # Moved aside first: no program can add a file by its old path while we encrypt.
        try:
            path.rename(quarantine)
        except OSError:  # Windows refuses while a program has a file in it open
            journal.finish(self.layout)
            raise FolderBusy(path=str(path)) from None
        fsync_dir(path.parent)
        crash_point("close.quarantined")
        try:
            sealed = seal_folder(
                quarantine,
                path,
                gen_dir=self.layout.generation(generation),
                generation=generation,
                public_key=meta.key.public_key,
                buffers=self.buffers,
            )
        except BaseException:
            remove_tree(self.layout.generation(generation))
            quarantine.rename(path)
            fsync_dir(path.parent)
            journal.finish(self.layout)
            raise
        crash_point("close.verified")
        folder.state, folder.generation, folder.size = "closed", generation, sealed.size
        if register:
            meta.folders.append(folder)
        self.layout.save(meta)  # the commit point
        crash_point("close.committed")
        remove_tree(quarantine, crash_name="close.remove_plain")
        journal.finish(self.layout)
        crash_point("close.done")

    def _open_folder(self, meta: Metadata, folder: Folder, private: Any, unregister: bool) -> OpenResult:
        assert folder.generation is not None
        generation = folder.generation
        gen_dir = self.layout.generation(generation)
        try:
            key, root, entries = read_manifest(gen_dir, generation, private)
        except CorruptBlob:
            raise Damaged(item=folder.name, kept=str(gen_dir)) from None
        target = free_name(Path(folder.path))
        target.parent.mkdir(parents=True, exist_ok=True)  # its parent may have been deleted meanwhile
        staging = staging_path(target, folder.id)
        remove_tree(staging)  # a leftover can only be ours; recovery normally removed it already
        step = {
            "op": "open",
            "folder": folder.id,
            "name": folder.name,
            "generation": generation,
            "staging": str(staging),
            "target": str(target),
            "unregister": unregister,
            "phase": "decrypting",
        }
        journal.begin(self.layout, step)
        crash_point("open.journal")
        try:
            restored = restore_folder(
                gen_dir,
                generation,
                key=key,
                root=root,
                entries=entries,
                staging=staging,
                buffers=self.buffers,
                on_file=lambda: crash_point("open.file"),
            )
        except BaseException:
            remove_tree(staging)
            journal.finish(self.layout)
            raise
        damaged = bool(restored.damaged)
        if os.path.lexists(target):  # someone created it meanwhile: never overwrite
            target = free_name(target)
        journal.begin(self.layout, {**step, "target": str(target), "phase": "renaming", "damaged": damaged})
        crash_point("open.staged")
        staging.rename(target)
        fsync_dir(target.parent)
        crash_point("open.renamed")
        journal.commit_open(
            meta, folder, target, generation=generation, damaged=damaged, unregister=unregister
        )
        self.layout.save(meta)  # the commit point
        crash_point("open.committed")
        if not damaged:
            remove_tree(gen_dir, crash_name="open.remove_cipher")
        journal.finish(self.layout)
        return OpenResult(
            folder.name,
            target,
            [Damaged(item=f"{folder.name}/{p}", kept=str(gen_dir)) for p in restored.damaged],
        )


__all__ = ["FolderStatus", "OpenResult", "Vault", "VaultError", "VaultStatus"]
