"""Data rescue's copy core on real files: every file copied and verified, symlinks not followed,
folders outside the disk refused, a cancel leaves no half file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from agent.rescue import copying


def _tree(root: Path) -> None:
    (root / "docs/sub").mkdir(parents=True)
    (root / "docs/a.txt").write_bytes(b"a" * 10)
    (root / "docs/sub/b.bin").write_bytes(os.urandom(3 << 20))
    (root / "docs/empty").write_bytes(b"")
    (root / "secret.txt").write_text("outside the chosen folder")
    (root / "docs/link").symlink_to(root / "secret.txt")


def test_copies_and_verifies_every_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    pairs, total = copying.plan(src, ["docs"])
    assert total == 10 + (3 << 20)
    seen: list[int] = []
    tally = copying.copy_tree(pairs, dst / "out", threading.Event(), seen.append)
    assert (tally.files, tally.verified, tally.failed) == (3, 3, 0)
    assert sum(seen) == total
    for rel in ("docs/a.txt", "docs/sub/b.bin", "docs/empty"):
        assert (dst / "out" / rel).read_bytes() == (src / rel).read_bytes()
    assert not (dst / "out/docs/link").exists()  # a link is not followed out of the folder


@pytest.mark.parametrize("folder", ["../etc", "/", "", "docs/../..", "missing"])
def test_folders_outside_the_disk_are_refused(tmp_path: Path, folder: str) -> None:
    _tree(tmp_path / "src")
    with pytest.raises(copying.CopyError):
        copying.plan(tmp_path / "src", [folder])


def test_cancel_deletes_the_partial_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    pairs, _ = copying.plan(src, ["docs/sub"])
    cancel = threading.Event()

    def on_bytes(_n: int) -> None:
        cancel.set()

    with pytest.raises(copying.Cancelled):
        copying.copy_tree(pairs, dst, cancel, on_bytes)
    assert [p for p in dst.rglob("*") if p.is_file()] == []
