"""`bench._loopfs`: a journaled ext4 on a loop device comes up writable, and nothing is left after."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench._loopfs import describe, journaled_ext4, missing
from tests.lab.managed import require


@pytest.fixture(autouse=True)
def _need_loop() -> None:
    require(missing())


def loops_backed_by(path: Path) -> str:
    return subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True, check=True).stdout


def test_mounts_a_journaled_ext4_and_removes_it(tmp_path: Path) -> None:
    with journaled_ext4(64, backing_dir=tmp_path) as mount_point:
        assert describe(mount_point).startswith("ext4 with a journal")
        (mount_point / "file").write_bytes(b"x" * 100_000)
        [image] = list(tmp_path.glob("rme-loopfs-*/fs.img"))
        assert loops_backed_by(image)
    assert not mount_point.exists() and list(tmp_path.iterdir()) == []
    assert not loops_backed_by(image)


def test_is_removed_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), journaled_ext4(64, backing_dir=tmp_path):
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
