"""The USB writer: disk discovery over recorded `lsblk -J` outputs (only removable, unmounted disks),
the texts in both languages, and the real write → fsync → read-back → compare path on a loop device."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.rescue import usb
from bench._loopfs import missing
from tests.lab.managed import require

# Recorded on a laptop (lsblk 2.38, `-J -b -o NAME,PATH,SIZE,TYPE,MODEL,VENDOR,RM,TRAN,MOUNTPOINTS`),
# trimmed: an internal SATA disk, a mounted USB stick, an unmounted one, an empty card reader, a loop.
RECORDED: dict[str, Any] = {
    "blockdevices": [
        {"name": "loop0", "path": "/dev/loop0", "size": 58363904, "type": "loop", "model": None,
         "vendor": None, "rm": False, "tran": None, "mountpoints": ["/snap/core18/2829"]},
        {"name": "sda", "path": "/dev/sda", "size": 512110190592, "type": "disk", "model": "Samsung SSD 860",
         "vendor": "ATA     ", "rm": False, "tran": "sata", "mountpoints": [None],
         "children": [
             {"name": "sda1", "path": "/dev/sda1", "size": 536870912, "type": "part", "model": None,
              "vendor": None, "rm": False, "tran": None, "mountpoints": ["/boot/efi"]},
             {"name": "sda2", "path": "/dev/sda2", "size": 511571165184, "type": "part", "model": None,
              "vendor": None, "rm": False, "tran": None, "mountpoints": ["/"]}]},
        {"name": "sdb", "path": "/dev/sdb", "size": 15376318464, "type": "disk", "model": "Ultra Fit",
         "vendor": "SanDisk ", "rm": True, "tran": "usb", "mountpoints": [None],
         "children": [
             {"name": "sdb1", "path": "/dev/sdb1", "size": 15375269888, "type": "part", "model": None,
              "vendor": None, "rm": True, "tran": None, "mountpoints": ["/media/zhang/U盘"]}]},
        {"name": "sdc", "path": "/dev/sdc", "size": 31004295168, "type": "disk", "model": "DataTraveler 3.0",
         "vendor": "Kingston", "rm": False, "tran": "usb", "mountpoints": [None],
         "children": [
             {"name": "sdc1", "path": "/dev/sdc1", "size": 31003246592, "type": "part", "model": None,
              "vendor": None, "rm": False, "tran": None, "mountpoints": [None]}]},
        {"name": "sdd", "path": "/dev/sdd", "size": 0, "type": "disk", "model": "SD/MMC Reader",
         "vendor": "Generic-", "rm": True, "tran": "usb", "mountpoints": [None]},
    ]
}  # fmt: skip
ISO_SIZE = 190_000_000
ARGV = [sys.executable, "-m", "agent.cli", "rescue", "write-usb"]


def test_lists_removable_disks_only() -> None:
    offered = usb.removable_disks(RECORDED)
    assert [d.path for d in offered] == ["/dev/sdb", "/dev/sdc"]
    sdc = offered[1]
    assert (
        sdc.model == "Kingston DataTraveler 3.0"
        and sdc.label() == "Kingston DataTraveler 3.0 (31.0 GB, /dev/sdc)"
    )
    assert offered[0].mounts == ("/media/zhang/U盘",)


def test_choosing() -> None:
    assert usb.choose(RECORDED, "/dev/sdc", ISO_SIZE).path == "/dev/sdc"
    cases = [
        ("/dev/sda", "not a removable disk"),
        ("/dev/sdb", "has mounted partitions (/media/zhang/U盘)"),
        ("/dev/sdz", "No such disk: /dev/sdz"),
        ("/dev/loop0", "No such disk"),  # not a whole disk
        ("/dev/sdd", "too small"),  # the empty card reader: removable, 0 bytes
    ]
    for device, why in cases:
        with pytest.raises(usb.UsbError, match=why.replace("(", r"\(").replace(")", r"\)")):
            usb.choose(RECORDED, device, ISO_SIZE)
    with pytest.raises(usb.UsbError, match="More than one USB disk"):
        usb.choose(RECORDED, None, ISO_SIZE)
    only = {"blockdevices": [d for d in RECORDED["blockdevices"] if d["name"] != "sdb"]}
    assert usb.choose(only, None, ISO_SIZE).path == "/dev/sdc"
    with pytest.raises(usb.UsbError, match="No removable USB disk"):
        usb.choose({"blockdevices": RECORDED["blockdevices"][:2]}, None, ISO_SIZE)
    with pytest.raises(usb.UsbError, match="too small"):
        usb.choose(RECORDED, "/dev/sdc", 40_000_000_000)


def test_texts_in_both_languages() -> None:
    try:
        usb.choose(RECORDED, "/dev/sda", ISO_SIZE)
    except usb.UsbError as exc:
        assert exc.text.render("zh-CN", **exc.fields) == "/dev/sda 不是可移动磁盘，拒绝写入（只写 U 盘）。"
    disk = usb.choose(RECORDED, "/dev/sdc", ISO_SIZE)
    fields = {"iso": "zhang.iso", "model": disk.model, "size": usb.human_size(disk.size), "device": disk.path}
    zh, en = usb.T_CONFIRM.render("zh-CN", **fields), usb.T_CONFIRM.render("en", **fields)
    for text in (zh, en):
        assert "Kingston DataTraveler 3.0" in text and "31.0 GB" in text and "/dev/sdc" in text
    assert "是" in en and "yes" in zh
    assert usb.progress_bar(50, 200, width=10) == "[##........]  25.0% 50 B / 200 B"


def test_cli_refuses_what_is_not_a_usb_disk(tmp_path: Path) -> None:
    iso = tmp_path / "r.iso"
    iso.write_bytes(b"x" * 4096)
    run = subprocess.run(
        [*ARGV, "--iso", str(iso), "--device", "/dev/rme-none", "--lang", "zh-CN"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1 and "找不到磁盘 /dev/rme-none" in run.stderr


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[str]:
    require(missing())
    backing = tmp_path / "usb.img"
    with backing.open("wb") as handle:
        handle.truncate(8 << 20)
    device = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_writes_and_verifies_on_a_loop_device(tmp_path: Path, loop_device: str) -> None:
    # A loop device is not removable, so `choose` would refuse it (as it must): the test injects the
    # disk it made itself instead of the writer having a switch that skips the check.
    iso = tmp_path / "rescue.iso"
    iso.write_bytes(os.urandom(5 << 20) + b"tail")
    disk = usb.UsbDisk(path=loop_device, size=8 << 20, model="loop", removable=True, mounts=())
    seen: list[tuple[int, int]] = []
    digest = usb.write_and_verify(iso, disk, lambda done, total: seen.append((done, total)))
    assert digest == hashlib.sha256(iso.read_bytes()).hexdigest()
    with open(loop_device, "rb") as dev:
        assert dev.read(iso.stat().st_size) == iso.read_bytes()
    assert seen[-1] == (iso.stat().st_size, iso.stat().st_size) and len(seen) >= 4  # write + read back
    fd = os.open(loop_device, os.O_WRONLY)  # one flipped byte on the "stick": read-back sees it
    try:
        os.pwrite(fd, b"\xff", 1 << 20)
        os.fsync(fd)
    finally:
        os.close(fd)
    assert usb.read_back(loop_device, iso.stat().st_size) != digest
