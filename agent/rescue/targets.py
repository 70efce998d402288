"""What may be written where, for `rescue_write_image`: the image must be a plain file in the inbox, the
disk a whole disk that is neither the one the rescue system runs from nor in use.

Pure functions over text (`/proc/mounts`) and paths, so the refusals are tested without a PC."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from agent.inbox.names import PARTIAL_PREFIX
from agent.rescue.disks import Disk

# Where the rescue system's own files come from: the boot medium (CD, USB stick, or the hard-disk
# edition's partition) and the root file system.
SYSTEM_MOUNTS = ("/run/live/medium", "/lib/live/mount/medium", "/")
_OCTAL = re.compile(r"\\([0-7]{3})")  # /proc/mounts writes a space as \040


class TargetError(ValueError):
    """The image or the disk cannot be used; `code` says which rule (tests, the engineer's error)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def inbox_file(inbox: Path, name: str) -> Path:
    """The file `name` directly inside `inbox`: no separators, no `..`, no hidden or half-received
    file, no link, nothing but a regular file."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(".")
        or name.startswith(PARTIAL_PREFIX)
    ):
        raise TargetError("image.name", f"not a file name in the inbox: {name!r}")
    path = inbox / name
    try:
        info = os.lstat(path)
    except OSError:
        raise TargetError("image.missing", f"no file {name!r} in the inbox") from None
    if not stat.S_ISREG(info.st_mode):
        raise TargetError("image.not_file", f"{name!r} in the inbox is not a plain file")
    if path.resolve().parent != inbox.resolve():
        raise TargetError("image.name", f"{name!r} is not inside the inbox")
    return path


def mount_sources(mounts_text: str) -> dict[str, str]:
    """Mount point → source device, from `/proc/mounts` (octal escapes decoded)."""
    found: dict[str, str] = {}
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[1])
            found[point] = fields[0]
    return found


def mounted_on(disk: Disk, mounts_text: str) -> list[str]:
    """The disk's devices (itself, its partitions) that something is mounted from."""
    mine = {disk.device, *(p.device for p in disk.partitions)}
    return sorted({src for src in mount_sources(mounts_text).values() if src in mine})


def whole_disk(device: str, sys_block: Path = Path("/sys/class/block")) -> str:
    """`/dev/sdb1` → `/dev/sdb` (by sysfs: a partition's directory sits in its disk's); a disk stays."""
    name = Path(os.path.realpath(device)).name if device.startswith("/dev/") else device
    entry = sys_block / name
    if (entry / "partition").exists():
        return "/dev/" + os.path.realpath(entry).rstrip("/").rsplit("/", 2)[-2]
    return "/dev/" + name


def running_from(mounts_text: str, sys_block: Path = Path("/sys/class/block")) -> set[str]:
    """The whole disks the rescue system itself runs from (its boot medium and root)."""
    sources = mount_sources(mounts_text)
    disks: set[str] = set()
    for point in SYSTEM_MOUNTS:
        source = sources.get(point, "")
        if source.startswith("/dev/"):
            disks.add(whole_disk(source, sys_block))
    return disks
