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
from typing import Any

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
    FD_METADATA,
    Entry,
    local_path,
    manifest_binding,
    manifest_bytes,
    parse_manifest,
    restore_metadata,
    root_entry,
    scan,
)

_BINARY = getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
WORKERS = 4
PACK_MEMBER_MAX = 1024 * 1024  # files up to this size share pack blobs ...
PACK_TARGET = 8 * 1024 * 1024  # ... of about this many bytes
# A pack is padded with random bytes to a size bucket, so its size no longer gives away how many files
# are in it (each adds a 48-byte header and tag): steps of 1/16 of the size, at least 64 KiB.
PAD_MIN_STEP = 64 * 1024
LINK_TIMES = os.utime in os.supports_follow_symlinks
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


def _parallel(items: list[Blob], work: Callable[[Blob, stream.Buffers], None], chunk_size: int) -> None:
    """Run `work` over the blobs on a few threads (each with its own buffers), stopping at the first error.

    File I/O and AES-GCM release the GIL, so the cipher of big files runs on every core while packs of
    small files make their syscalls; the pool is drained before an error propagates, so a rollback never
    races a worker.
    """
    local = threading.local()

    def task(blob: Blob) -> None:
        if not hasattr(local, "buffers"):
            local.buffers = stream.Buffers(chunk_size)
        work(blob, local.buffers)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(task, blob) for blob in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


@dataclass
class Blob:
    """One file in the generation: a big file's ciphertext alone, or a pack of small files back to back."""

    name: str
    entries: list[Entry] = field(default_factory=list)  # in the order their ciphertext lies in the file
    size: int = 0  # plaintext bytes
    pack: bool = False  # small files back to back: padded to a bucket


def padded_size(length: int) -> int:
    """The bucket a pack of `length` bytes is padded to (≤ 1/16 more, or ≤ 64 KiB for small packs)."""
    step = max(PAD_MIN_STEP, 1 << max(0, length.bit_length() - 4))
    return -(-length // step) * step


def plan_blobs(files: list[Entry]) -> list[Blob]:
    """Number every file and give it a blob: big files one each, small ones packed in scan order (so a
    folder's files sit together). Largest first, so one big file does not start last and run alone."""
    blobs: list[Blob] = []
    pack: Blob | None = None
    for number, entry in enumerate(files, start=1):
        entry.number = number
        if entry.size > PACK_MEMBER_MAX:
            blob = Blob(os.urandom(12).hex())
            blobs.append(blob)
        else:
            if pack is None or pack.size >= PACK_TARGET:
                pack = Blob(os.urandom(12).hex(), pack=True)
                blobs.append(pack)
            blob = pack
        entry.blob = blob.name
        blob.entries.append(entry)
        blob.size += entry.size
    return sorted(blobs, key=lambda b: -b.size)


def blobs_of(entries: list[Entry]) -> list[Blob]:
    """The blobs a manifest names, each with its files in offset order (one file each before packs)."""
    by_name: dict[str, Blob] = {}
    for entry in entries:
        if entry.kind == "file":
            blob = by_name.setdefault(entry.blob, Blob(entry.blob))
            blob.entries.append(entry)
            blob.size += entry.size
    for blob in by_name.values():
        blob.entries.sort(key=lambda e: e.offset)
    return sorted(by_name.values(), key=lambda b: -b.size)


def seal_folder(
    source: Path,
    display: Path,
    *,
    gen_dir: Path,
    generation: str,
    public_key: bytes,
    buffers: stream.Buffers,
    binding: dict[str, str] | None = None,
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
    blobs = plan_blobs([e for e in entries if e.kind == "file"])

    def seal_one(blob: Blob, bufs: stream.Buffers) -> None:
        _seal_blob(source, display, gen_dir / blob.name, blob, key=key, gen=gen, buffers=bufs)
        crash_point("close.blob")

    _parallel(blobs, seal_one, buffers.chunk_size)
    manifest = manifest_bytes(root, entries, binding)
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


def _seal_blob(
    source: Path, display: Path, path: Path, blob: Blob, *, key: bytes, gen: bytes, buffers: stream.Buffers
) -> None:
    """Encrypt the blob's files into it, then read it back and check that each authenticates."""
    dst = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o600)
    written = 0
    try:
        for entry in blob.entries:
            entry.offset = written
            written += _encrypt_file(
                source / entry.path, dst, display / entry.path, entry, key=key, gen=gen, buffers=buffers
            )
            crash_point("close.file")
        if blob.pack:
            written += _pad(dst, padded_size(written) - written)
        if BATCH_SYNC:
            start_writeback(dst)
        else:
            os.fsync(dst)
    finally:
        os.close(dst)
    fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        if os.fstat(fd).st_size != written:
            raise VerifyFailed(item=blob.entries[0].path)
        for entry in blob.entries:
            # Every chunk authenticated, in order, up to the final one: the blob holds exactly what was read.
            try:
                stream.decrypt_stream(
                    fd, None, key=key, generation=gen, blob=entry.number, buffers=buffers, size=entry.size
                )
            except CorruptBlob:
                raise VerifyFailed(item=entry.path) from None
    finally:
        os.close(fd)


def _pad(dst: int, count: int) -> int:
    """Random bytes (not zeros: they would show where the ciphertext ends)."""
    left = count
    while left:
        piece = min(left, 1024 * 1024)
        write_all(dst, os.urandom(piece))
        left -= piece
    return count


def _encrypt_file(
    source: Path, dst: int, display: Path, entry: Entry, *, key: bytes, gen: bytes, buffers: stream.Buffers
) -> int:
    """Append one file's ciphertext to `dst`; its bytes written. FolderBusy if the file changed meanwhile."""
    src = os.open(source, os.O_RDONLY | _BINARY | _NOFOLLOW)
    try:
        if not _same_file(entry, os.fstat(src)):
            raise FolderBusy(path=str(display))
        result = stream.encrypt_stream(src, dst, key=key, generation=gen, blob=entry.number, buffers=buffers)
        if not _same_file(entry, os.fstat(src)) or result.size != entry.size:
            raise FolderBusy(path=str(display))
        return result.written
    finally:
        os.close(src)


def _write_new(path: Path, data: bytes) -> None:
    """A new file in the generation; durable by the generation's syncfs, or by its own fsync without one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o600)
    try:
        write_all(fd, data)
        if not BATCH_SYNC:
            os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Manifest:
    key: bytes
    root: Entry
    entries: list[Entry]
    binding: dict[str, Any] | None  # the folder it belongs to (auth.py); None before bindings


def read_generation(gen_dir: Path, generation: str, private: X25519PrivateKey) -> Manifest:
    """The generation key, its entries and binding; CorruptBlob if any is damaged."""
    try:
        sealed_key = (gen_dir / KEY_FILE).read_bytes()
    except FileNotFoundError:
        raise CorruptBlob("generation key missing") from None
    key = open_generation_key(private, generation, sealed_key)
    try:
        raw = stream.decrypt_path(str(gen_dir / MANIFEST_FILE), key, _gen_bytes(generation), 0)
    except FileNotFoundError:
        raise CorruptBlob("manifest missing") from None
    root, entries = parse_manifest(raw)
    return Manifest(key, root, entries, manifest_binding(raw))


def read_manifest(
    gen_dir: Path, generation: str, private: X25519PrivateKey
) -> tuple[bytes, Entry, list[Entry]]:
    """The generation key and its entries; CorruptBlob if either is damaged."""
    manifest = read_generation(gen_dir, generation, private)
    return manifest.key, manifest.root, manifest.entries


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

    def restore_one(blob: Blob, bufs: stream.Buffers) -> None:
        try:
            src = os.open(gen_dir / blob.name, os.O_RDONLY | _BINARY)
        except FileNotFoundError:
            restored.damaged.extend([e.path for e in blob.entries])  # one list.extend: atomic under the GIL
            return
        try:
            for entry in blob.entries:
                target = local_path(staging, entry.path)
                if not _restore_file(src, target, key=key, gen=gen, entry=entry, buffers=bufs):
                    restored.damaged.append(entry.path)
                on_file()
        finally:
            os.close(src)

    _parallel(blobs_of(entries), restore_one, buffers.chunk_size)
    restored.damaged.sort()
    for entry in entries:
        if entry.kind == "link":
            # Recreated as a link; never followed, so it cannot make us write outside the folder.
            link = local_path(staging, entry.path)
            link.symlink_to(entry.target)
            if LINK_TIMES:  # the link's own time, not its target's
                os.utime(link, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
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
    src: int, target: Path, *, key: bytes, gen: bytes, entry: Entry, buffers: stream.Buffers
) -> bool:
    """Decrypt one file from its place in the open blob `src` into `target`; False (no file) if damaged."""
    dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY | _NOFOLLOW, 0o600)
    ok = False
    try:
        os.lseek(src, entry.offset, os.SEEK_SET)
        stream.decrypt_stream(
            src,
            lambda chunk: write_all(dst, chunk),
            key=key,
            generation=gen,
            blob=entry.number,
            buffers=buffers,
            size=entry.size,  # from the manifest: every chunk authenticated, up to the one flagged final
        )
        ok = True
        if not BATCH_SYNC:
            os.fsync(dst)
        elif entry.size > PACK_MEMBER_MAX:
            start_writeback(dst)  # small files are left to the one syncfs at the end
        if FD_METADATA:
            restore_metadata(dst, entry)
    except CorruptBlob:
        pass
    finally:
        os.close(dst)
    if not ok:
        target.unlink()  # an incomplete file would pass for the real one
        return False
    if not FD_METADATA:
        restore_metadata(target, entry)
    return True
