"""A journaled ext4 on a loop device backed by a file on the same disk, for file-system benchmarks.

Why: this VM's root file system is ext4 *without* a journal. There, ext4 will not reuse an inode freed in
the last minutes (`recently_deleted()` in fs/ext4/ialloc.c, only checked when there is no journal), and
every new file scans past all of them: after a tree of 2,000 files is deleted, each file created costs
~1 ms of kernel time, so *any* copy of many small files crawls, `cp` included. No desktop installer
makes such a file system; the ext4 every Linux distribution creates has a journal. The loop device uses
direct I/O, so its writes go to the same disk without a second page cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOOLS = ("losetup", "mkfs.ext4", "mount", "umount")


def missing() -> str | None:
    """Why a loop file system cannot be made here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (losetup, mount)"
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return "missing " + ", ".join(absent)
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control"
    return None


def describe(path: Path) -> str:
    """File system type and, for ext4, whether it has a journal (what decides per-file costs here)."""
    found = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(path)], capture_output=True, text=True, check=False
    ).stdout.split()
    if len(found) < 2:
        return "unknown file system"
    source, fstype = found[0], found[1]
    if fstype != "ext4":
        return fstype
    journaled = any(Path("/proc/fs/jbd2").glob(f"{Path(source).name}-*"))
    return f"ext4 {'with' if journaled else 'WITHOUT'} a journal ({source})"


@contextmanager
def journaled_ext4(size_mb: int, backing_dir: Path | None = None) -> Iterator[Path]:
    """Mount a fresh journaled ext4 of `size_mb`; yields its mount point and removes everything after."""
    work = Path(tempfile.mkdtemp(prefix="rme-loopfs-", dir=backing_dir))
    image, mount_point = work / "fs.img", work / "mnt"
    mount_point.mkdir()
    device = ""
    try:
        with image.open("wb") as handle:
            handle.truncate(size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-j", str(image)], check=True)
        device = subprocess.run(
            ["losetup", "--find", "--show", "--direct-io=on", str(image)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        subprocess.run(["mount", device, str(mount_point)], check=True)
        try:
            yield mount_point
        finally:
            subprocess.run(["umount", str(mount_point)], check=True)
    finally:
        if device:
            subprocess.run(["losetup", "-d", device], check=False)
        shutil.rmtree(work, ignore_errors=True)
