"""The PC's disks as the rescue actions see them: `lsblk` for the layout, `smartctl` for health, a
read-only mount for "which system is installed here". Linux only (the rescue live system)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MOUNTABLE = {"ext2", "ext3", "ext4", "ntfs", "vfat", "exfat", "btrfs", "xfs"}


class DiskError(RuntimeError):
    """A disk could not be read, mounted or written; the message says which and why."""


@dataclass
class Partition:
    device: str
    size: int
    fstype: str | None
    label: str | None
    os: str | None = None


@dataclass
class Disk:
    device: str
    size: int
    model: str | None
    removable: bool
    smart: str | None = None
    partitions: list[Partition] = field(default_factory=list)


def _lsblk() -> list[dict[str, object]]:
    out = subprocess.run(
        ["lsblk", "-J", "-b", "-o", "NAME,PATH,SIZE,TYPE,FSTYPE,LABEL,MODEL,RM,HOTPLUG,TRAN"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return list(json.loads(out).get("blockdevices", []))


def _flag(value: object) -> bool:
    return value in (True, 1, "1", "true")


def disks() -> list[Disk]:
    """Whole disks (no CD drives, loop or RAM devices) with their partitions."""
    found: list[Disk] = []
    for dev in _lsblk():
        if dev.get("type") != "disk":
            continue
        disk = Disk(
            device=str(dev["path"]),
            size=int(str(dev.get("size") or 0)),
            model=(str(dev["model"]).strip() or None) if dev.get("model") else None,
            removable=_flag(dev.get("rm")) or dev.get("tran") == "usb",  # not HOTPLUG: PCI disks say so too
        )
        children = dev.get("children") or []
        assert isinstance(children, list)
        for child in children:
            disk.partitions.append(
                Partition(
                    device=str(child["path"]),
                    size=int(str(child.get("size") or 0)),
                    fstype=str(child["fstype"]) if child.get("fstype") else None,
                    label=str(child["label"]) if child.get("label") else None,
                )
            )
        if not disk.partitions and dev.get("fstype"):  # a file system on the whole disk (a USB stick)
            disk.partitions.append(
                Partition(disk.device, disk.size, str(dev["fstype"]), str(dev.get("label") or "") or None)
            )
        found.append(disk)
    return found


def smart_health(device: str) -> str | None:
    result = subprocess.run(
        ["smartctl", "-H", "-j", device], capture_output=True, text=True, check=False, timeout=30
    )
    try:
        status = json.loads(result.stdout).get("smart_status")
    except ValueError:
        return None
    if not isinstance(status, dict) or "passed" not in status:
        return None
    return "PASSED" if status["passed"] else "FAILED"


@contextlib.contextmanager
def mounted(device: str, fstype: str | None, *, writable: bool = False) -> Iterator[Path]:
    """`device` mounted (read-only unless `writable`) on a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="rme-mnt-") as tmp:
        point = Path(tmp)
        options = "rw,nosuid,nodev,noexec" if writable else "ro,nosuid,nodev,noexec"
        cmd = ["mount", "-o", options]
        if fstype == "ntfs":
            cmd += ["-t", "ntfs-3g"]
        elif fstype == "vfat":
            cmd[-1] += ",utf8"  # long names in UTF-8 (the kernel's default charset is not)
        result = subprocess.run(
            [*cmd, device, str(point)], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise DiskError(f"cannot mount {device}: {result.stderr.strip()[:200]}")
        try:
            yield point
        finally:
            subprocess.run(["sync"], check=False, timeout=120)
            subprocess.run(["umount", str(point)], capture_output=True, check=False, timeout=120)


def installed_os(root: Path) -> str | None:
    """The system installed at `root` (a mounted partition), by its own marker files."""
    if (root / "Windows" / "System32" / "ntoskrnl.exe").exists():
        return "Windows"
    for name in ("etc/os-release", "usr/lib/os-release"):
        path = root / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("PRETTY_NAME="):
                    return line.partition("=")[2].strip().strip('"')[:100] or "Linux"
            return "Linux"
    if (root / "EFI" / "Microsoft" / "Boot").is_dir():
        return "Windows Boot Manager"
    return None


def inventory() -> list[Disk]:
    found = disks()
    for disk in found:
        disk.smart = smart_health(disk.device)
        for part in disk.partitions:
            if part.fstype in MOUNTABLE:
                with (
                    contextlib.suppress(DiskError, OSError, subprocess.SubprocessError),
                    mounted(part.device, part.fstype) as root,
                ):
                    part.os = installed_os(root)
    return found


def find_partition(device: str) -> tuple[Disk, Partition]:
    for disk in disks():
        for part in disk.partitions:
            if part.device == device:
                return disk, part
    raise DiskError(f"no partition {device}")
