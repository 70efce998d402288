"""A per-customer image streamed from the base image (the console's download): the same bytes as
`write_slot` on a copy, whatever the chunk size and wherever the slot falls against chunk edges."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rescue.provision import (
    SECTOR,
    SLOT_SIZE,
    ProvisionError,
    empty_slot,
    find_slot,
    issued_chunks,
    seal,
    write_slot,
)
from tests.rescue.test_provision import PROVISION


def test_streamed_image_equals_the_copy_written_in_place(tmp_path: Path) -> None:
    base = tmp_path / "base.iso"
    data = bytearray(bytes(range(251)) * (SECTOR * 60 // 251 + 1))
    start = 23 * SECTOR
    data[start : start + SLOT_SIZE] = empty_slot()
    base.write_bytes(bytes(data))
    blob = seal(PROVISION, Ed25519PrivateKey.generate())
    copy = tmp_path / "copy.iso"
    shutil.copyfile(base, copy)
    offset = write_slot(copy, blob)
    assert offset == find_slot(base) == start
    for chunk in (1000, SECTOR, 4096, 7 * 1024 + 3, SLOT_SIZE, 1 << 20):
        assert b"".join(issued_chunks(base, offset, blob, chunk)) == copy.read_bytes(), chunk
    assert base.read_bytes() == bytes(data)  # the base image is untouched
    with pytest.raises(ProvisionError, match="not a sealed slot"):
        list(issued_chunks(base, offset, b"x" * SLOT_SIZE))
