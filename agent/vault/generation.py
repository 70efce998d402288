"""Writing one folder into a generation (encrypt, fsync, verify) and reading it back (decrypt, fsync).

These functions only move bytes; ordering against the journal and the metadata commit is vault.py's job.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.vault import stream
from agent.vault.durable import (
    BATCH_SYNC,
    crash_point,
    fsync_dir,
    start_writeback,
    sync_filesystem,
    write_all,
)
from agent.vault.errors import CorruptBlob, FolderBusy, VerifyFailed
from agent.vault.keys import open_generation_key, seal_generation_key
from agent.vault.tree import (
    Entry,
    local_path,
    manifest_bytes,
    parse_manifest,
    restore_metadata,
    root_entry,
    scan,
)

_BINARY = getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
WORKERS = 4
KEY_FILE = "key"
MANIFEST_FILE = "manifest"


@dataclass
class Sealed:
    entries: list[Entry]
    size: int


@dataclass
class Restored:
    damaged: list[str] = field(default_factory=list)


def _gen_bytes(generation: str) -> bytes:
    return bytes.fromhex(generation)


def _same_file(entry: Entry, st: os.stat_result) -> bool:
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_size == entry.size
        and st.st_mtime_ns == entry.mtime_ns
        and st.st_ino == entry.ino
    )


def _shape(entries: list[Entry]) -> list[tuple[str, str, int, int, int, str]]:
    return [(e.path, e.kind, e.size, e.mtime_ns, e.ino, e.target) for e in entries]


def _parallel(items: list[Entry], work: Callable[[Entry, stream.Buffers], None], chunk_size: int) -> None:
    """Run `work` over the files on a few threads (each with its own buffers), stopping at the first error.

    File I/O, fsync and hashing release the GIL, so small files overlap their syscalls and big ones
    their hashing; the pool is drained before an error propagates, so a rollback never races a worker.
    """
    local = threading.local()

    def task(entry: Entry) -> None:
        if not hasattr(local, "buffers"):
            local.buffers = stream.Buffers(chunk_size)
        work(entry, local.buffers)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(task, entry) for entry in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def seal_folder(
    source: Path, display: Path, *, gen_dir: Path, generation: str, public_key: bytes, buffers: stream.Buffers
) -> Sealed:
    """Encrypt the tree at `source` into `gen_dir`, make it durable, read it all back and check it.

    Raises FolderBusy if anything in the tree changed meanwhile (the caller rolls back); nothing under
    `source` is modified.
    """
    gen_dir.mkdir(parents=True)
    fsync_dir(gen_dir.parent)
    key, sealed_key = seal_generation_key(public_key, generation)
    gen = _gen_bytes(generation)
    _write_new(gen_dir / KEY_FILE, sealed_key)
    root = root_entry(source)
    entries = scan(source, display)
    files = [e for e in entries if e.kind == "file"]
    for number, entry in enumerate(files, start=1):
        entry.number, entry.blob = number, os.urandom(12).hex()

    def seal_one(entry: Entry, bufs: stream.Buffers) -> None:
        _seal_file(
            source / entry.path,
            gen_dir / entry.blob,
            display / entry.path,
            key=key,
            gen=gen,
            entry=entry,
            buffers=bufs,
        )
        crash_point("close.blob")

    # Largest first, so one big file does not start last and run alone.
    _parallel(sorted(files, key=lambda e: -e.size), seal_one, buffers.chunk_size)
    manifest = manifest_bytes(root, entries)
    _write_new(gen_dir / MANIFEST_FILE, stream.encrypt_bytes(manifest, key, gen, 0))
    if BATCH_SYNC:
        sync_filesystem(gen_dir)  # every blob, in one go
    fsync_dir(gen_dir)
    crash_point("close.synced")
    try:
        if stream.decrypt_path(str(gen_dir / MANIFEST_FILE), key, gen, 0) != manifest:
            raise VerifyFailed(item="manifest")
    except CorruptBlob:
        raise VerifyFailed(item="manifest") from None
    # Last look: anything added, removed or changed since the scan means someone is still writing.
    if _shape(scan(source, display)) != _shape(entries) or root_entry(source).mtime_ns != root.mtime_ns:
        raise FolderBusy(path=str(display))
    return Sealed(entries, sum(e.size for e in entries))


def _seal_file(
    source: Path, blob: Path, display: Path, *, key: bytes, gen: bytes, entry: Entry, buffers: stream.Buffers
) -> None:
    """Encrypt one file, then read the blob back and check that it authenticates and has the file's size."""
    src = os.open(source, os.O_RDONLY | _BINARY | _NOFOLLOW)
    try:
        if not _same_file(entry, os.fstat(src)):
            raise FolderBusy(path=str(display))
        dst = os.open(blob, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o600)
        try:
            result = stream.encrypt_stream(
                src, dst, key=key, generation=gen, blob=entry.number, buffers=buffers
            )
            if BATCH_SYNC:
                start_writeback(dst)
            else:
                os.fsync(dst)
        finally:
            os.close(dst)
        if not _same_file(entry, os.fstat(src)) or result.size != entry.size:
            raise FolderBusy(path=str(display))
    finally:
        os.close(src)
    fd = os.open(blob, os.O_RDONLY | _BINARY)
    try:
        # Every chunk authenticated, in order, up to the final one: the blob holds exactly what was read.
        check = stream.decrypt_stream(fd, None, key=key, generation=gen, blob=entry.number, buffers=buffers)
    except CorruptBlob:
        raise VerifyFailed(item=entry.path) from None
    finally:
        os.close(fd)
    if check.size != entry.size:
        raise VerifyFailed(item=entry.path)


def _write_new(path: Path, data: bytes) -> None:
    """A new file in the generation; durable by the generation's syncfs, or by its own fsync without one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o600)
    try:
        write_all(fd, data)
        if not BATCH_SYNC:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(
    gen_dir: Path, generation: str, private: X25519PrivateKey
) -> tuple[bytes, Entry, list[Entry]]:
    """The generation key and its entries; CorruptBlob if either is damaged."""
    try:
        sealed_key = (gen_dir / KEY_FILE).read_bytes()
    except FileNotFoundError:
        raise CorruptBlob("generation key missing") from None
    key = open_generation_key(private, generation, sealed_key)
    try:
        raw = stream.decrypt_path(str(gen_dir / MANIFEST_FILE), key, _gen_bytes(generation), 0)
    except FileNotFoundError:
        raise CorruptBlob("manifest missing") from None
    return (key, *parse_manifest(raw))


def restore_folder(
    gen_dir: Path,
    generation: str,
    *,
    key: bytes,
    root: Entry,
    entries: list[Entry],
    staging: Path,
    buffers: stream.Buffers,
    on_file: Callable[[], None] = lambda: None,
) -> Restored:
    """Decrypt every entry into `staging` (a new directory), fsync it all; damaged files are skipped."""
    gen = _gen_bytes(generation)
    restored = Restored()
    staging.mkdir(mode=0o700)
    dirs: list[tuple[Path, Entry]] = []
    for entry in entries:  # parents come before children
        if entry.kind == "dir":
            target = local_path(staging, entry.path)
            target.mkdir(mode=0o700)
            dirs.append((target, entry))

    def restore_one(entry: Entry, bufs: stream.Buffers) -> None:
        if not _restore_file(
            gen_dir / entry.blob, local_path(staging, entry.path), key=key, gen=gen, entry=entry, buffers=bufs
        ):
            restored.damaged.append(entry.path)  # list.append is atomic under the GIL
        on_file()

    files = sorted((e for e in entries if e.kind == "file"), key=lambda e: -e.size)
    _parallel(files, restore_one, buffers.chunk_size)
    restored.damaged.sort()
    for entry in entries:
        if entry.kind == "link":
            # Recreated as a link; never followed, so it cannot make us write outside the folder.
            local_path(staging, entry.path).symlink_to(entry.target)
    for target, entry in reversed(dirs):
        restore_metadata(target, entry)
        if not BATCH_SYNC:
            fsync_dir(target)
    if BATCH_SYNC:
        sync_filesystem(staging)  # every file and directory, in one go
    fsync_dir(staging)
    restore_metadata(staging, root)
    return restored


def _restore_file(
    blob: Path, target: Path, *, key: bytes, gen: bytes, entry: Entry, buffers: stream.Buffers
) -> bool:
    try:
        src = os.open(blob, os.O_RDONLY | _BINARY)
    except FileNotFoundError:
        return False
    dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY | _NOFOLLOW, 0o600)
    try:
        result = stream.decrypt_stream(
            src,
            lambda chunk: write_all(dst, chunk),
            key=key,
            generation=gen,
            blob=entry.number,
            buffers=buffers,
        )
        ok = result.size == entry.size  # every chunk authenticated; the manifest must agree on the size
        if BATCH_SYNC:
            start_writeback(dst)
        else:
            os.fsync(dst)
    except CorruptBlob:
        ok = False
    finally:
        os.close(dst)
        os.close(src)
    if not ok:
        target.unlink()  # an incomplete file would pass for the real one
        return False
    restore_metadata(target, entry)
    return True
