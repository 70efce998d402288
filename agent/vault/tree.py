"""A folder as a flat list of entries (the manifest), and the walk that reads it without following links.

Symlinks are stored as links (their target text), never followed: a link inside a protected folder that
points elsewhere is kept as a link, and the file it points to is neither read nor removed. FIFOs, sockets
and device nodes are refused with a clear message, because skipping them would delete them with the
plaintext.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.i18n import Text
from agent.vault.errors import CorruptBlob, FolderRefused

EntryKind = Literal["file", "dir", "link"]
SPECIAL = Text(
    "“{item}” 不是普通文件、文件夹或链接（设备、管道或套接字）",
    "“{item}” is not a regular file, folder or link (a device, pipe or socket)",
)


@dataclass
class Entry:
    path: str  # relative, "/"-separated
    kind: EntryKind
    mode: int
    mtime_ns: int
    size: int = 0
    ino: int = 0
    blob: str = ""  # the file in the generation holding this file's ciphertext (shared by a pack)
    number: int = 0  # unique in the generation: part of every nonce
    offset: int = 0  # where the ciphertext starts in the blob (non-zero only in a pack)
    target: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "p": self.path,
            "k": self.kind,
            "m": self.mode,
            "t": self.mtime_ns,
            "s": self.size,
            "b": self.blob,
            "n": self.number,
            "o": self.offset,
            "l": self.target,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        kind = data["k"]
        if kind not in ("file", "dir", "link"):
            raise CorruptBlob("unknown entry kind")
        return cls(
            path=safe_relative(str(data["p"])),
            kind=kind,
            mode=int(data["m"]),
            mtime_ns=int(data["t"]),
            size=int(data["s"]),
            blob=str(data["b"]),
            number=int(data["n"]),
            offset=_offset(data.get("o", 0)),  # manifests before packs have none
            target=str(data["l"]),
        )

    def stat_key(self) -> tuple[int, int, int]:
        return (self.size, self.mtime_ns, self.ino)


def _offset(value: Any) -> int:
    offset = int(value)
    if offset < 0:
        raise CorruptBlob("negative offset in manifest")
    return offset


def safe_relative(path: str) -> str:
    """Reject absolute paths, drive letters and `..`: a manifest can only name things inside its folder."""
    parts = path.split("/")
    # On Windows `\\` separates and `C:x` / `name:stream` are not plain names; elsewhere both are legal.
    windows_trick = os.name == "nt" and (":" in path or "\\" in path)
    if path.startswith("/") or any(p in ("..", ".", "") for p in parts) or windows_trick:
        raise CorruptBlob(f"unsafe path in manifest: {path!r}")
    return path


def _kind(st: os.stat_result) -> EntryKind | None:
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return None


def scan(root: Path, display: Path) -> list[Entry]:
    """Every entry under `root`, parents before children; `display` names the folder in messages."""
    entries: list[Entry] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{prefix}{child.name}"
            st = child.stat(follow_symlinks=False)
            kind = _kind(st)
            if kind is None:
                raise FolderRefused(path=str(display), reason=SPECIAL.render("en", item=rel))
            entry = Entry(
                path=rel,
                kind=kind,
                mode=stat.S_IMODE(st.st_mode),
                mtime_ns=st.st_mtime_ns,
                size=st.st_size if kind == "file" else 0,
                ino=st.st_ino,
            )
            if kind == "link":
                entry.target = str(Path(child.path).readlink())
            entries.append(entry)
            if kind == "dir":
                stack.append((Path(child.path), rel + "/"))
    return entries


def root_entry(root: Path) -> Entry:
    """The protected folder itself: only its mode and time are kept (its name is in vault.json)."""
    st = root.lstat()
    return Entry(path="", kind="dir", mode=stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns)


def manifest_bytes(root: Entry, entries: list[Entry], binding: dict[str, str] | None = None) -> bytes:
    """`binding` names the folder the generation belongs to (id, name, path): see auth.py."""
    doc: dict[str, Any] = {
        "root": {"m": root.mode, "t": root.mtime_ns},
        "entries": [e.to_json() for e in entries],
    }
    if binding is not None:
        doc["folder"] = binding
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def manifest_binding(raw: bytes) -> dict[str, Any] | None:
    """The folder a manifest says it belongs to; None in manifests from before bindings."""
    try:
        binding = json.loads(raw.decode("utf-8")).get("folder")
    except (ValueError, AttributeError) as exc:
        raise CorruptBlob(f"manifest unreadable: {exc}") from None
    return binding if isinstance(binding, dict) else None


def parse_manifest(raw: bytes) -> tuple[Entry, list[Entry]]:
    try:
        doc = json.loads(raw.decode("utf-8"))
        root = Entry(path="", kind="dir", mode=int(doc["root"]["m"]), mtime_ns=int(doc["root"]["t"]))
        return root, [Entry.from_json(e) for e in doc["entries"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptBlob(f"manifest unreadable: {exc}") from None


def local_path(root: Path, rel: str) -> Path:
    return root.joinpath(*rel.split("/"))


# Setting a new file's mode and time through its open descriptor saves two path lookups per file.
FD_METADATA = os.chmod in os.supports_fd and os.utime in os.supports_fd


def restore_metadata(where: Path | int, entry: Entry) -> None:
    """Mode and modification time of a path or an open file (FD_METADATA), best effort (a read-only dir
    gets its mode after its contents)."""
    try:
        os.chmod(where, entry.mode)  # noqa: PTH101 - a descriptor is not a Path
        os.utime(where, ns=(entry.mtime_ns, entry.mtime_ns))
    except OSError:
        pass
