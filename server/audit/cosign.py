"""Witness cosignatures (C2SP tlog-cosignature, Ed25519 `cosignature/v1`) — pure code.

A witness cosigns a checkpoint by signing

    cosignature/v1\\n
    time <POSIX seconds>\\n
    <the checkpoint's note body, final newline included>

with its own Ed25519 key, and returns one signed-note line:
"— <witness name> base64(key ID[4] || timestamp u64 big-endian || signature[64])", where
key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4]. The 0x04 (not the log's 0x01) keeps a
witness key from ever being taken for a log key. A cosignature says: "as of `time`, this is the
largest tree of this log I have seen, and it is consistent with every earlier one I saw".

Verifier keys travel as vkeys, like the log's: "<name>+<hex key ID>+<base64(0x04 || public key)>".
On disk the witness keeps "PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>".
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from server.audit.note import NoteError, check_key_name, decode_b64, split_note

__all__ = [
    "ALG_COSIGNATURE_V1",
    "Cosignature",
    "CosignerKey",
    "WitnessVerifier",
    "cosigned_message",
    "find_cosignatures",
]

ALG_COSIGNATURE_V1 = 0x04
_SIG_PREFIX = "\u2014 "
_MAX_TIMESTAMP = 2**63 - 1


def _key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a `cosignature/v1` signs for checkpoint note body `body` at `timestamp`."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True, slots=True)
class WitnessVerifier:
    """A witness's public key: whose cosignatures to believe."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> WitnessVerifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a witness key is <name>+<hex key id>+<base64 key>")
        name, id_hex, key_b64 = parts
        check_key_name(name)
        if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
            raise NoteError("witness key id must be 8 lowercase hex digits")
        raw = decode_b64(key_b64, "witness key")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise NoteError("witness key is not a cosignature/v1 Ed25519 key (0x04 || 32 bytes)")
        if bytes.fromhex(id_hex) != _key_id(name, raw[1:]):
            raise NoteError("witness key id does not match its name and key")
        return cls(name, bytes.fromhex(id_hex), raw[1:])

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, body: str, timestamp: int, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature, cosigned_message(body, timestamp)
            )
        except InvalidSignature:
            return False
        return True


class CosignerKey:
    """A witness's signing key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = WitnessVerifier(name, _key_id(name, public), public)

    @classmethod
    def generate(cls, name: str) -> CosignerKey:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> CosignerKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a witness signing key is PRIVATE+KEY+<name>+<hex key id>+<base64 key>")
        name, id_hex, key_b64 = parts[2:]
        raw = decode_b64(key_b64, "witness signing key")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise NoteError("witness signing key is not a cosignature/v1 Ed25519 key (0x04 || seed)")
        key = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if key.verifier.key_id.hex() != id_hex:
            raise NoteError("witness signing key id does not match its name and key")
        return key

    def to_text(self) -> str:
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> CosignerKey:
        """The key in `path` (mode 0600), created there on first use."""
        if path.exists():
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise NoteError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
            return cls.parse(path.read_text(encoding="ascii"))
        path.parent.mkdir(parents=True, exist_ok=True)
        key = cls.generate(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.to_text() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return key

    def cosign(self, body: str, timestamp: int | None = None) -> str:
        """One signature line cosigning checkpoint note body `body`."""
        moment = int(time.time()) if timestamp is None else timestamp
        if not 0 <= moment <= _MAX_TIMESTAMP:
            raise NoteError("cosignature timestamp out of range")
        signature = self._key.sign(cosigned_message(body, moment))
        raw = self.verifier.key_id + moment.to_bytes(8, "big") + signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: who, when, and its signature line."""

    witness: str
    timestamp: int
    line: str


def find_cosignatures(note: str, witnesses: list[WitnessVerifier]) -> list[Cosignature]:
    """The valid cosignatures in `note` by any of `witnesses`; other lines are ignored.

    A line that claims a listed witness's name and key id but does not verify raises `NoteError`:
    it is a forgery, not a stranger's signature.
    """
    body, lines = split_note(note)
    found: list[Cosignature] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError(f"malformed signature line {line!r}")
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        for witness in witnesses:
            if name != witness.name:
                continue
            raw = decode_b64(encoded, "cosignature")
            if len(raw) != 4 + 8 + 64 or raw[:4] != witness.key_id:
                continue
            timestamp = int.from_bytes(raw[4:12], "big")
            if timestamp > _MAX_TIMESTAMP or not witness.verify(body, timestamp, raw[12:]):
                raise NoteError(f"cosignature by {name} does not verify")
            found.append(Cosignature(name, timestamp, line + "\n"))
    return found
