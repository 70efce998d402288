"""Data rescue's copy: folders from a mounted source into a new folder on the user's USB disk, every
file hashed while read, written, flushed, dropped from the page cache and read back to compare.

Runs in a worker thread; `Cancel.set()` stops it between two blocks, and the half-written file is
deleted. Symbolic links are not followed (a link could point outside the chosen folders)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

BLOCK = 1 << 20


class CopyError(ValueError):
    """A chosen folder is not a plain folder inside the source."""


class Cancelled(Exception):
    pass


@dataclass
class Tally:
    files: int = 0
    bytes: int = 0
    verified: int = 0
    failed: int = 0


def safe_folder(root: Path, folder: str) -> Path:
    rel = PurePosixPath(folder.strip("/"))
    if folder.strip("/") == "" or any(p in ("..", "") for p in rel.parts) or "\x00" in folder:
        raise CopyError(f"not a folder inside the disk: {folder!r}")
    path = root.joinpath(*rel.parts)
    if path.is_symlink() or not path.is_dir():
        raise CopyError(f"no such folder on the disk: {folder!r}")
    return path


def _files(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def plan(root: Path, folders: list[str]) -> tuple[list[tuple[Path, Path]], int]:
    """(source file, path relative to the source root) pairs and their total size."""
    pairs: list[tuple[Path, Path]] = []
    total = 0
    for folder in folders:
        top = safe_folder(root, folder)
        for path in _files(top):
            pairs.append((path, path.relative_to(root)))
            total += path.stat().st_size
    return pairs, total


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        with_fd = f.fileno()
        os.posix_fadvise(with_fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def copy_one(src: Path, dst: Path, cancel: threading.Event, on_bytes: Callable[[int], None]) -> bool:
    """Copy, then verify by reading the copy back; True when the hashes match."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(dst.name + ".rme-partial")
    h = hashlib.sha256()
    try:
        with src.open("rb") as fin, partial.open("xb") as fout:
            while block := fin.read(BLOCK):
                if cancel.is_set():
                    raise Cancelled
                h.update(block)
                fout.write(block)
                on_bytes(len(block))
            fout.flush()
            os.fsync(fout.fileno())
            os.posix_fadvise(fout.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        partial.replace(dst)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _hash_file(dst) == h.hexdigest()


def copy_tree(
    pairs: list[tuple[Path, Path]], target: Path, cancel: threading.Event, on_bytes: Callable[[int], None]
) -> Tally:
    tally = Tally()
    for src, rel in pairs:
        if cancel.is_set():
            raise Cancelled
        try:
            ok = copy_one(src, target / rel, cancel, on_bytes)
        except OSError:
            ok = False
        tally.files += 1
        tally.bytes += src.stat().st_size
        if ok:
            tally.verified += 1
        else:
            tally.failed += 1
    return tally
