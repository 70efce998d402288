"""`rme-agent rescue write-usb`: the rescue ISO written raw to a USB disk, then read back and compared.

Discovery is pure (`removable_disks`, `choose` over `lsblk -J` output), so it is tested with recorded
outputs. Only removable disks (sysfs `removable` flag = lsblk RM, or transport usb) are offered; a disk
with anything mounted is refused. There is no switch to write to a fixed disk: a test that writes to a
loop device hands `write_image` a disk it built itself (the list is injected, not the check bypassed).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.rescue import imaging
from protocol.texts import Text

CHUNK = imaging.CHUNK
LSBLK = ["lsblk", "-J", "-b", "-o", "NAME,PATH,SIZE,TYPE,MODEL,VENDOR,RM,TRAN,MOUNTPOINTS"]

T_NONE = Text(
    "没有找到可移动的 U 盘。请插入 U 盘后重试。", "No removable USB disk found. Plug one in and try again."
)
T_NOT_REMOVABLE = Text(
    "{device} 不是可移动磁盘，拒绝写入（只写 U 盘）。",
    "{device} is not a removable disk: refused (USB disks only).",
)
T_MOUNTED = Text(
    "{device} 上有已挂载的分区（{where}），请先弹出再试。",
    "{device} has mounted partitions ({where}): eject them first.",
)
T_UNKNOWN = Text("找不到磁盘 {device}。", "No such disk: {device}.")
T_TOO_SMALL = Text(
    "{device} 太小（{size}），镜像需要 {need}。", "{device} is too small ({size}); the image needs {need}."
)
T_CONFIRM = Text(
    "将把 {iso} 写入 {model}（{size}，{device}）。盘上现有的所有数据都会被抹掉。输入 yes 或 是 继续：",
    "This writes {iso} to {model} ({size}, {device}). Everything on that disk will be erased. "
    "Type yes or 是 to go on: ",
)
T_CANCELLED = Text("已取消，什么也没有写。", "Cancelled: nothing was written.")
T_VERIFYING = Text("正在读回校验……", "Reading back to verify...")
T_DONE = Text(
    "写入并校验完成：{device}（SHA-256 {digest}）。", "Written and verified: {device} (SHA-256 {digest})."
)
T_MISMATCH = Text(
    "校验失败：读回的数据与镜像不一致，这个 U 盘不能用。",
    "Verification failed: what was read back differs from the image.",
)
YES = ("yes", "是")


class UsbError(RuntimeError):
    """A refusal or a failure, with the text to show (both languages)."""

    def __init__(self, text: Text, **fields: object) -> None:
        super().__init__(text.en.format(**fields))
        self.text = text
        self.fields = fields


@dataclass(frozen=True)
class UsbDisk:
    path: str
    size: int
    model: str
    removable: bool
    mounts: tuple[str, ...]

    def label(self) -> str:
        return f"{self.model or '?'} ({human_size(self.size)}, {self.path})"


def human_size(size: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def _flag(value: object) -> bool:
    return value is True or value in ("1", 1, "true")


def _mounts(dev: dict[str, Any]) -> list[str]:
    points = [p for p in dev.get("mountpoints") or [] if p]
    if dev.get("mountpoint"):
        points.append(dev["mountpoint"])
    for child in dev.get("children") or []:
        points.extend(_mounts(child))
    return points


def all_disks(lsblk: dict[str, Any]) -> list[UsbDisk]:
    """Every whole disk in `lsblk -J -b` output (`blockdevices`)."""
    found = []
    for dev in lsblk.get("blockdevices", []):
        if dev.get("type") != "disk":
            continue
        model = " ".join(
            str(x).strip() for x in (dev.get("vendor"), dev.get("model")) if x and str(x).strip()
        )
        found.append(
            UsbDisk(
                path=str(dev.get("path") or f"/dev/{dev['name']}"),
                size=int(dev.get("size") or 0),
                model=model,
                removable=_flag(dev.get("rm")) or dev.get("tran") == "usb",
                mounts=tuple(_mounts(dev)),
            )
        )
    return found


def removable_disks(lsblk: dict[str, Any]) -> list[UsbDisk]:
    """What the writer offers: removable disks with a size (card readers without a card say 0)."""
    return [d for d in all_disks(lsblk) if d.removable and d.size > 0]


def choose(lsblk: dict[str, Any], device: str | None, image_size: int) -> UsbDisk:
    """The disk to write: `device` when given (checked), else the only removable disk offered."""
    if device is None:
        offered = removable_disks(lsblk)
        if not offered:
            raise UsbError(T_NONE)
        if len(offered) > 1:
            raise UsbError(
                Text(
                    "有多个 U 盘，请用 --device 指定：{list}",
                    "More than one USB disk: pick one with --device: {list}",
                ),
                list=", ".join(d.label() for d in offered),
            )
        disk = offered[0]
    else:
        real = os.path.realpath(device)
        matches = [d for d in all_disks(lsblk) if d.path in (device, real)]
        if not matches:
            raise UsbError(T_UNKNOWN, device=device)
        disk = matches[0]
        if not disk.removable:
            raise UsbError(T_NOT_REMOVABLE, device=disk.path)
    if disk.mounts:
        raise UsbError(T_MOUNTED, device=disk.path, where=", ".join(disk.mounts))
    if disk.size < image_size:
        raise UsbError(T_TOO_SMALL, device=disk.path, size=human_size(disk.size), need=human_size(image_size))
    return disk


def read_lsblk() -> dict[str, Any]:
    out = subprocess.run(LSBLK, capture_output=True, text=True, check=True).stdout
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def progress_bar(done: int, total: int, width: int = 30) -> str:
    frac = 1.0 if total <= 0 else min(1.0, done / total)
    filled = int(frac * width)
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {frac * 100:5.1f}% {human_size(done)} / {human_size(total)}"


Progress = imaging.Progress


def write_image(iso: Path, device: str, progress: Progress | None = None) -> str:
    """Write `iso` to the start of `device`, fsync; returns the image's SHA-256 (`imaging.write_image`)."""
    return imaging.write_image(iso, device, progress, total=iso.stat().st_size)


def read_back(device: str, size: int, progress: Progress | None = None) -> str:
    """SHA-256 of the first `size` bytes of `device`, dropped from the page cache first."""
    return imaging.read_back(device, size, progress)


def write_and_verify(
    iso: Path, disk: UsbDisk, progress: Progress | None = None, cancel: threading.Event | None = None
) -> str:
    try:
        return imaging.write_and_verify(iso, disk.path, iso.stat().st_size, progress=progress, cancel=cancel)
    except imaging.Mismatch:
        raise UsbError(T_MISMATCH) from None
