"""What the vault keeps on disk under `<data dir>/vault/`, and the plaintext metadata file.

    vault.json        format, wrapped key + KDF parameters, the folders (name, path, state, generation,
                      size) — no file names, no structure: those are only in the encrypted manifests —
                      and the seal: what the last passphrase-bearing step saw, with its MAC (auth.py)
    journal.json      the step in progress (see journal.py); absent when idle
    session.json      present while an engineer session is active (see lock.py: only one of its marks)
    lock              inter-process lock file
    store/<gen>/      one generation = one close of one folder: `key` (sealed generation key),
                      `manifest` (encrypted entry list) and blobs named by random ids

A generation directory that vault.json does not reference (and no journal step owns) is garbage from an
interrupted step and is deleted at recovery.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.i18n import Text
from agent.vault.durable import atomic_write
from agent.vault.errors import MetadataDamaged
from agent.vault.keys import WrappedKey, b64, unb64

FORMATS = (1, 2)  # 2: has a seal
FolderState = Literal["open", "closed"]
NOT_JSON = Text("内容不完整或不是 JSON", "it is cut short or not JSON")
BAD_SHAPE = Text("缺少或损坏了必需的内容", "required content is missing or malformed")
BAD_FORMAT = Text("不认识的格式版本", "an unknown format version")


def new_id() -> str:
    return secrets.token_hex(16)


@dataclass
class Folder:
    id: str
    name: str
    path: str
    state: FolderState
    generation: str | None = None
    size: int = 0
    kept: list[str] = field(default_factory=list)
    damaged: int = 0  # files an open could not restore (their ciphertext is in `kept`)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "state": self.state,
            "generation": self.generation,
            "size": self.size,
            "kept": self.kept,
            "damaged": self.damaged,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Folder:
        state: FolderState = "closed" if data["state"] == "closed" else "open"
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            path=str(data["path"]),
            state=state,
            generation=data.get("generation"),
            size=int(data.get("size", 0)),
            kept=[str(g) for g in data.get("kept", [])],
            damaged=int(data.get("damaged", 0)),
        )


@dataclass(frozen=True)
class SealedFolder:
    """A folder as the last passphrase-bearing step left it: what auth.py compares the live list with."""

    id: str
    name: str
    path: str
    state: str
    generation: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "state": self.state,
            "gen": self.generation,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SealedFolder:
        gen = data.get("gen")
        return cls(
            str(data["id"]), str(data["name"]), str(data["path"]), str(data["state"]), gen and str(gen)
        )

    @classmethod
    def of(cls, folder: Folder) -> SealedFolder:
        return cls(folder.id, folder.name, folder.path, folder.state, folder.generation)


@dataclass(frozen=True)
class Seal:
    folders: tuple[SealedFolder, ...]
    mac: bytes
    legacy: tuple[str, ...] = ()  # generations from before bindings, vouched for at the migration

    def to_json(self) -> dict[str, Any]:
        return {
            "folders": [f.to_json() for f in self.folders],
            "legacy": list(self.legacy),
            "mac": b64(self.mac),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seal:
        folders = tuple(SealedFolder.from_json(f) for f in data["folders"])
        return cls(folders, unb64(data["mac"]), tuple(str(g) for g in data.get("legacy", [])))


@dataclass
class Metadata:
    key: WrappedKey
    folders: list[Folder] = field(default_factory=list)
    seal: Seal | None = None

    def folder(self, folder_id: str) -> Folder | None:
        return next((f for f in self.folders if f.id == folder_id), None)

    def by_name(self, name: str) -> Folder | None:
        return next((f for f in self.folders if f.name.casefold() == name.casefold()), None)

    def referenced_generations(self) -> set[str]:
        refs = {f.generation for f in self.folders if f.generation}
        for f in self.folders:
            refs.update(f.kept)
        return {r for r in refs if r}

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "format": 2 if self.seal is not None else 1,
            "key": self.key.to_json(),
            "folders": [f.to_json() for f in self.folders],
        }
        if self.seal is not None:
            doc["seal"] = self.seal.to_json()
        return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Metadata:
        """Parse vault.json; `DamagedRecord` (with a bilingual reason) for anything unreadable."""
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise DamagedRecord(NOT_JSON) from None
        if not isinstance(doc, dict):
            raise DamagedRecord(BAD_SHAPE)
        if doc.get("format") not in FORMATS:
            raise DamagedRecord(BAD_FORMAT)
        try:
            seal = doc.get("seal")
            return cls(
                key=WrappedKey.from_json(doc["key"]),
                folders=[Folder.from_json(f) for f in doc.get("folders", [])],
                seal=Seal.from_json(seal) if seal is not None else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DamagedRecord(BAD_SHAPE) from None


class DamagedRecord(ValueError):
    def __init__(self, why: Text) -> None:
        super().__init__(why.en)
        self.why = why


class Layout:
    """Where each part of the vault lives under the agent's data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "vault"
        self.meta = self.root / "vault.json"
        self.journal = self.root / "journal.json"
        self.session = self.root / "session.json"
        self.lock = self.root / "lock"
        self.store = self.root / "store"

    def generation(self, gen: str) -> Path:
        return self.store / gen

    def load(self) -> Metadata | None:
        """The metadata; None if there is no vault; MetadataDamaged (the file and why) if unreadable."""
        try:
            raw = self.meta.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return Metadata.from_bytes(raw)
        except DamagedRecord as exc:
            raise MetadataDamaged(path=str(self.meta), why=exc.why) from None

    def save(self, meta: Metadata) -> None:
        atomic_write(self.meta, meta.to_bytes(), crash_name="meta")


def staging_path(target: Path, folder_id: str) -> Path:
    """Where `open` decrypts before the atomic rename: beside the target, so the rename stays on one disk."""
    return target.parent / f".rme-vault-opening-{folder_id[:12]}"


def quarantine_path(path: Path, folder_id: str) -> Path:
    """Where `close` moves the plaintext while it is encrypted, so no program can add files to it."""
    return path.parent / f".rme-vault-closing-{folder_id[:12]}"
