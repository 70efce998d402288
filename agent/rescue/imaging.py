"""Writing a disk image to a whole disk and reading it back: the one writer behind `rme-agent rescue
write-usb`, the panel's USB writer and the `rescue_write_image` action.

Large blocks (4 MiB), `fsync`, the device dropped from the page cache (`posix_fadvise DONTNEED`) so the
read-back comes from the disk and not from memory, then the SHA-256 of what was read compared with the
SHA-256 of what was written. A `threading.Event` stops a write or a read-back between two blocks (the
kill switch): the disk is then left part image, part old contents.

Compressed images (`.gz`, `.xz`) are decompressed on the fly with the standard library; `.zst` is not
supported (Python 3.11 has no zstd and the agent carries no extra library for it): `ImageError`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import lzma
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 4 << 20

Progress = Callable[[int, int], None]


class ImageError(ValueError):
    """The image cannot be read as given (an unsupported compression, a damaged archive)."""


class Cancelled(Exception):
    """The write or the read-back was stopped (kill switch)."""


class Mismatch(Exception):
    """What was read back from the disk is not what was written."""


COMPRESSED = (".gz", ".xz")
UNSUPPORTED = (".zst", ".zstd", ".bz2", ".zip", ".7z")


def compression(name: str) -> str | None:
    """`gz`, `xz` or None (raw) from the file name; ImageError for a format we cannot read."""
    lower = name.lower()
    for suffix in COMPRESSED:
        if lower.endswith(suffix):
            return suffix[1:]
    for suffix in UNSUPPORTED:
        if lower.endswith(suffix):
            raise ImageError(f"{suffix} images are not supported: send it uncompressed, .gz or .xz")
    return None


@contextlib.contextmanager
def open_image(path: Path) -> Iterator[BinaryIO]:
    """The image's bytes as they go to the disk (decompressed when the name says so)."""
    kind = compression(path.name)
    if kind == "gz":
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    elif kind == "xz":
        with lzma.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    else:
        with path.open("rb") as stream:
            yield stream


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while block := stream.read(CHUNK):
            yield block
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile, zlib.error) as exc:
        raise ImageError(f"the compressed image is damaged: {exc}") from None


def measure(path: Path, cancel: threading.Event | None = None) -> tuple[int, str]:
    """(size, SHA-256) of what would be written: the file itself, or its decompressed contents."""
    raw = compression(path.name) is None
    size = path.stat().st_size
    digest = hashlib.sha256()
    total = 0
    with open_image(path) as stream:
        for block in _blocks(stream):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            digest.update(block)
            total += len(block)
    if raw and total != size:
        raise ImageError("the image changed while it was read")
    return total, digest.hexdigest()


def file_sha256(path: Path, cancel: threading.Event | None = None) -> str:
    """SHA-256 of the file as stored (compressed or not): what the engineer pushed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            digest.update(block)
    return digest.hexdigest()


def device_size(device: str) -> int:
    """The size in bytes of a block device (or a file), by seeking to its end."""
    fd = os.open(device, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def write_image(
    image: Path,
    device: str,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    total: int | None = None,
) -> str:
    """Write `image` (decompressed if its name says so) to the start of `device`, fsync, drop the device
    from the page cache; returns the SHA-256 of the bytes written.

    The device is opened with O_EXCL: Linux then refuses (EBUSY) a disk with a mounted partition, an
    active swap or a device-mapper user, whatever the earlier checks concluded."""
    size = total if total is not None else (image.stat().st_size if compression(image.name) is None else 0)
    digest = hashlib.sha256()
    done = 0
    fd = os.open(device, os.O_WRONLY | os.O_EXCL | os.O_CLOEXEC)
    try:
        with open_image(image) as src:
            for block in _blocks(src):
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                digest.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view) :]
                done += len(block)
                if progress:
                    progress(done, max(size, done))
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return digest.hexdigest()


def read_back(
    device: str, size: int, progress: Progress | None = None, cancel: threading.Event | None = None
) -> str:
    """SHA-256 of the first `size` bytes of `device`, dropped from the page cache first."""
    digest = hashlib.sha256()
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        done = 0
        while done < size:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            chunk = os.read(fd, min(CHUNK, size - done))
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, size)
    finally:
        os.close(fd)
    return digest.hexdigest()


def write_and_verify(
    image: Path,
    device: str,
    size: int,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    on_verify: Callable[[], None] | None = None,
) -> str:
    """Write, then read back `size` bytes and compare; returns the SHA-256, raises Mismatch."""
    wrote = write_image(image, device, progress, cancel, total=size)
    if on_verify is not None:
        on_verify()
    read = read_back(device, size, progress, cancel)
    if read != wrote:
        raise Mismatch(f"read back {read[:16]}…, wrote {wrote[:16]}…")
    return wrote
