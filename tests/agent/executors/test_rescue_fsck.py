"""The fsck executor's own decisions: exit codes read per tool, mounted partitions refused, nothing
outside the rescue system. (It runs for real in tests/rescue/test_rescue_boot.py.)"""

from __future__ import annotations

from pathlib import Path

from agent.executors.rescue_fsck import NOT_RESCUE, T_MOUNTED, FsckExecutor, is_mounted, verdict
from protocol.actions import RescueFsckParams


def test_exit_codes_per_tool() -> None:
    assert verdict("ext4", 0, False) == (True, False)
    assert verdict("ext4", 1, True) == (True, True)  # errors corrected
    assert verdict("ext4", 4, True) == (False, False)  # errors left
    assert verdict("ext4", 4, False) == (False, False)
    assert verdict("ntfs", 0, True) == (True, True)
    assert verdict("vfat", 1, False) == (False, False)


def test_mounted_partitions_are_found(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda1 / ext4 rw 0 0\n/dev/vda10 /x ext4 rw 0 0\n")
    assert is_mounted("/dev/vda1", mounts)
    assert not is_mounted("/dev/vda", mounts)
    assert not is_mounted("/dev/vda1", tmp_path / "missing")


def test_refused_outside_the_rescue_system_and_when_mounted() -> None:
    params = RescueFsckParams(device="/dev/nonexistent9")
    assert FsckExecutor(enabled=False).refusal(params) is NOT_RESCUE
    assert FsckExecutor(enabled=True).refusal(params) is None
    root = next(
        line.split()[0] for line in Path("/proc/mounts").read_text().splitlines() if line.split()[1] == "/"
    )
    if root.startswith("/dev/") and len(root) >= 6:
        assert FsckExecutor(enabled=True).refusal(RescueFsckParams(device=root)) is T_MOUNTED
