"""The provisioning slot: a fixed-size, signed blob inside the rescue ISO — pure code.

The base ISO carries `rme/provision.slot`, SLOT_SIZE bytes that start with MAGIC and are otherwise
empty. ISO 9660 stores a file's bytes contiguously and uncompressed, starting on a 2048-byte sector, so
a per-customer image is the base image with those bytes overwritten in place (`write_slot`): no rebuild,
and the image's size and every other byte stay the same.

Slot layout (big-endian):  MAGIC (32) | body length (4) | signature length (4) | body | signature | zeros
The body is canonical JSON (`Provision`); the signature is Ed25519 over CONTEXT + body, by the server's
rescue key whose public half the base image carries (`rme/rescue-signing.pub` in the agent layer).
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MAGIC = b"RME-RESCUE-PROVISION-SLOT/v1" + b"\x00" * 4
SLOT_SIZE = 16384
SECTOR = 2048
CONTEXT = b"rme-rescue-provision-v1\n"
_HEADER = struct.Struct(">II")


class ProvisionError(ValueError):
    """The slot is missing, empty, malformed, or its signature does not verify."""


class SlotEmpty(ProvisionError):
    """A base image: nobody has issued it to a customer yet."""


class BadSignature(ProvisionError):
    """The blob was not signed by this image's server key (changed or forged)."""


@dataclass(frozen=True)
class Provision:
    server: str  # wss://host:port as the rescued PC reaches it
    ca_pem: str  # the operator's CA: the only one the rescue agent trusts (the pin)
    customer: str
    code: str  # single-use enrollment code
    expires_at: int  # UNIX seconds
    issued_at: int

    def body(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


def empty_slot() -> bytes:
    return MAGIC + _HEADER.pack(0, 0) + b"\x00" * (SLOT_SIZE - len(MAGIC) - _HEADER.size)


def seal(provision: Provision, key: Ed25519PrivateKey) -> bytes:
    body = provision.body()
    signature = key.sign(CONTEXT + body)
    blob = MAGIC + _HEADER.pack(len(body), len(signature)) + body + signature
    if len(blob) > SLOT_SIZE:
        raise ProvisionError(f"the provisioning blob ({len(blob)} bytes) does not fit the slot ({SLOT_SIZE})")
    return blob + b"\x00" * (SLOT_SIZE - len(blob))


def open_slot(slot: bytes, public_key: Ed25519PublicKey) -> Provision:
    """The verified provision, or ProvisionError saying why not."""
    if len(slot) < len(MAGIC) + _HEADER.size or not slot.startswith(MAGIC):
        raise ProvisionError("no provisioning slot (this is not an RME rescue image)")
    body_len, sig_len = _HEADER.unpack_from(slot, len(MAGIC))
    if body_len == 0:
        raise SlotEmpty("this image was not issued to a customer")
    start = len(MAGIC) + _HEADER.size
    if sig_len != 64 or start + body_len + sig_len > len(slot):
        raise ProvisionError("the provisioning blob is malformed")
    body = slot[start : start + body_len]
    signature = slot[start + body_len : start + body_len + sig_len]
    try:
        public_key.verify(signature, CONTEXT + body)
    except InvalidSignature:
        raise BadSignature("the provisioning blob's signature does not verify") from None
    try:
        doc = json.loads(body)
        return Provision(**{k: doc[k] for k in Provision.__dataclass_fields__})
    except (ValueError, KeyError, TypeError) as exc:
        raise ProvisionError(f"the provisioning blob is malformed: {exc}") from None


def find_slot(image: Path) -> int:
    """The byte offset of the slot in an ISO: the one sector-aligned MAGIC."""
    found: list[int] = []
    chunk = 1 << 22
    with image.open("rb") as f:
        offset = 0
        while block := f.read(chunk):
            pos = block.find(MAGIC)
            while pos != -1:
                if (offset + pos) % SECTOR == 0:
                    found.append(offset + pos)
                pos = block.find(MAGIC, pos + 1)
            offset += len(block)
            if len(block) == chunk:  # a marker across the chunk edge starts in the next read
                f.seek(offset - len(MAGIC))
                offset -= len(MAGIC)
    found = sorted(set(found))
    if len(found) != 1:
        raise ProvisionError(f"expected one provisioning slot in {image}, found {len(found)}")
    return found[0]


def write_slot(image: Path, blob: bytes) -> int:
    """Overwrite the slot of `image` (a copy of the base image) in place; returns its offset."""
    if len(blob) != SLOT_SIZE or not blob.startswith(MAGIC):
        raise ProvisionError("not a sealed slot")
    offset = find_slot(image)
    with image.open("r+b") as f:
        f.seek(offset)
        f.write(blob)
    return offset


def issued_chunks(base: Path, offset: int, blob: bytes, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The base image's bytes with the slot at `offset` replaced by `blob`: a per-customer image
    streamed without a copy on disk (the same bytes `write_slot` on a copy gives)."""
    if len(blob) != SLOT_SIZE or not blob.startswith(MAGIC):
        raise ProvisionError("not a sealed slot")
    end = offset + SLOT_SIZE
    with base.open("rb") as f:
        position = 0
        while block := f.read(chunk):
            block_end = position + len(block)
            if position < end and block_end > offset:
                lo, hi = max(offset, position), min(end, block_end)
                block = block[: lo - position] + blob[lo - offset : hi - offset] + block[hi - position :]
            yield block
            position = block_end


def public_key_hex(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def load_public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.strip()))
    except ValueError as exc:
        raise ProvisionError(f"not an Ed25519 public key: {exc}") from None
