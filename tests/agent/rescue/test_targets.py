"""Where an image may be written from and to: a plain file in the inbox (no path tricks); mounts read
from /proc/mounts text; the disk the rescue system runs from, found through sysfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.rescue.disks import Disk, Partition
from agent.rescue.targets import TargetError, inbox_file, mount_sources, mounted_on, running_from, whole_disk

MOUNTS = """\
sysfs /sys sysfs rw 0 0
/dev/sr0 /run/live/medium iso9660 ro 0 0
overlay / overlay rw 0 0
/dev/sdc1 /media/zhang/U\\040盘 vfat rw 0 0
/dev/sda10 /x ext4 rw 0 0
"""


def test_inbox_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "win.img").write_bytes(b"x")
    (tmp_path / "outside.img").write_bytes(b"y")
    (inbox / "link.img").symlink_to(tmp_path / "outside.img")
    (inbox / "dir.img").mkdir()
    assert inbox_file(inbox, "win.img") == inbox / "win.img"
    cases = {
        "": "image.name", ".": "image.name", "..": "image.name", "../outside.img": "image.name",
        str(tmp_path / "outside.img"): "image.name", "a\\..\\b": "image.name", "x\x00y": "image.name",
        ".hidden": "image.name", ".rme-partial-abc": "image.name", "link.img": "image.not_file",
        "dir.img": "image.not_file", "nope.img": "image.missing",
    }  # fmt: skip
    for name, code in cases.items():
        with pytest.raises(TargetError) as caught:
            inbox_file(inbox, name)
        assert caught.value.code == code, name


def test_mounts() -> None:
    sources = mount_sources(MOUNTS)
    assert sources["/media/zhang/U 盘"] == "/dev/sdc1" and sources["/run/live/medium"] == "/dev/sr0"
    sda = Disk("/dev/sda", 1, None, False, partitions=[Partition("/dev/sda1", 1, "ntfs", None)])
    assert mounted_on(sda, MOUNTS) == []  # /dev/sda10 is another partition, not sda1
    sdc = Disk("/dev/sdc", 1, None, True, partitions=[Partition("/dev/sdc1", 1, "vfat", None)])
    assert mounted_on(sdc, MOUNTS) == ["/dev/sdc1"]


def test_the_disk_the_rescue_system_runs_from(tmp_path: Path) -> None:
    # sysfs as the kernel lays it out: /sys/class/block/sdb1 → …/block/sdb/sdb1 (with a `partition` file)
    devices = tmp_path / "devices" / "block"
    (devices / "sdb" / "sdb1").mkdir(parents=True)
    (devices / "sdb" / "sdb1" / "partition").write_text("1\n")
    (devices / "sr0").mkdir()
    block = tmp_path / "class-block"
    block.mkdir()
    for name, target in {
        "sdb": devices / "sdb",
        "sdb1": devices / "sdb" / "sdb1",
        "sr0": devices / "sr0",
    }.items():
        os.symlink(target, block / name)
    assert whole_disk("sdb1", block) == "/dev/sdb" and whole_disk("sdb", block) == "/dev/sdb"
    assert running_from(MOUNTS, block) == {"/dev/sr0"}  # a CD; the root is an overlay
    usb = "/dev/sdb1 /run/live/medium vfat ro 0 0\noverlay / overlay rw 0 0\n"
    assert running_from(usb, block) == {"/dev/sdb"}  # a USB stick: the whole stick is refused
