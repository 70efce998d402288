"""`durable.remove_tree`: deletes a whole tree entry by entry, never following a link out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.vault.durable import remove_tree


@pytest.mark.parametrize("crash_name", [None, "test.remove"])
def test_removes_nested_tree_and_leaves_link_targets_alone(tmp_path: Path, crash_name: str | None) -> None:
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "file").write_bytes(b"stays")
    tree = tmp_path / "tree"
    for i in range(30):
        folder = tree / f"d{i % 4}" / f"sub{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}").write_bytes(os.urandom(i * 100))
    (tree / "empty-dir").mkdir()
    (tree / "link-to-dir").symlink_to(outside / "keep")
    (tree / "d0" / "link-to-file").symlink_to(outside / "keep" / "file")
    (tree / "d1" / "dangling").symlink_to(tmp_path / "nowhere")
    remove_tree(tree, crash_name=crash_name)
    assert not os.path.lexists(tree)
    assert (outside / "keep" / "file").read_bytes() == b"stays"


def test_missing_tree_and_single_file(tmp_path: Path) -> None:
    remove_tree(tmp_path / "absent", crash_name="test.remove")  # nothing to do, no error
    (tmp_path / "file").write_bytes(b"x")
    remove_tree(tmp_path / "file", crash_name="test.remove")
    assert list(tmp_path.iterdir()) == []
