"""Manifests can only name things inside their folder; the walk never follows links."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.vault.errors import CorruptBlob
from agent.vault.tree import manifest_bytes, parse_manifest, root_entry, safe_relative, scan


@pytest.mark.parametrize("evil", ["../x", "a/../../x", "/etc/passwd", "", "a//b", "./a", "a/"])
def test_unsafe_manifest_paths_are_rejected(evil: str) -> None:
    with pytest.raises(CorruptBlob):
        safe_relative(evil)


def test_scan_lists_links_as_links_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"abc")
    (tmp_path / "out").symlink_to("/etc")
    entries = scan(tmp_path, tmp_path)
    kinds = {e.path: e.kind for e in entries}
    assert kinds == {"d": "dir", "d/f": "file", "out": "link"}
    assert next(e for e in entries if e.path == "out").target == "/etc"
    root, again = parse_manifest(manifest_bytes(root_entry(tmp_path), entries))
    assert [e.to_json() for e in again] == [{**e.to_json(), "b": "", "n": 0} for e in entries]
    assert root.mode == root_entry(tmp_path).mode


def test_manifest_from_before_tag_only_verification_still_parses() -> None:
    """Manifests written before the SHA-256 was dropped carry an "h" per entry; it is ignored."""
    old = b'{"root": {"m": 448, "t": 1}, "entries": [{"p": "f", "k": "file", "m": 384, "t": 2, "s": 3, '
    old += b'"b": "ab", "n": 1, "h": "00", "l": ""}]}'
    _root, entries = parse_manifest(old)
    assert [(e.path, e.size, e.number, e.offset) for e in entries] == [("f", 3, 1, 0)]  # no pack then


def test_negative_offset_is_corrupt() -> None:
    doc = b'{"root": {"m": 448, "t": 1}, "entries": [{"p": "f", "k": "file", "m": 384, "t": 2, "s": 3, '
    doc += b'"b": "ab", "n": 1, "o": -32, "l": ""}]}'
    with pytest.raises(CorruptBlob, match="offset"):
        parse_manifest(doc)


def test_garbage_manifest_is_corrupt() -> None:
    with pytest.raises(CorruptBlob):
        parse_manifest(b"{not json")
    with pytest.raises(CorruptBlob):
        parse_manifest(b'{"root": {"m": 1, "t": 1}, "entries": [{"p": "x", "k": "fifo"}]}')
