"""Packs are padded to size buckets: the store no longer tells how many small files a folder has."""

from __future__ import annotations

import os
from pathlib import Path

from agent.vault.generation import PACK_MEMBER_MAX, PAD_MIN_STEP, padded_size
from agent.vault.metadata import Layout
from tests.agent.vault.helpers import PASSPHRASE, fast_vault


def pack_sizes(data: Path, name: str) -> list[int]:
    meta = Layout(data).load()
    assert meta is not None
    folder = meta.by_name(name)
    assert folder is not None and folder.generation
    gen = data / "vault" / "store" / folder.generation
    return sorted(p.stat().st_size for p in gen.iterdir() if p.name not in ("key", "manifest"))


def test_the_same_bytes_in_more_files_make_the_same_store(tmp_path: Path) -> None:
    """Before padding, pack size - plaintext = 48 bytes x the number of files, exactly."""
    vault = fast_vault(tmp_path / "data")
    for name, count in (("Few", 10), ("Many", 40)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(count):
            (folder / f"f{i}").write_bytes(os.urandom(40_000 // count))
        vault.add(folder, name=name)
    few, many = pack_sizes(tmp_path / "data", "Few"), pack_sizes(tmp_path / "data", "Many")
    assert few == many == [PAD_MIN_STEP]
    opened = vault.open(PASSPHRASE)
    assert sorted(len(list(r.path.iterdir())) for r in opened) == [10, 40]


def test_bucket_sizes() -> None:
    assert (
        padded_size(0) == 0 and padded_size(1) == PAD_MIN_STEP and padded_size(PAD_MIN_STEP) == PAD_MIN_STEP
    )
    for length in (PAD_MIN_STEP + 1, 3 * 2**20 + 5, 8 * 2**20 + 48 * 300, 9 * 2**20 - 1):
        padded = padded_size(length)
        step = max(PAD_MIN_STEP, 2 ** (length.bit_length() - 4))
        assert length <= padded < length + step and padded % step == 0
        assert padded - length < max(PAD_MIN_STEP, length // 8)  # at most 1/8 (1/16 of the bucket's top)
    # A full pack hides up to ~21,000 files' worth of headers: far more than a pack holds.
    assert (padded_size(8 * 2**20 + 1) - (8 * 2**20 + 1)) // 48 > 10_000


def test_big_files_are_not_padded(tmp_path: Path) -> None:
    folder = tmp_path / "Big"
    folder.mkdir()
    (folder / "big").write_bytes(os.urandom(PACK_MEMBER_MAX + 1))
    fast_vault(tmp_path / "data").add(folder)
    assert pack_sizes(tmp_path / "data", "Big") == [32 + PACK_MEMBER_MAX + 1 + 16]
