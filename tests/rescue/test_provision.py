"""The provisioning slot on its own: seal → find in an image → overwrite in place → open; a changed
byte, another key, an empty slot, two slots — each refused with its own error."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rescue.provision import (
    MAGIC,
    SECTOR,
    SLOT_SIZE,
    BadSignature,
    Provision,
    ProvisionError,
    SlotEmpty,
    empty_slot,
    find_slot,
    load_public_key,
    open_slot,
    public_key_hex,
    seal,
    write_slot,
)

PROVISION = Provision("wss://10.0.2.100:8443", "-----BEGIN CERTIFICATE-----\n", "cust-1", "code", 2000, 1000)


def _image(tmp: Path, at_sector: int = 37, junk: bytes = b"") -> Path:
    image = tmp / "base.iso"
    data = bytearray(b"\x5a" * (SECTOR * 80))
    data[100 : 100 + len(MAGIC)] = MAGIC  # not sector-aligned: compressed data may hold it by chance
    start = at_sector * SECTOR
    data[start : start + SLOT_SIZE] = empty_slot()
    image.write_bytes(bytes(data) + junk)
    return image


def test_sealed_blob_round_trips_through_an_image(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    image = _image(tmp_path)
    before = image.read_bytes()
    offset = write_slot(image, seal(PROVISION, key))
    after = image.read_bytes()
    assert offset == 37 * SECTOR and len(after) == len(before)
    assert after[:offset] == before[:offset] and after[offset + SLOT_SIZE :] == before[offset + SLOT_SIZE :]
    got = open_slot(after[offset : offset + SLOT_SIZE], load_public_key(public_key_hex(key)))
    assert got == PROVISION
    assert got.expired(now=2000) and not got.expired(now=1999)


def test_a_changed_byte_or_another_key_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    blob = bytearray(seal(PROVISION, key))
    with pytest.raises(BadSignature):
        open_slot(bytes(blob), Ed25519PrivateKey.generate().public_key())
    i = blob.index(b"cust-1")
    blob[i] = ord("C")
    with pytest.raises(BadSignature):
        open_slot(bytes(blob), key.public_key())


def test_empty_and_malformed_slots() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SlotEmpty):
        open_slot(empty_slot(), key)
    with pytest.raises(ProvisionError):
        open_slot(b"not a slot" * 10, key)
    with pytest.raises(ProvisionError):
        load_public_key("zz")


def test_an_image_needs_exactly_one_slot(tmp_path: Path) -> None:
    plain = tmp_path / "plain.iso"
    plain.write_bytes(b"\0" * SECTOR * 4)
    with pytest.raises(ProvisionError, match="found 0"):
        find_slot(plain)
    two = _image(tmp_path, junk=empty_slot())  # appended at a sector boundary
    with pytest.raises(ProvisionError, match="found 2"):
        find_slot(two)


def test_a_blob_too_large_for_the_slot_is_refused() -> None:
    big = Provision("wss://x:1", "x" * SLOT_SIZE, "c", "code", 2, 1)
    with pytest.raises(ProvisionError, match="does not fit"):
        seal(big, Ed25519PrivateKey.generate())
