"""The boot-repair executor's refusals and words, on real loop-device disks (root): nothing outside the
rescue system, an unknown disk, a root partition on another disk, a disk with a partition mounted
read-write, a disk without an installed Linux; and the kill switch on a running step. (The repair that
makes a disk boot again is in tests/rescue/test_hdd_boot.py.)"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.executors.base import ActionFailed, Job
from agent.executors.rescue_boot import (
    NOT_RESCUE,
    REFUSED,
    T_IN_USE,
    T_NOT_ON_DISK,
    T_UNKNOWN_DISK,
    BootRepairExecutor,
)
from agent.rescue import bootrepair
from bench._loopfs import missing
from protocol.actions import RescueBootRepairParams
from tests.agent.executors.conftest import Recorder
from tests.lab.managed import require
from tests.rescue.userdisk import attached


@pytest.fixture
def plain_disk(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A 64 MiB MBR disk on a loop device: one ext4 partition holding files but no system."""
    require(missing())
    image = tmp_path / "plain.img"
    with image.open("wb") as f:
        f.truncate(64 << 20)
    subprocess.run(
        ["sfdisk", "--no-reread", "-q", str(image)], input=b"label: dos\nstart=2048, type=83\n", check=True
    )
    with attached(image) as (disk, part):
        subprocess.run(["mkfs.ext4", "-q", "-F", part], check=True)
        yield disk, part


def _head(device: str) -> bytes:
    with open(device, "rb") as f:
        return f.read(1 << 20)


def _mounts() -> list[str]:
    return Path("/proc/mounts").read_text().splitlines()


def test_words_in_both_languages() -> None:
    ex = BootRepairExecutor(enabled=True)
    params = RescueBootRepairParams(disk="/dev/sda", root="/dev/sda2")
    zh, en = ex.describe(params, "为什么", "zh-CN"), ex.describe(params, "why", "en")
    assert "/dev/sda" in zh.title and "GRUB" in zh.title and "（系统分区 /dev/sda2）" in zh.what
    assert (
        en.title == "Repair Linux start-up (reinstall GRUB): /dev/sda"
        and "(system partition /dev/sda2)" in en.what
    )
    assert zh.risk_level == en.risk_level == "medium"
    assert "/boot/rme-rescue-backup/" in en.undo and "/boot/rme-rescue-backup/" in zh.undo


def test_refused_outside_the_rescue_system_and_for_an_unknown_disk() -> None:
    params = RescueBootRepairParams(disk="/dev/nonexistent9")
    assert BootRepairExecutor(enabled=False).refusal(params) is NOT_RESCUE
    assert BootRepairExecutor(enabled=True).refusal(params) is T_UNKNOWN_DISK


def test_refused_for_a_root_elsewhere_and_a_mounted_partition(plain_disk: tuple[str, str]) -> None:
    disk, part = plain_disk
    ex = BootRepairExecutor(enabled=True)
    assert ex.refusal(RescueBootRepairParams(disk=disk)) is None
    assert ex.refusal(RescueBootRepairParams(disk=part)) is T_UNKNOWN_DISK  # a partition is not a disk
    assert ex.refusal(RescueBootRepairParams(disk=disk, root="/dev/sdz1")) is T_NOT_ON_DISK
    with tempfile.TemporaryDirectory() as point:
        subprocess.run(["mount", part, point], check=True)
        try:
            assert ex.refusal(RescueBootRepairParams(disk=disk)) is T_IN_USE
            with pytest.raises(bootrepair.Refused, match="mounted"):  # checked again when it runs
                bootrepair.repair(disk)
        finally:
            subprocess.run(["umount", point], check=True)


async def test_a_disk_without_linux_is_refused_and_left_alone(plain_disk: tuple[str, str]) -> None:
    disk, _part = plain_disk
    before = _head(disk)
    recorder = Recorder({"a1"})
    with pytest.raises(ActionFailed, match="no-linux"):
        await BootRepairExecutor(enabled=True).run(
            Job("a1", "s1", RescueBootRepairParams(disk=disk), recorder)
        )
    [(kind, template, _detail, fields)] = recorder.shown
    assert kind == "result" and template is REFUSED["no-linux"] and fields["what"] == disk
    assert "没有找到已安装的 Linux" in template.render("zh-CN", what=disk)
    assert _head(disk) == before  # no boot code written
    assert not any(disk in line for line in _mounts())  # every look-mount undone


def test_the_kill_switch_stops_a_running_step_and_the_rest() -> None:
    runner = bootrepair.Runner()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(runner.run(["sleep", "30"])))
    thread.start()
    while runner.current is None:
        time.sleep(0.01)
    started = time.monotonic()
    assert runner.stop()
    thread.join(5)
    assert time.monotonic() - started < 0.2 and result and result[0][0] != 0  # type: ignore[index]
    with pytest.raises(bootrepair.RepairFailed, match="stopped"):
        runner.run(["true"])
