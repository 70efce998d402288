"""The receiver on its own: order, size, hash, no overwrite, no partial file after any failure."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from agent.inbox import Inbox, InboxError
from protocol.codec import FileChunk


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_whole_file_lands_atomically_without_exec_bits(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "in", max_size=1 << 20)
    data = os.urandom(300_000)
    pending = inbox.begin("a1", "tool.exe", len(data), sha(data))
    assert pending.write(FileChunk("a1", 0, data[:100_000])) is None
    assert not (inbox.directory / "tool.exe").exists()  # nothing under the final name before the end
    assert pending.write(FileChunk("a1", 100_000, data[100_000:], last=True)) == "tool.exe"
    saved = inbox.directory / "tool.exe"
    assert saved.read_bytes() == data
    assert not saved.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert sorted(p.name for p in inbox.directory.iterdir()) == ["tool.exe"]


def test_never_overwrites(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, max_size=1000)
    (tmp_path / "a.txt").write_text("mine")
    for n, payload in enumerate([b"one", b"two"]):
        pending = inbox.begin(f"id{n}", "a.txt", len(payload), sha(payload))
        pending.write(FileChunk(f"id{n}", 0, payload, last=True))
    assert (tmp_path / "a.txt").read_text() == "mine"
    assert (tmp_path / "a (1).txt").read_bytes() == b"one"
    assert (tmp_path / "a (2).txt").read_bytes() == b"two"


@pytest.mark.parametrize(
    ("chunks", "code"),
    [
        ([FileChunk("x", 0, b"abce", last=True)], "hash_mismatch"),
        ([FileChunk("x", 3, b"abc")], "out_of_order"),
        ([FileChunk("x", 0, b"abcdefgh")], "too_long"),
        ([FileChunk("x", 0, b"ab", last=True)], "too_short"),
        ([FileChunk("x", 0, b"ab"), FileChunk("x", 0, b"ab")], "out_of_order"),
    ],
)
def test_bad_streams_leave_nothing(tmp_path: Path, chunks: list[FileChunk], code: str) -> None:
    inbox = Inbox(tmp_path, max_size=1000)
    pending = inbox.begin("x", "f.bin", 4, sha(b"abcd"))
    with pytest.raises(InboxError) as caught:
        for chunk in chunks:
            pending.write(chunk)
    assert caught.value.code == code
    assert list(tmp_path.iterdir()) == []


def test_limits_checked_first(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "in", max_size=10)
    with pytest.raises(InboxError) as caught:
        inbox.check(11)
    assert caught.value.code == "too_large"
    huge = Inbox(tmp_path / "in", max_size=1 << 62)
    with pytest.raises(InboxError) as caught:
        huge.check(1 << 61)
    assert caught.value.code == "disk_full"


def test_abort_and_crash_leftovers(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, max_size=100)
    pending = inbox.begin("x", "f", 10, sha(b"0123456789"))
    pending.write(FileChunk("x", 0, b"01234"))
    pending.abort()
    assert list(tmp_path.iterdir()) == []
    inbox.begin("y", "g", 10, sha(b"0123456789"))  # a "crash": never finished nor aborted
    (tmp_path / "keep.txt").write_text("user file")
    assert inbox.clean_partials() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_duplicate_action_id_refused(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, max_size=100)
    inbox.begin("x", "f", 1, sha(b"a"))
    with pytest.raises(InboxError) as caught:
        inbox.begin("x", "g", 1, sha(b"a"))
    assert caught.value.code == "duplicate"
